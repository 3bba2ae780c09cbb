"""TorchScript exporter support (``torch.onnx.export(..., dynamo=False)``): symbolic
functions registered for every ``roipool::<op>`` custom op."""

from __future__ import annotations

from collections.abc import Sequence
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

#: Default-domain opset from which the symbolics apply (all of them).
_FROM_OPSET = 1

_DESCRIPTORS = {"int": "i", "float": "f", "string": "s", "floats": "fs"}
_SUFFIXES = {int: "i", float: "f", str: "s"}

#: (standard_ops, opset) of the symbolics currently registered, None before the first call.
_registered: tuple[bool, int] | None = None


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


def _symbolic(contract: OpContract, standard_ops: bool, opset: int) -> Any:
    def symbolic(g: Any, *args: Any) -> Any:
        count = len(contract.tensor_args)
        tensors: list[Any] = []
        for name, value in zip(contract.tensor_args, args[:count], strict=True):
            if name == "features":
                tensors.extend(symbolic_helper._unpack_list(value))
            else:
                tensors.append(None if symbolic_helper._is_none(value) else value)
        values = [symbolic_helper._get_const(value, _DESCRIPTORS[ATTRIBUTE_TYPES[name]], name)
                  for name, value in zip(contract.attributes, args[count:], strict=True)]
        attrs = contract.node_attributes(values)
        output = _nodes.emit(_TorchScriptBuilder(g), contract, tensors, attrs,
                             standard_ops=standard_ops, opset=opset)
        return output.setType(_output_type(contract, tensors, attrs))

    return symbolic


def _output_type(contract: OpContract, tensors: Sequence[Any], attrs: dict[str, Any]) -> Any:
    """[K, C_out, ph, pw] with the feature dtype; unknown sizes left symbolic."""
    feature = tensors[1] if contract.snake_name == "multi_scale_roi_align" else tensors[0]
    feature_type = feature.type()
    sizes = feature_type.varyingSizes() or [None] * 4
    channels = output_channels(contract, sizes[1], int(attrs["pooled_h"]),
                               int(attrs["pooled_w"]))
    return feature_type.with_sizes([None, channels, attrs["pooled_h"], attrs["pooled_w"]])


def register_torchscript_symbolics(*, standard_ops: bool = False, opset: int = 17) -> None:
    """Register symbolic functions so ``torch.onnx.export(..., dynamo=False)`` writes every
    ``torch.ops.roipool.*`` op as a ``roipool``-domain node (standard ONNX where exact when
    `standard_ops`, for default-domain `opset`). Idempotent; calling it again with other
    options replaces the registration. Pass ``custom_opsets={"roipool": 1}`` to the export
    (:func:`roipool.export.export_onnx` does)."""
    global _registered
    import roipool.ops  # noqa: F401  (registers torch.ops.roipool.*)

    if _registered == (standard_ops, opset):
        return
    for name, contract in CONTRACTS.items():
        torch.onnx.register_custom_op_symbolic(f"roipool::{name}",
                                               _symbolic(contract, standard_ops, opset),
                                               _FROM_OPSET)
    _registered = (standard_ops, opset)
