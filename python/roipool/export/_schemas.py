"""ONNX schemas of the roipool ops (domain ``roipool``, version 1), built from the node
contract and registered with ``onnx.defs`` when :mod:`roipool.export` is imported.

One schema per op serves everything that reads ONNX schemas in this process: onnxscript
(the dynamo translation table calls the node through it), ``onnx.checker`` (attribute
names and types: an unknown attribute is an error) and ``onnx.shape_inference`` (the
type and shape inference function below). The shape rule itself, :func:`output_dims`,
is shared with ONNX Runtime's symbolic shape inference (:mod:`roipool.export._ort_shapes`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import onnx
from onnx.defs import OpSchema

from roipool.export._contract import (
    ATTRIBUTE_DEFAULTS,
    ATTRIBUTE_TYPES,
    CONTRACTS,
    DOMAIN,
    OPSET_VERSION,
    OpContract,
    _attribute_value,
    output_channels,
)

#: One dimension: a value, a symbol or unknown (None).
Dim = int | str | None

_FLOAT_TYPES = ["tensor(float)", "tensor(float16)", "tensor(bfloat16)"]
_ATTR_SCHEMA_TYPES = {"int": OpSchema.AttrType.INT, "float": OpSchema.AttrType.FLOAT,
                      "string": OpSchema.AttrType.STRING, "floats": OpSchema.AttrType.FLOATS}
_OPTIONAL_INPUTS = ("offset", "mask")
BY_OP_TYPE: Mapping[str, OpContract] = {c.op_type: c for c in CONTRACTS.values()}


class ShapeError(onnx.shape_inference.InferenceError, ValueError):
    """The node's inputs or attributes cannot give an output shape. onnx runs a Python
    inference function without telling it the strict mode, and passes its exceptions
    through, so this is raised by ``infer_shapes`` whatever ``strict_mode`` says."""


def input_indices(contract: OpContract) -> tuple[int, int]:
    """(feature map, rois) input positions of the node."""
    return (1, 0) if "features" in contract.tensor_args else (0, 1)


def output_dims(contract: OpContract, feature: Sequence[Dim] | None,
                rois: Sequence[Dim] | None, attrs: Mapping[str, Any]) -> list[Dim]:
    """``[K, C_out, pooled_h, pooled_w]`` of the node from its (first) feature map's and its
    rois' dims (None: rank unknown); ``K`` and ``C`` are carried over, symbolic or not
    (position-sensitive ``C_out = C / (ph * pw)`` only for a known ``C``). Raises
    :class:`ShapeError` naming the input or attribute that makes the node invalid."""
    op = contract.op_type
    pooled_h, pooled_w = int(attrs["pooled_h"]), int(attrs["pooled_w"])
    if pooled_h <= 0 or pooled_w <= 0:
        raise ShapeError(f"{op}: pooled_h and pooled_w must be > 0, got {pooled_h}x{pooled_w}")
    channels: Dim = None
    if feature is not None:
        if len(feature) != 4:
            raise ShapeError(f"{op}: feature maps must be [B, C, H, W], got rank {len(feature)}")
        channels = feature[1]
    num_rois: Dim = None
    if rois is not None:
        columns = contract.rois_columns
        if len(rois) != 2 or (isinstance(rois[1], int) and rois[1] != columns):
            raise ShapeError(f"{op}: rois must be [K, {columns}], got {list(rois)}")
        num_rois = rois[0]
    if isinstance(channels, int):
        if contract.snake_name.startswith("ps_") and channels % (pooled_h * pooled_w):
            raise ShapeError(f"{op}: input channels ({channels}) must be divisible by "
                             f"pooled_h * pooled_w ({pooled_h * pooled_w})")
        channels = output_channels(contract, channels, pooled_h, pooled_w)
    elif contract.snake_name.startswith("ps_"):
        channels = None
    return [num_rois, channels, pooled_h, pooled_w]


def node_attributes(contract: OpContract,
                    attributes: Iterable[onnx.AttributeProto]) -> dict[str, Any]:
    """The contract's attribute values of a node (strings decoded), defaults for those
    absent."""
    given = {a.name: onnx.helper.get_attribute_value(a) for a in attributes}
    return {name: _decoded(given.get(name, ATTRIBUTE_DEFAULTS.get(name)))
            for name in contract.attributes}


def _decoded(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def _dims(type_proto: onnx.TypeProto | None) -> list[Dim] | None:
    if type_proto is None or not type_proto.tensor_type.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else d.dim_param or None
            for d in type_proto.tensor_type.shape.dim]


def _infer(contract: OpContract) -> Any:
    feature_index, rois_index = input_indices(contract)

    def infer(ctx: Any) -> None:
        feature = ctx.get_input_type(feature_index)
        attributes = [ctx.get_attribute(name) for name in contract.attributes]
        dims = output_dims(contract, _dims(feature), _dims(ctx.get_input_type(rois_index)),
                           node_attributes(contract, [a for a in attributes if a is not None]))
        output = onnx.TypeProto()
        if feature is not None:
            output.tensor_type.elem_type = feature.tensor_type.elem_type
        shape = output.tensor_type.shape
        for dim in dims:
            entry = shape.dim.add()
            if isinstance(dim, int):
                entry.dim_value = dim
            elif dim:
                entry.dim_param = dim
        ctx.set_output_type(0, output)

    return infer


def _formal(name: str, type_str: str, option: Any = OpSchema.FormalParameterOption.Single,
            homogeneous: bool = True) -> OpSchema.FormalParameter:
    return OpSchema.FormalParameter(name, type_str, param_option=option,
                                    is_homogeneous=homogeneous)


def _input_parameters(contract: OpContract) -> list[OpSchema.FormalParameter]:
    if "features" in contract.tensor_args:
        # One variadic (rois, feature_0, ...): onnxscript's argument matching repeats a
        # single input that precedes a variadic one. Heterogeneous: rois may be float32
        # with float16 maps.
        return [_formal("inputs", "T", OpSchema.FormalParameterOption.Variadic,
                        homogeneous=False)]
    params = []
    for name in contract.tensor_args:
        if name == "rois":
            params.append(_formal("rois", "T1"))
        elif name in _OPTIONAL_INPUTS:
            params.append(_formal(name, "T", OpSchema.FormalParameterOption.Optional))
        else:
            params.append(_formal(name, "T"))
    return params


def _attribute(name: str) -> OpSchema.Attribute:
    if name not in ATTRIBUTE_DEFAULTS:
        return OpSchema.Attribute(name, _ATTR_SCHEMA_TYPES[ATTRIBUTE_TYPES[name]], "",
                                  required=True)
    default = onnx.helper.make_attribute(name, _attribute_value(name, ATTRIBUTE_DEFAULTS[name]))
    return OpSchema.Attribute(name, default, "")


@functools.cache
def onnx_schema(op_type: str) -> OpSchema:
    """The ONNX schema of one roipool node, with its type and shape inference."""
    contract = BY_OP_TYPE[op_type]
    attributes = [_attribute(name) for name in contract.attributes]
    attributes.append(OpSchema.Attribute("plugin_namespace", OpSchema.AttrType.STRING,
                                         "TensorRT plugin namespace (roipool)", required=False))
    schema = OpSchema(
        contract.op_type, DOMAIN, OPSET_VERSION,
        doc=f"roipool {contract.op_type} ({contract.snake_name}): output "
            "[K, C_out, pooled_h, pooled_w]; see roipool's SPEC.md.",
        inputs=_input_parameters(contract), outputs=[_formal("output", "T")],
        type_constraints=[("T", _FLOAT_TYPES, "feature maps and output"),
                          ("T1", _FLOAT_TYPES, "rois")],
        attributes=attributes)
    schema.set_type_and_shape_inference_function(_infer(contract))
    return schema


def register_schemas() -> None:
    """Register every roipool schema with ``onnx.defs`` (once per process; a schema
    already registered under the same name, domain and version is left as it is)."""
    for op_type in BY_OP_TYPE:
        if not onnx.defs.has(op_type, OPSET_VERSION, DOMAIN):
            onnx.defs.register_schema(onnx_schema(op_type))
