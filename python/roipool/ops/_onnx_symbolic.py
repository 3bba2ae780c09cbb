"""Plain ``torch.onnx.export`` support, registered when :mod:`roipool.ops` is imported.

Both exporters then write every ``torch.ops.roipool.<op>`` as its ``roipool``-domain node
without any roipool-specific argument:

- dynamo (``torch.export`` + onnxscript): a decomposition of each op in torch's global
  decomposition table, which the ONNX exporter applies to the ops it has no translation
  for (so ``custom_translation_table`` entries still win). While an ONNX export records
  its graph it rewrites the op as ``torch.onnx.ops.symbolic`` (the node, output
  ``[K, C_out, ph, pw]`` with ``K`` symbolic); in any other decomposition pass it declines
  (``NotImplemented``) and the op stays; FakeTensorMode, which asks the table of every op
  on symbolic shapes for its output, gets the op's fake result, and a plain call runs
  the op. This also covers an
  ``ExportedProgram`` made by the user and passed to ``torch.onnx.export``. Needs
  ``torch.onnx.ops`` (torch >= 2.8); without it only :func:`roipool.export.export_onnx`
  exports.
- TorchScript (``dynamo=False``): a symbolic function per op
  (``torch.onnx.register_custom_op_symbolic``).

This module imports only torch: the node contract and the node builders live in
:mod:`roipool.export` (which needs onnx / onnxscript) and are imported when a node is
actually written, i.e. during an export.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

import torch

#: The ``torch.ops.roipool`` ops with an ONNX node (``roipool.export.OP_NAMES``; a test
#: keeps the two equal).
OP_NAMES = ("roi_pool", "roi_align", "roi_warp", "ps_roi_pool", "ps_roi_align",
            "deform_roi_pool", "multi_scale_roi_align", "roi_align_rotated", "prroi_pool")

#: False while :func:`roipool.export.export_onnx` runs its own translation table.
_rewrite_enabled = contextvars.ContextVar("roipool_onnx_rewrite", default=True)


def has_symbolic_op() -> bool:
    """True when torch provides ``torch.onnx.ops.symbolic`` (old releases do not)."""
    try:
        from torch.onnx import ops as onnx_ops
    except ImportError:
        return False
    return hasattr(onnx_ops, "symbolic")


@contextlib.contextmanager
def rewrite_disabled() -> Iterator[None]:
    """Within the block the dynamo decomposition declines, so a
    ``custom_translation_table`` given to the export sees the roipool ops themselves."""
    token = _rewrite_enabled.set(False)
    try:
        yield
    finally:
        _rewrite_enabled.reset(token)


def _decomposition(name: str) -> Callable[..., Any]:
    op = getattr(torch.ops.roipool, name).default

    def decompose(*args: Any, **kwargs: Any) -> Any:
        modes = torch._C._TorchDispatchModeKey
        if torch._C._get_dispatch_mode(modes.PROXY) is None:  # no graph being recorded
            if torch._C._get_dispatch_mode(modes.FAKE) is None:
                return op(*args, **kwargs)
            # FakeTensorMode runs the decomposition of any op on symbolic shapes to get
            # its output: give it the op's own fake result.
            kernel = torch._library.simple_registry.singleton.find(op.name()).fake_impl.kernel
            return kernel(*args, **kwargs)
        if not (_rewrite_enabled.get() and torch.onnx.is_in_onnx_export()):
            return NotImplemented  # a decomposition pass other than ONNX's: keep the op
        from roipool.export import _symbolic_node

        return _symbolic_node.emit(name, args, kwargs)

    decompose.__name__ = f"roipool_{name}_to_onnx"
    return decompose


def _torchscript_symbolic(name: str) -> Callable[..., Any]:
    def symbolic(g: Any, *args: Any) -> Any:
        from roipool.export import _torchscript

        return _torchscript.symbolic(name, g, *args)

    symbolic.__name__ = f"roipool_{name}_symbolic"
    return symbolic


def register() -> None:
    """Register both exporters' hooks for every op in :data:`OP_NAMES` (the ops must be
    defined already). Re-registering replaces the previous hooks."""
    from torch._decomp import register_decomposition

    rewrite = has_symbolic_op()
    register_symbolic = getattr(torch.onnx, "register_custom_op_symbolic", None)
    for name in OP_NAMES:
        op = getattr(torch.ops.roipool, name).default
        if rewrite:
            torch._decomp.decomposition_table.pop(op, None)
            register_decomposition(op)(_decomposition(name))
        if register_symbolic is not None:
            register_symbolic(f"roipool::{name}", _torchscript_symbolic(name), 1)
