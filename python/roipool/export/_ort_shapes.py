"""ONNX Runtime's symbolic shape inference (``onnxruntime.tools.symbolic_shape_infer``,
run before its TensorRT execution provider and by polygraphy) with roipool's shape rule.

The tool falls back to ``onnx.shape_inference`` for ops it has no handler for, which
works only where the roipool schemas are registered (this process, after importing
:mod:`roipool.export`); its handler table (``dispatcher_``) is extended here with
:func:`roipool.export._schemas.output_dims`, so roipool outputs get symbolic shapes
(position-sensitive channels as ``floor(C/(ph*pw))`` expressions too).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import onnx

from roipool.export._contract import DOMAIN, OpContract
from roipool.export._schemas import (
    BY_OP_TYPE,
    input_indices,
    node_attributes,
    output_dims,
)


def symbolic_shape_infer(model: onnx.ModelProto, *, int_max: int = 2**31 - 1,
                         auto_merge: bool = False, guess_output_rank: bool = False,
                         verbose: int = 0) -> onnx.ModelProto:
    """``SymbolicShapeInference.infer_shapes(model, ...)`` with the roipool ops known:
    returns the model with every value's shape inferred (symbolic where the input's is).

    Raises ``ImportError`` without onnxruntime and ``ValueError`` naming the values left
    without a shape (where onnxruntime's tool raises "Incomplete symbolic shape
    inference" and writes a file into the working directory)."""
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    inference = SymbolicShapeInference(int_max, auto_merge, guess_output_rank, verbose)
    for op_type, contract in BY_OP_TYPE.items():
        inference.dispatcher_[op_type] = functools.partial(
            _infer_node, inference, contract, inference.dispatcher_.get(op_type))
    inference._preprocess(model)
    complete = False
    while inference.run_:
        complete = inference._infer_impl()
    inference._update_output_from_vi()
    if not complete:
        raise ValueError("symbolic shape inference left values without a shape: "
                         f"{', '.join(_unshaped(inference.out_mp_)) or '(unknown)'}")
    return inference.out_mp_


def _infer_node(inference: Any, contract: OpContract, other: Callable[[Any], None] | None,
                node: onnx.NodeProto) -> None:
    """Output value info of one node named like a roipool op (other domains: the tool's
    own handler, else its onnx fallback)."""
    if node.domain != DOMAIN:
        if other is not None:
            return other(node)
        return inference._onnx_infer_single_node(node)
    feature_index, rois_index = input_indices(contract)
    attrs = node_attributes(contract, node.attribute)
    feature = inference._try_get_shape(node, feature_index)
    dims: list[Any] = output_dims(contract, feature, inference._try_get_shape(node, rois_index),
                                  attrs)
    if dims[1] is None and feature is not None and isinstance(feature[1], str):
        # Position-sensitive op on a symbolic C: C / (ph * pw) as a sympy expression.
        import sympy

        channels = inference._get_sympy_shape(node, feature_index)[1]
        expression = sympy.floor(channels / (int(attrs["pooled_h"]) * int(attrs["pooled_w"])))
        inference._update_computed_dims([expression])
        dims[1] = str(expression)
    for axis, dim in enumerate(dims):
        if dim is None:
            dims[axis] = str(inference._new_symbolic_dim_from_output(node, 0, axis))
    elem_type = inference.known_vi_[node.input[feature_index]].type.tensor_type.elem_type
    inference.known_vi_[node.output[0]].CopyFrom(
        onnx.helper.make_tensor_value_info(node.output[0], elem_type, dims))
    return None


def _unshaped(model: onnx.ModelProto) -> list[str]:
    values = [*model.graph.value_info, *model.graph.output]
    return [v.name for v in values
            if v.type.HasField("tensor_type") and not v.type.tensor_type.HasField("shape")]
