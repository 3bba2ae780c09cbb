"""The ONNX node contract (domain ``roipool``, opset 1) shared by both exporters.

One table says, per op, its ONNX ``op_type``, its inputs and its attributes in the order
of the ``torch.ops.roipool`` schema; the attribute names and types mirror
``op_attributes()`` in ``plugins/core/common/attributes.cpp`` (a test checks that
against the built core library).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DOMAIN = "roipool"
OPSET_VERSION = 1
PLUGIN_NAMESPACE = "roipool"

#: ONNX attribute type of every attribute name (AttrType in the core).
ATTRIBUTE_TYPES: dict[str, str] = {
    "pooled_h": "int", "pooled_w": "int", "sampling_ratio": "int", "aligned": "int",
    "clockwise": "int", "canonical_level": "int",
    "spatial_scale": "float", "gamma": "float", "canonical_scale": "float",
    "roi_scale_factor": "float",
    "mode": "string", "level_mapping": "string",
    "spatial_scales": "floats",
}

#: Value of an absent attribute (``default_attrs()`` in the core; a test checks it).
#: ``spatial_scales`` has none: MultiScaleRoIAlign requires it.
ATTRIBUTE_DEFAULTS: dict[str, int | float | str] = {
    "pooled_h": 7, "pooled_w": 7, "sampling_ratio": -1, "aligned": 0, "clockwise": 0,
    "canonical_level": 4, "spatial_scale": 1.0, "gamma": 0.1, "canonical_scale": 0.0,
    "roi_scale_factor": 1.0, "mode": "avg", "level_mapping": "torchvision",
}


@dataclass(frozen=True)
class OpContract:
    """How one ``torch.ops.roipool.<snake_name>`` op becomes an ONNX node."""

    snake_name: str
    op_type: str
    #: Tensor arguments of the torch op, in schema order (``features`` is a tensor list).
    tensor_args: tuple[str, ...]
    #: Attribute arguments of the torch op, in schema order after the tensor arguments.
    attributes: tuple[str, ...]
    #: Columns of a rois row: (batch_index, box...) (``roipool_rois_columns`` in the core).
    rois_columns: int = 5

    def node_attributes(self, values: Sequence[Any]) -> dict[str, int | float | str | list[float]]:
        """ONNX attribute values (bools as INT 0/1, floats as float) for the torch op's
        attribute arguments, plus ``plugin_namespace``."""
        if len(values) != len(self.attributes):
            raise ValueError(f"{self.op_type}: expected {len(self.attributes)} attributes, "
                             f"got {len(values)}")
        attrs: dict[str, int | float | str | list[float]] = {
            name: _attribute_value(name, value)
            for name, value in zip(self.attributes, values, strict=True)}
        attrs["plugin_namespace"] = PLUGIN_NAMESPACE
        return attrs


def _attribute_value(name: str, value: Any) -> int | float | str | list[float]:
    kind = ATTRIBUTE_TYPES[name]
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "floats":
        return [float(v) for v in value]
    return str(value)


_POOL = ("pooled_h", "pooled_w", "spatial_scale")
_ALIGN = (*_POOL, "sampling_ratio", "aligned", "mode")

CONTRACTS: Mapping[str, OpContract] = {c.snake_name: c for c in (
    OpContract("roi_pool", "RoIPool", ("input", "rois"), _POOL),
    OpContract("roi_align", "RoIAlign", ("input", "rois"), _ALIGN),
    OpContract("roi_warp", "RoIWarp", ("input", "rois"), _ALIGN),
    OpContract("ps_roi_pool", "PSRoIPool", ("input", "rois"), _POOL),
    OpContract("ps_roi_align", "PSRoIAlign", ("input", "rois"), (*_POOL, "sampling_ratio")),
    OpContract("deform_roi_pool", "DeformRoIPool", ("input", "rois", "offset", "mask"),
               (*_POOL, "sampling_ratio", "gamma")),
    OpContract("multi_scale_roi_align", "MultiScaleRoIAlign", ("rois", "features"),
               ("pooled_h", "pooled_w", "sampling_ratio", "aligned", "spatial_scales",
                "level_mapping", "canonical_scale", "canonical_level", "roi_scale_factor")),
    OpContract("roi_align_rotated", "RoIAlignRotated", ("input", "rois"),
               (*_POOL, "sampling_ratio", "aligned", "clockwise"), rois_columns=6),
    OpContract("prroi_pool", "PrRoIPool", ("input", "rois"), _POOL),
)}

OP_NAMES: tuple[str, ...] = tuple(CONTRACTS)


def output_channels(contract: OpContract, channels: int | None, pooled_h: int,
                     pooled_w: int) -> int | None:
    """C_out of the node for an input with `channels` (None when unknown)."""
    if channels is None:
        return None
    if contract.snake_name in ("ps_roi_pool", "ps_roi_align"):
        return channels // (pooled_h * pooled_w)
    return channels
