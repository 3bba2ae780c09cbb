"""ONNX Runtime sessions that can run roipool's custom ops (domain ``roipool``).

``libroipool_ort.so`` is loaded into a session through
``SessionOptions.register_custom_ops_library``; it needs no ONNX Runtime at build time
beyond the headers and works with any ``onnxruntime`` >= 1.21.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from roipool._libs import ORT_LIBRARY, require_library

if TYPE_CHECKING:
    import onnxruntime

__all__ = ["create_session", "ort_library_path"]


def ort_library_path() -> str:
    """Path of ``libroipool_ort.so``; raises ``FileNotFoundError`` when it was not built."""
    return str(require_library(ORT_LIBRARY))


def _copy_options(
    options: onnxruntime.SessionOptions | None, config_entries: Mapping[str, str] | None
) -> onnxruntime.SessionOptions:
    """A fresh ``SessionOptions`` with every property of ``options`` that has a getter and
    a setter (threads, optimisation level, profiling, logging, ...), plus ``config_entries``."""
    import onnxruntime

    copy = onnxruntime.SessionOptions()
    if options is not None:
        cls = type(options)
        for name in dir(cls):
            attribute = getattr(cls, name, None)
            if isinstance(attribute, property) and attribute.fset is not None:
                setattr(copy, name, getattr(options, name))
    for key, value in (config_entries or {}).items():
        copy.add_session_config_entry(key, value)
    return copy


def create_session(
    model: str | bytes | os.PathLike[str],
    providers: Sequence[str] | None = None,
    session_options: onnxruntime.SessionOptions | None = None,
    *,
    config_entries: Mapping[str, str] | None = None,
) -> onnxruntime.InferenceSession:
    """An ``onnxruntime.InferenceSession`` for ``model`` with roipool's ops registered.

    ``model`` is a file path or serialized ONNX bytes. ``providers`` defaults to
    ``["CPUExecutionProvider"]``. ``session_options`` is never modified: the session gets
    a copy of its properties (threads, optimisation level, execution mode, profiling,
    logging, memory flags) with roipool's library registered, so the same options can be
    passed again. State that ``SessionOptions`` cannot read back (session config entries,
    initializers, other custom-op libraries) is not copied: pass config entries as
    ``config_entries``. Attribute errors in roipool nodes surface here, when the session
    creates its kernels. With ``onnx`` installed, an attribute a roipool or alias node
    does not define is first reported as a ValueError naming node and attribute: the
    complete form of the check the kernels can only make for likely names
    (docs/onnxruntime.md).
    """
    import onnxruntime

    _check_attributes(model)
    options = _copy_options(session_options, config_entries)
    options.register_custom_ops_library(ort_library_path())
    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    return onnxruntime.InferenceSession(
        model, sess_options=options, providers=list(providers or ["CPUExecutionProvider"])
    )


def _check_attributes(model: str | bytes | os.PathLike[str]) -> None:
    try:
        import onnx
    except ImportError:
        return
    from roipool import _schema

    if not _schema.available():
        return
    if isinstance(model, bytes):
        proto = onnx.ModelProto.FromString(model)
    else:
        proto = onnx.load(os.fspath(model), load_external_data=False)
    _schema.check_node_attributes(proto)
