"""TorchScript exporter support (``torch.onnx.export(..., dynamo=False)``): the symbolic
function of every ``roipool::<op>`` custom op (registered by
:mod:`roipool.ops._onnx_symbolic` when roipool.ops is imported)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.onnx import symbolic_helper

from roipool.export import _nodes
from roipool.export._contract import (
    ATTRIBUTE_TYPES,
    CONTRACTS,
    OpContract,
    output_channels,
)

_DESCRIPTORS = {"int": "i", "float": "f", "string": "s", "floats": "fs"}
_SUFFIXES = {int: "i", float: "f", str: "s"}

#: Whether the symbolics write standard ONNX where exact (``standard_ops``).
_standard_ops = False


class _TorchScriptBuilder:
    """GraphBuilder over the TorchScript exporter's graph context."""

    def __init__(self, g: Any) -> None:
        self._g = g

    def node(self, op_type: str, inputs: Sequence[Any], attrs: dict[str, Any],
             domain: str = "") -> Any:
        kwargs = {f"{name}_{_suffix(value)}": value for name, value in attrs.items()}
        values = [self._absent() if value is None else value for value in inputs]
        return self._g.op(f"{domain}::{op_type}" if domain else op_type, *values, **kwargs)

    def int64s(self, values: Sequence[int]) -> Any:
        return self._g.op("Constant", value_t=torch.tensor(list(values), dtype=torch.int64))

    def _absent(self) -> Any:
        # A None-valued prim::Constant is written as an empty input name (ONNX "absent").
        return self._g.op("prim::Constant").setType(torch._C.OptionalType.ofTensor())


def _suffix(value: Any) -> str:
    sample = value[0] if isinstance(value, (list, tuple)) and value else value
    return _SUFFIXES[type(sample)]


def symbolic(name: str, g: Any, *args: Any) -> Any:
    """The node(s) of ``torch.ops.roipool.<name>`` in the TorchScript exporter's graph `g`
    (the symbolic function :mod:`roipool.ops._onnx_symbolic` registers for each op)."""
    contract = CONTRACTS[name]
    count = len(contract.tensor_args)
    tensors: list[Any] = []
    for arg, value in zip(contract.tensor_args, args[:count], strict=True):
        if arg == "features":
            tensors.extend(symbolic_helper._unpack_list(value))
        else:
            tensors.append(None if symbolic_helper._is_none(value) else value)
    values = [symbolic_helper._get_const(value, _DESCRIPTORS[ATTRIBUTE_TYPES[attr]], attr)
              for attr, value in zip(contract.attributes, args[count:], strict=True)]
    attrs = contract.node_attributes(values)
    output = _nodes.emit(_TorchScriptBuilder(g), contract, tensors, attrs,
                         standard_ops=_standard_ops, opset=g.opset)
    return output.setType(_output_type(contract, tensors, attrs))


def _output_type(contract: OpContract, tensors: Sequence[Any], attrs: dict[str, Any]) -> Any:
    """[K, C_out, ph, pw] with the feature dtype; unknown sizes left symbolic."""
    feature = tensors[1] if contract.snake_name == "multi_scale_roi_align" else tensors[0]
    feature_type = feature.type()
    sizes = feature_type.varyingSizes() or [None] * 4
    channels = output_channels(contract, sizes[1], int(attrs["pooled_h"]),
                               int(attrs["pooled_w"]))
    return feature_type.with_sizes([None, channels, attrs["pooled_h"], attrs["pooled_w"]])


def register_torchscript_symbolics(*, standard_ops: bool = False,
                                  opset: int | None = None) -> None:
    """Make ``torch.onnx.export(..., dynamo=False)`` write every ``torch.ops.roipool.*``
    op as a ``roipool``-domain node, or standard ONNX where exact when `standard_ops`
    (for the export's default-domain opset).

    Importing :mod:`roipool.ops` already registers the symbolics with
    ``standard_ops=False``; this (idempotent) call changes that default for later
    exports. :func:`roipool.export.export_onnx` sets `standard_ops` for its own export
    only. `opset` is accepted for earlier callers and not needed: the symbolics read the
    default-domain opset of the export they run in."""
    del opset
    import roipool.ops  # noqa: F401  (registers torch.ops.roipool.* and the symbolics)

    global _standard_ops
    _standard_ops = standard_ops


@contextlib.contextmanager
def standard_ops_option(standard_ops: bool) -> Iterator[None]:
    """`standard_ops` for the TorchScript exports run within the block."""
    global _standard_ops
    saved, _standard_ops = _standard_ops, standard_ops
    try:
        yield
    finally:
        _standard_ops = saved
