"""ONNX Runtime sessions that can run roipool's custom ops (domain ``roipool``).

``libroipool_ort.so`` is loaded into a session through
``SessionOptions.register_custom_ops_library``; it needs no ONNX Runtime at build time
beyond the headers and works with any ``onnxruntime`` >= 1.21.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from roipool._libs import ORT_LIBRARY, require_library

if TYPE_CHECKING:
    import onnxruntime

__all__ = ["create_session", "ort_library_path"]


def ort_library_path() -> str:
    """Path of ``libroipool_ort.so``; raises ``FileNotFoundError`` when it was not built."""
    return str(require_library(ORT_LIBRARY))


def create_session(
    model: str | bytes | os.PathLike[str],
    providers: Sequence[str] | None = None,
    session_options: onnxruntime.SessionOptions | None = None,
) -> onnxruntime.InferenceSession:
    """An ``onnxruntime.InferenceSession`` for ``model`` with roipool's ops registered.

    ``model`` is a file path or serialized ONNX bytes. ``providers`` defaults to
    ``["CPUExecutionProvider"]``. ``session_options`` (optional) gets the library
    registered in place. Attribute errors in roipool nodes surface here, when the
    session creates its kernels. With ``onnx`` installed, an attribute a roipool or alias
    node does not define is first reported as a ValueError naming node and attribute:
    the complete form of the check the kernels can only make for likely names
    (docs/onnxruntime.md).
    """
    import onnxruntime

    _check_attributes(model)

    options = session_options if session_options is not None else onnxruntime.SessionOptions()
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
