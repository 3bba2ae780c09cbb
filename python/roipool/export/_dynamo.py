"""Dynamo exporter support: ``custom_translation_table`` entries for the roipool ops.

Each entry is an onnxscript-traced function that emits the ``roipool``-domain node (or,
with ``standard_ops``, the exact standard-ONNX form) through :mod:`roipool.export._nodes`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import onnxscript
import torch

from roipool.export import _nodes
from roipool.export._contract import (
    ATTRIBUTE_TYPES,
    CONTRACTS,
    DOMAIN,
    OPSET_VERSION,
    OpContract,
)
from roipool.export._schemas import onnx_schema

_PY_TYPES: dict[str, Any] = {"int": int, "float": float, "string": str,
                             "floats": Sequence[float]}
_BOOL_ATTRIBUTES = ("aligned", "clockwise")
_DEFAULT_OPSET = onnxscript.opset18


class _OnnxscriptBuilder:
    """GraphBuilder over onnxscript ops (run by the exporter's tracing evaluator)."""

    def __init__(self) -> None:
        self._opset = onnxscript.values.Opset(DOMAIN, OPSET_VERSION)

    def node(self, op_type: str, inputs: Sequence[Any], attrs: dict[str, Any],
             domain: str = "") -> Any:
        if domain:
            op = onnxscript.values.Op(self._opset, op_type, onnx_schema(op_type))
        else:
            op = getattr(_DEFAULT_OPSET, op_type)
        return op(*inputs, **attrs)

    def int64s(self, values: Sequence[int]) -> Any:
        return _DEFAULT_OPSET.Constant(value_ints=list(values))


def _translation(contract: OpContract, standard_ops: bool, opset: int) -> Callable[..., Any]:
    """The translation function of one op, with the torch op's parameter names (the
    exporter reads the signature: annotated parameters are attributes)."""
    parameters = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                  for name in contract.tensor_args]
    annotations: dict[str, Any] = {}
    for name in contract.attributes:
        parameters.append(inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD))
        annotations[name] = bool if name in _BOOL_ATTRIBUTES else _PY_TYPES[ATTRIBUTE_TYPES[name]]
    signature = inspect.Signature(parameters)

    def translate(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs).arguments
        tensors: list[Any] = []
        for name in contract.tensor_args:
            value = bound[name]
            tensors.extend(value if name == "features" else [value])
        attrs = contract.node_attributes([bound[name] for name in contract.attributes])
        return _nodes.emit(_OnnxscriptBuilder(), contract, tensors, attrs,
                           standard_ops=standard_ops, opset=opset)

    translate.__signature__ = signature  # type: ignore[attr-defined]
    translate.__annotations__ = annotations
    translate.__name__ = f"roipool_{contract.snake_name}"
    translate.__qualname__ = translate.__name__
    return translate


def translation_table(*, standard_ops: bool = False,
                      opset: int = 18) -> dict[torch._ops.OpOverload, Callable[..., Any]]:
    """``custom_translation_table`` for ``torch.onnx.export(..., dynamo=True)`` that turns
    every ``torch.ops.roipool.*`` op into its ``roipool``-domain node (standard ONNX
    where exact when `standard_ops`; `opset` is the model's default-domain opset)."""
    import roipool.ops  # noqa: F401  (registers torch.ops.roipool.*)

    return {getattr(torch.ops.roipool, name).default: _translation(contract, standard_ops, opset)
            for name, contract in CONTRACTS.items()}
