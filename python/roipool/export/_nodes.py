"""Node building shared by both exporters: the ``roipool`` node and the standard-ONNX
forms (``RoiAlign``, ``MaxRoiPool``) where they are exact (SPEC 3.1, 3.2).

Each exporter supplies a :class:`GraphBuilder` that emits one ONNX node in its own graph
representation; everything about *which* nodes to emit lives here, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from roipool.export._contract import DOMAIN, OpContract

AttrValue = int | float | str | Sequence[int] | Sequence[float]

#: Lowest default-domain opset with the ``coordinate_transformation_mode`` of RoiAlign.
STANDARD_ROI_ALIGN_OPSET = 16
_INT64 = 7  # onnx.TensorProto.INT64


class GraphBuilder(Protocol):
    """Emits ONNX nodes into the graph an exporter is building."""

    def node(self, op_type: str, inputs: Sequence[Any], attrs: dict[str, AttrValue],
             domain: str = "") -> Any:
        """One node with a single output; returns that output. A None input is absent."""

    def int64s(self, values: Sequence[int]) -> Any:
        """A constant 1-D int64 tensor."""


@dataclass(frozen=True)
class StandardForm:
    """A default-domain op that computes exactly what the roipool op does."""

    op_type: str
    attrs: dict[str, AttrValue]


def standard_form(contract: OpContract, attrs: dict[str, AttrValue],
                  opset: int) -> StandardForm | None:
    """The exact standard-ONNX equivalent of a roipool node, or None when there is none.

    RoIAlign ``avg`` -> ``RoiAlign`` (opset >= 16; ``aligned`` picks the coordinate
    transformation mode); RoIPool -> ``MaxRoiPool``. RoIAlign ``max`` has none: ONNX's
    ``max`` takes the max of weighted corner terms, a different function (SPEC 3.2).
    """
    if contract.snake_name == "roi_align" and attrs["mode"] == "avg":
        if opset < STANDARD_ROI_ALIGN_OPSET:
            return None
        return StandardForm("RoiAlign", {
            "coordinate_transformation_mode": "half_pixel" if attrs["aligned"]
            else "output_half_pixel",
            "mode": "avg",
            "output_height": attrs["pooled_h"],
            "output_width": attrs["pooled_w"],
            # ONNX spells "adaptive" as 0 only; roipool accepts any value <= 0.
            "sampling_ratio": max(int(attrs["sampling_ratio"]), 0),
            "spatial_scale": attrs["spatial_scale"],
        })
    if contract.snake_name == "roi_pool":
        return StandardForm("MaxRoiPool", {
            "pooled_shape": [attrs["pooled_h"], attrs["pooled_w"]],
            "spatial_scale": attrs["spatial_scale"],
        })
    return None


def emit(builder: GraphBuilder, contract: OpContract, tensors: Sequence[Any],
         attrs: dict[str, AttrValue], *, standard_ops: bool, opset: int) -> Any:
    """Emit the op: its standard form when asked for and exact, else the roipool node.

    `tensors` follows the torch schema (``features`` flattened last for
    MultiScaleRoIAlign, which the node takes as ``rois, feature_0, ...``); None marks an
    absent optional input.
    """
    form = standard_form(contract, attrs, opset) if standard_ops else None
    if form is None:
        return builder.node(contract.op_type, without_trailing_absent(tensors), dict(attrs),
                            domain=DOMAIN)
    input, rois = tensors
    if form.op_type == "MaxRoiPool":
        return builder.node("MaxRoiPool", [input, rois], form.attrs)
    boxes = builder.node("Slice", [rois, builder.int64s([1]), builder.int64s([5]),
                                   builder.int64s([1])], {})
    first_column = builder.node("Gather", [rois, builder.int64s([0])], {"axis": 1})
    flat_index = builder.node("Reshape", [first_column, builder.int64s([-1])], {})
    batch_index = builder.node("Cast", [flat_index], {"to": _INT64})
    return builder.node("RoiAlign", [input, boxes, batch_index], form.attrs)


def without_trailing_absent(tensors: Sequence[Any]) -> list[Any]:
    """`tensors` less its trailing absent (None) inputs, which ONNX lets a node omit.

    Written as empty names they would reach TensorRT's ONNX parser as null plugin inputs
    (docs/tensorrt.md); omitted, an offset-only DeformRoIPool is a plain 3-input node.
    """
    inputs = list(tensors)
    while inputs and inputs[-1] is None:
        inputs.pop()
    return inputs
