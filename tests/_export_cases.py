"""Per-op export cases shared by the export tests: a one-op module per case, random
inputs for any (B, H, W, K) and the float64 eager reference."""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import onnx
import pytest
import torch
from conftest import random_rois
from roipool.export import ATTRIBUTE_TYPES, CONTRACTS, DOMAIN, PLUGIN_NAMESPACE, export_onnx
from roipool.export._contract import OpContract
from roipool.ops import reference
from torch import Tensor


@dataclass(frozen=True)
class Case:
    id: str
    op: str
    attrs: tuple[Any, ...]
    channels: int = 4
    #: Which of DeformRoIPool's optional inputs the case passes.
    optional: tuple[str, ...] = ()

    @property
    def contract(self) -> OpContract:
        return CONTRACTS[self.op]

    @property
    def input_names(self) -> list[str]:
        if self.op == "multi_scale_roi_align":
            return ["rois", "feature_0", "feature_1"]
        return ["input", "rois", *self.optional]

    def dynamic_axes(self) -> dict[str, dict[int, str]]:
        axes: dict[str, dict[int, str]] = {"output": {0: "K"}}
        for name in self.input_names:
            if name in ("rois", "offset", "mask"):
                axes[name] = {0: "K"}
            else:
                axes[name] = {0: "B", 2: f"H_{name}", 3: f"W_{name}"}
        return axes

    def dynamic_shapes(self) -> tuple[tuple[dict[int, Any], ...]]:
        """:meth:`dynamic_axes` as torch.export dynamic shapes of ``forward(*tensors)``."""
        dims: dict[str, Any] = {}
        axes = self.dynamic_axes()
        return (tuple({axis: dims.setdefault(dim, torch.export.Dim(dim))
                       for axis, dim in axes[name].items()} for name in self.input_names),)

    def inputs(self, batch: int, height: int, width: int, num_rois: int,
               generator: torch.Generator) -> list[Tensor]:
        """Float32 inputs in `input_names` order."""
        ph, pw = self.attrs[0], self.attrs[1]
        if self.op == "multi_scale_roi_align":
            rois = random_rois(num_rois, batch, height, width, generator=generator,
                               spatial_scale=0.5)
            return [rois, torch.randn(batch, self.channels, height, width, generator=generator),
                    torch.randn(batch, self.channels, (height + 1) // 2, (width + 1) // 2,
                                generator=generator)]
        feature = torch.randn(batch, self.channels, height, width, generator=generator)
        rois = random_rois(num_rois, batch, height, width, generator=generator, spatial_scale=0.5)
        if self.op == "roi_align_rotated":
            centre = (rois[:, 1:3] + rois[:, 3:5]) / 2
            size = rois[:, 3:5] - rois[:, 1:3]
            theta = (torch.rand(num_rois, 1, generator=generator) - 0.5) * 3.0
            rois = torch.cat([rois[:, :1], centre, size, theta], dim=1)
        extra = {"offset": torch.randn(num_rois, 2, ph, pw, generator=generator) * 0.5,
                 "mask": torch.rand(num_rois, 1, ph, pw, generator=generator)}
        return [feature, rois, *(extra[name] for name in self.optional)]

    def op_args(self, tensors: Sequence[Tensor]) -> list[Any]:
        """Arguments of torch.ops.roipool.<op> / the reference for `tensors`."""
        if self.op == "multi_scale_roi_align":
            return [tensors[0], list(tensors[1:]), *self.attrs]
        if self.op == "deform_roi_pool":
            given = dict(zip(self.optional, tensors[2:], strict=True))
            return [tensors[0], tensors[1], given.get("offset"), given.get("mask"), *self.attrs]
        return [*tensors, *self.attrs]

    def features(self, tensors: Sequence[Tensor]) -> list[Tensor]:
        return list(tensors[1:]) if self.op == "multi_scale_roi_align" else [tensors[0]]

    def module(self) -> torch.nn.Module:
        return OpModule(self)

    def expected(self, tensors: Sequence[Tensor]) -> Tensor:
        ref = getattr(reference, f"{self.op}_reference")
        return ref(*self.op_args([t.double() for t in tensors]))


class OpModule(torch.nn.Module):
    """Calls one torch.ops.roipool op with the case's attributes."""

    def __init__(self, case: Case) -> None:
        super().__init__()
        self.case = case

    def forward(self, *tensors: Tensor) -> Tensor:
        return getattr(torch.ops.roipool, self.case.op)(*self.case.op_args(tensors))


