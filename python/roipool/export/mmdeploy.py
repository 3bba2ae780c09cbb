"""Rewrite mmdeploy / mmcv RoI nodes into roipool nodes (``roipool convert-mmdeploy``).

roipool's ONNX Runtime and TensorRT libraries serve mmdeploy's and mmcv's ops under their
own names (docs/mmdeploy.md), so a converted model is only for users who prefer roipool's
names and ``plugin_namespace``. The attribute mapping is the core's alias table, read
through the C ABI (:func:`roipool._schema.aliases`): nothing here restates it. A node
whose meaning roipool's own op cannot express (mmdeploy's legacy ``roi_scale_factor``
rule with a factor other than 1, ``MMCVMultiLevelRoiAlign`` max pooling) is an error
naming the node; such graphs run as they are.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from roipool import _native, _schema
from roipool.export._contract import CONTRACTS, DOMAIN, OPSET_VERSION, PLUGIN_NAMESPACE

if TYPE_CHECKING:
    import onnx

__all__ = ["ConvertedNode", "convert_mmdeploy", "find_alias"]

@dataclass(frozen=True)
class ConvertedNode:
    """One rewritten node: its name and ``domain::op_type`` before and after."""

    name: str
    source: str
    target: str


def find_alias(domain: str, op_type: str) -> _schema.Alias | None:
    """The alias served under ``domain::op_type``, or None."""
    for alias in _schema.aliases():
        if alias.name == op_type and domain in alias.domains:
            return alias
    return None


def convert_mmdeploy(model: onnx.ModelProto) -> list[ConvertedNode]:
    """Rewrite, in place, every alias node of `model` (subgraphs included) into the
    roipool node that computes the same thing; returns what was rewritten.

    Raises ValueError naming the node when its attributes are invalid for its alias or
    when roipool's op cannot express it.
    """
    converted = []
    for graph in _graphs(model.graph):
        for node in graph.node:
            alias = find_alias(node.domain, node.op_type)
            if alias is not None:
                converted.append(_rewrite(node, alias))
    if converted:
        used = {n.domain for graph in _graphs(model.graph) for n in graph.node}
        keep = [o for o in model.opset_import if o.domain in used or o.domain in ("", "ai.onnx")]
        del model.opset_import[:]
        model.opset_import.extend(keep)
        if not any(o.domain == DOMAIN for o in keep):
            from onnx import helper

            model.opset_import.append(helper.make_opsetid(DOMAIN, OPSET_VERSION))
    return converted


def _graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    """`graph` and every subgraph of its nodes (If / Loop / Scan bodies), depth first."""
    from onnx import AttributeProto

    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == AttributeProto.GRAPH:
                yield from _graphs(attr.g)
            elif attr.type == AttributeProto.GRAPHS:
                for sub in attr.graphs:
                    yield from _graphs(sub)


_ONNX_TYPES = {1: "float", 2: "int", 3: "string", 6: "floats", 7: "ints"}


def _node_values(node: onnx.NodeProto) -> dict[str, tuple[str, Any]]:
    from onnx import helper

    values = {}
    for attr in node.attribute:
        if attr.name in _schema.LOOKUP_KEYS:
            continue
        kind = _ONNX_TYPES.get(attr.type)
        if kind is None:
            raise ValueError(f"node {node.name!r} ({node.op_type}): attribute {attr.name!r} has "
                             f"an unsupported type")
        value = helper.get_attribute_value(attr)
        values[attr.name] = (kind, value.decode() if isinstance(value, bytes) else value)
    return values


def _rewrite(node: onnx.NodeProto, alias: _schema.Alias) -> ConvertedNode:
    from onnx import helper

    source = f"{node.domain}::{node.op_type}"
    try:
        attrs = _native.alias_attrs(alias, _node_values(node))
    except ValueError as error:
        raise ValueError(f"node {node.name!r}: {error}") from None
    contract = next(c for c in CONTRACTS.values() if c.op_type == alias.op_type)
    reason = _inexpressible(alias, attrs)
    if reason:
        raise ValueError(f"node {node.name!r} ({source}): {reason}; roipool's libraries run it "
                         "as it is, leave it unconverted")
    values = _roipool_attributes(attrs, contract.attributes)
    values["plugin_namespace"] = PLUGIN_NAMESPACE
    del node.attribute[:]
    node.attribute.extend(helper.make_attribute(k, v) for k, v in values.items())
    node.op_type, node.domain = contract.op_type, DOMAIN
    return ConvertedNode(node.name, source, f"{DOMAIN}::{contract.op_type}")


def _inexpressible(alias: _schema.Alias, attrs: Any) -> str | None:
    if attrs.legacy_roi_rescale and attrs.roi_scale_factor != 1.0:
        return ("roi_scale_factor follows mmdeploy's legacy (w + 1) rule, which "
                "MultiScaleRoIAlign's roi_scale_factor does not")
    if alias.op_type == "MultiScaleRoIAlign" and attrs.mode == 1:
        return "max pooling (pool_mode=0), which MultiScaleRoIAlign does not define"
    return None


def _roipool_attributes(attrs: Any, names: Sequence[str]) -> dict[str, Any]:
    """The ONNX attributes `names` of a roipool node from the core's parsed OpAttrs."""
    out: dict[str, Any] = {}
    for name in names:
        if name == "mode":
            out[name] = "max" if attrs.mode == 1 else "avg"
        elif name == "level_mapping":
            out[name] = "mmdet" if attrs.level_mapping == 1 else "torchvision"
        elif name == "spatial_scales":
            out[name] = [float(s) for s in attrs.spatial_scales[: attrs.num_levels]]
        else:
            out[name] = getattr(attrs, name)
    return out