CASES = (
    Case("roi_pool", "roi_pool", (3, 2, 0.5)),
    Case("roi_align", "roi_align", (3, 2, 0.5, 2, True, "avg")),
    Case("roi_align_max", "roi_align", (2, 3, 0.5, 0, False, "max")),
    Case("roi_warp", "roi_warp", (3, 2, 0.5, 2, False, "avg")),
    Case("ps_roi_pool", "ps_roi_pool", (2, 2, 0.5), channels=8),
    Case("ps_roi_align", "ps_roi_align", (2, 2, 0.5, 2), channels=8),
    Case("deform_roi_pool", "deform_roi_pool", (3, 3, 0.5, 2, 0.1), optional=("offset", "mask")),
    Case("deform_roi_pool_mask_only", "deform_roi_pool", (2, 2, 0.5, 0, 0.1),
         optional=("mask",)),
    Case("multi_scale_roi_align", "multi_scale_roi_align",
         (3, 3, 2, True, [0.5, 0.25], "mmdet", 8.0, 4, 1.2)),
    Case("roi_align_rotated", "roi_align_rotated", (3, 2, 0.5, 2, True, True)),
    Case("prroi_pool", "prroi_pool", (3, 2, 0.5)),
)
CASE_BY_ID = {case.id: case for case in CASES}


@contextlib.contextmanager
def quiet_export() -> Iterator[None]:
    """The exporters' warnings and logging silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(logging.NOTSET)


def export_case(case: Case, dynamo: bool, **options: Any) -> onnx.ModelProto:
    """Export `case`'s module (B=2, C per case, 10x12 map, K=5) with the exporters'
    warnings and logging silenced; `options` go to `export_onnx`."""
    tensors = case.inputs(2, 10, 12, 5, torch.Generator().manual_seed(1))
    with quiet_export():
        return export_onnx(case.module(), tuple(tensors), dynamo=dynamo,
                           input_names=case.input_names, output_names=["output"],
                           dynamic_axes=case.dynamic_axes(), **options)


@functools.cache
def exported_case(case_id: str, dynamo: bool) -> onnx.ModelProto:
    """:func:`export_case` with no options, cached per process (the dynamo exporter takes
    seconds per model; every test file that needs these models shares them)."""
    return export_case(CASE_BY_ID[case_id], dynamo)


def export_plain(module: torch.nn.Module, case: Case, dynamo: bool) -> onnx.ModelProto:
    """`module` (called on `case`'s tensors) through a plain ``torch.onnx.export``, no
    roipool argument, dynamic B/H/W/K (B=2, 10x12 map, K=5)."""
    tensors = tuple(case.inputs(2, 10, 12, 5, torch.Generator().manual_seed(1)))
    names = {"input_names": case.input_names, "output_names": ["output"]}
    with quiet_export():
        if dynamo:
            program = torch.onnx.export(module, tensors, dynamo=True, verbose=False,
                                        dynamic_shapes=case.dynamic_shapes(), **names)
            return program.model_proto
        buffer = io.BytesIO()
        torch.onnx.export(module, tensors, buffer, dynamo=False,
                          dynamic_axes=case.dynamic_axes(), **names)
        return onnx.load_from_string(buffer.getvalue())


ONNX_ATTR_TYPES = {"int": onnx.AttributeProto.INT, "float": onnx.AttributeProto.FLOAT,
                   "string": onnx.AttributeProto.STRING, "floats": onnx.AttributeProto.FLOATS}


def assert_node_contract(model: onnx.ModelProto, case: Case) -> None:
    """`model` passes onnx.checker and holds exactly one roipool node for `case`: the
    contract's op type, inputs and every attribute with its value and ONNX type."""
    onnx.checker.check_model(model)
    assert any(o.domain == DOMAIN and o.version == 1 for o in model.opset_import)
    nodes = [n for n in model.graph.node if n.domain == DOMAIN]
    assert len(nodes) == 1, [n.op_type for n in model.graph.node]
    node = nodes[0]
    contract = CONTRACTS[case.op]
    assert node.op_type == contract.op_type
    attributes = {a.name: a for a in node.attribute}
    assert set(attributes) == {*contract.attributes, "plugin_namespace"}
    assert onnx.helper.get_attribute_value(attributes["plugin_namespace"]) == \
        PLUGIN_NAMESPACE.encode()
    for name, value in zip(contract.attributes, case.attrs, strict=True):
        attribute = attributes[name]
        assert attribute.type == ONNX_ATTR_TYPES[ATTRIBUTE_TYPES[name]], name
        stored = onnx.helper.get_attribute_value(attribute)
        if isinstance(value, str):
            assert stored == value.encode(), name
        elif isinstance(value, list):
            assert stored == pytest.approx(value), name
        else:
            assert stored == pytest.approx(float(value)), name
    # Inputs in contract order; an absent optional input is an empty name.
    if case.op == "deform_roi_pool":
        expected = ["input", "rois", "offset" if "offset" in case.optional else "",
                    "mask" if "mask" in case.optional else ""]
        assert list(node.input) + [""] * (4 - len(node.input)) == expected
    elif case.op == "multi_scale_roi_align":
        assert next(iter(node.input)) == "rois" and len(node.input) == 3
    else:
        assert list(node.input) == ["input", "rois"]


def run_ort(model: onnx.ModelProto, case: Case, tensors: Sequence[Tensor]) -> Tensor:
    """`model` run in ONNX Runtime with libroipool_ort.so on `tensors`."""
    from roipool.runtime.ort import create_session

    session = create_session(model.SerializeToString())
    feeds = {name: t.numpy() for name, t in zip(case.input_names, tensors, strict=True)}
    return torch.from_numpy(session.run(None, feeds)[0])
