"""mmdeploy / mmcv ops served by libroipool_ort.so (docs/mmdeploy.md), and the converter.

Nodes are built by hand with the exact attribute sets mmdeploy's and mmcv's exporters
write, and again with every defaulted attribute left out; each runs in ONNX Runtime and is
compared with roipool's eager ops under the mapping docs/mmdeploy.md states (the TensorRT
creators of the same aliases are checked by the plugin harness, tests/test_trt_harness.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import assert_spec_close, random_rois
from roipool import ops
from roipool._libs import CORE_LIBRARY, ORT_LIBRARY, find_library
from roipool.runtime.ort import create_session

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state  # noqa: E402

pytestmark = pytest.mark.skipif(
    find_library(ORT_LIBRARY) is None or find_library(CORE_LIBRARY) is None,
    reason=f"{ORT_LIBRARY} / {CORE_LIBRARY} not built")

ORT_ERRORS = (ort_state.Fail, ort_state.InvalidArgument, ort_state.RuntimeException)
B, C, H, W = 2, 3, 12, 14


def alias_model(op_type: str, domain: str, inputs: Sequence[tuple[str, list[Any]]],
                **attributes: Any) -> onnx.ModelProto:
    """One node `domain::op_type` over float32 inputs (name, shape), ir_version 13."""
    node = helper.make_node(op_type, [name for name, _ in inputs], ["output"], name="roi",
                            domain=domain, **attributes)
    graph = helper.make_graph(
        [node], op_type,
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, None)])
    return helper.make_model(graph, ir_version=13, opset_imports=[
        helper.make_opsetid("", 17), helper.make_opsetid(domain, 1)])


def kernel_session(model: onnx.ModelProto) -> Any:
    """A session made by onnxruntime itself (no create_session check): the kernel answers."""
    options = ort.SessionOptions()
    options.register_custom_ops_library(str(find_library(ORT_LIBRARY)))
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def run(model: onnx.ModelProto, feeds: dict[str, torch.Tensor]) -> torch.Tensor:
    session = create_session(model.SerializeToString())
    return torch.from_numpy(session.run(None, {k: v.numpy() for k, v in feeds.items()})[0])


def rotated_rois(k: int, generator: torch.Generator) -> torch.Tensor:
    boxes = random_rois(k, B, H, W, generator=generator, min_size=1.0)
    centre = (boxes[:, 1:3] + boxes[:, 3:5]) / 2
    size = boxes[:, 3:5] - boxes[:, 1:3]
    theta = torch.rand(k, 1, generator=generator) * 3 - 1.5
    return torch.cat([boxes[:, :1], centre, size, theta], 1)


@pytest.fixture
def image(generator: torch.Generator) -> torch.Tensor:
    return torch.randn(B, C, H, W, generator=generator)


IMAGE_INPUTS = [("input", [B, C, H, W]), ("rois", ["K", 5])]


# ---- MMCVRoiAlign (mmdeploy's TensorRT plugin; mmcv:: domain) --------------------------------

@pytest.mark.parametrize("domain", ["mmcv", "mmdeploy"])
@pytest.mark.parametrize("attributes,expected", [
    # As mmdeploy's roi_align symbolic writes it for TensorRT: every attribute.
    (dict(output_height=3, output_width=2, spatial_scale=0.5, sampling_ratio=2, mode="max",
          aligned=0), dict(output_size=(3, 2), spatial_scale=0.5, sampling_ratio=2,
                           aligned=False, mode="max")),
    # Every default left out: 7 x 7, scale 1, adaptive sampling, aligned=1 (mode required).
    (dict(mode="avg"), dict(output_size=(7, 7), spatial_scale=1.0, sampling_ratio=0,
                            aligned=True, mode="avg")),
])
def test_mmcv_roi_align(domain: str, image: torch.Tensor, generator: torch.Generator,
                        attributes: dict[str, Any], expected: dict[str, Any]) -> None:
    rois = random_rois(9, B, H, W, generator=generator, spatial_scale=0.5, min_size=2.0)
    actual = run(alias_model("MMCVRoiAlign", domain, IMAGE_INPUTS, **attributes),
                 {"input": image, "rois": rois})
    reference = ops.roi_align(image.double(), rois.double(), **expected)
    assert_spec_close(actual, reference, torch.float32, image)


# ---- MMCVMultiLevelRoiAlign (mmdeploy's TensorRT plugin; mmdeploy:: domain) ------------------

STRIDES = [4.0, 8.0]


def level_features(generator: torch.Generator) -> list[torch.Tensor]:
    return [torch.randn(B, C, 16, 20, generator=generator),
            torch.randn(B, C, 8, 10, generator=generator)]


def mmdeploy_multi_level(features: list[torch.Tensor], rois: torch.Tensor, out: tuple[int, int],
                         pool_mode: int, sampling_ratio: int, roi_scale_factor: float,
                         finest_scale: int, aligned: bool) -> torch.Tensor:
    """mmdeploy's MMCVMultiLevelRoiAlign from roipool's eager roi_align: the mmdet level
    of the original box, then the legacy ((w + 1) * f - 1) rescale, then RoIAlign."""
    x1, y1, x2, y2 = rois[:, 1], rois[:, 2], rois[:, 3], rois[:, 4]
    scale = torch.sqrt((x2 - x1) * (y2 - y1))
    level = torch.floor(torch.log2(scale / finest_scale + 1e-6)).clamp(0, len(features) - 1).long()
    boxes = rois.double().clone()
    if roi_scale_factor > 0:
        cx, cy = (boxes[:, 1] + boxes[:, 3]) / 2, (boxes[:, 2] + boxes[:, 4]) / 2
        half_w = ((boxes[:, 3] - boxes[:, 1] + 1) * roi_scale_factor - 1) / 2
        half_h = ((boxes[:, 4] - boxes[:, 2] + 1) * roi_scale_factor - 1) / 2
        boxes[:, 1:] = torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], 1)
    output = torch.zeros(rois.shape[0], features[0].shape[1], *out, dtype=torch.float64)
    for index, (feature, stride) in enumerate(zip(features, STRIDES, strict=True)):
        mask = level == index
        output[mask] = ops.roi_align(feature.double(), boxes[mask], out, 1 / stride,
                                     sampling_ratio, aligned, "max" if pool_mode == 0 else "avg")
    return output


@pytest.mark.parametrize("domain", ["mmdeploy", "mmcv"])
@pytest.mark.parametrize("attributes,expected", [
    # As mmdeploy's SingleRoIExtractor rewrite writes it (output_size (2, 3): the rewrite
    # puts output_size[1] in output_height, output_size[0] in output_width).
    (dict(output_height=3, output_width=2, pool_mode=1, sampling_ratio=0,
          roi_scale_factor=1.0, finest_scale=56, featmap_strides=STRIDES, aligned=1),
     dict(out=(3, 2), pool_mode=1, sampling_ratio=0, roi_scale_factor=1.0, finest_scale=56,
          aligned=True)),
    # A roi_scale_factor: mmdeploy's legacy rule; finest_scale moves the levels.
    (dict(output_height=2, output_width=2, pool_mode=1, sampling_ratio=2,
          roi_scale_factor=1.5, finest_scale=28, featmap_strides=STRIDES, aligned=0),
     dict(out=(2, 2), pool_mode=1, sampling_ratio=2, roi_scale_factor=1.5, finest_scale=28,
          aligned=False)),
    # Every default left out: 7 x 7, max pooling, 2 samples, no rescale, finest 56, aligned=0.
    (dict(featmap_strides=STRIDES),
     dict(out=(7, 7), pool_mode=0, sampling_ratio=2, roi_scale_factor=-1.0, finest_scale=56,
          aligned=False)),
])
def test_mmdeploy_multi_level_roi_align(generator: torch.Generator, attributes: dict[str, Any],
                                        expected: dict[str, Any], domain: str) -> None:
    features = level_features(generator)
    rois = random_rois(40, B, 64, 80, generator=generator, min_size=4.0)
    inputs = [("rois", ["K", 5]), ("f0", [B, C, 16, 20]), ("f1", [B, C, 8, 10])]
    actual = run(alias_model("MMCVMultiLevelRoiAlign", domain, inputs, **attributes),
                 {"rois": rois, "f0": features[0], "f1": features[1]})
    reference = mmdeploy_multi_level(features, rois, **expected)
    assert reference.abs().sum() > 0
    assert_spec_close(actual, reference, torch.float32, features)


def test_multi_level_levels_follow_finest_scale(generator: torch.Generator) -> None:
    features = level_features(generator)
    rois = torch.tensor([[0, 0, 0, 20, 20], [1, 0, 0, 60, 60]], dtype=torch.float32)
    inputs = [("rois", ["K", 5]), ("f0", [B, C, 16, 20]), ("f1", [B, C, 8, 10])]
    feeds = {"rois": rois, "f0": features[0], "f1": features[1]}
    fine = run(alias_model("MMCVMultiLevelRoiAlign", "mmdeploy", inputs, featmap_strides=STRIDES,
                           pool_mode=1, finest_scale=1000), feeds)
    coarse = run(alias_model("MMCVMultiLevelRoiAlign", "mmdeploy", inputs,
                             featmap_strides=STRIDES, pool_mode=1, finest_scale=1), feeds)
    expected_fine = ops.roi_align(features[0], rois, 7, 0.25, 2, False)
    expected_coarse = ops.roi_align(features[1], rois, 7, 0.125, 2, False)
    assert_spec_close(fine, expected_fine.double(), torch.float32, features)
    assert_spec_close(coarse, expected_coarse.double(), torch.float32, features)


# ---- MMCVRoIAlignRotated (mmdeploy's ONNX Runtime op; mmdeploy:: and mmcv:: domains) -------

@pytest.mark.parametrize("domain", ["mmdeploy", "mmcv"])
@pytest.mark.parametrize("attributes,expected", [
    (dict(output_height=3, output_width=2, spatial_scale=0.5, sampling_ratio=2, aligned=0,
          clockwise=1), dict(output_size=(3, 2), spatial_scale=0.5, sampling_ratio=2,
                             aligned=False, clockwise=True)),
    # Defaults left out: mmcv's roi_align_rotated defaults (sampling 0, aligned, ccw).
    (dict(output_height=3, output_width=2, spatial_scale=0.5),
     dict(output_size=(3, 2), spatial_scale=0.5, sampling_ratio=0, aligned=True,
          clockwise=False)),
])
def test_roi_align_rotated(domain: str, image: torch.Tensor, generator: torch.Generator,
                           attributes: dict[str, Any], expected: dict[str, Any]) -> None:
    rois = rotated_rois(9, generator)
    rois[:, 1:5] /= 0.5  # image pixels at scale 0.5
    inputs = [("input", [B, C, H, W]), ("rois", ["K", 6])]
    actual = run(alias_model("MMCVRoIAlignRotated", domain, inputs, **attributes),
                 {"input": image, "rois": rois})
    reference = ops.roi_align_rotated(image.double(), rois.double(), **expected)
    assert_spec_close(actual, reference, torch.float32, image)


def test_mmcv_rotated_symbolic_writes_the_height_as_width(image: torch.Tensor,
                                                           generator: torch.Generator) -> None:
    # mmcv's RoIAlignRotated symbolic writes output_width=out_h: its export of
    # output_size (3, 2) is a 3 x 3 node, and is served as written.
    rois = rotated_rois(4, generator)
    inputs = [("input", [B, C, H, W]), ("rois", ["K", 6])]
    actual = run(alias_model("MMCVRoIAlignRotated", "mmcv", inputs, output_height=3,
                             output_width=3, spatial_scale=1.0, sampling_ratio=0, aligned=1,
                             clockwise=0), {"input": image, "rois": rois})
    assert actual.shape == (4, C, 3, 3)
    assert_spec_close(actual, ops.roi_align_rotated(image.double(), rois.double(), (3, 3)),
                      torch.float32, image)


# ---- MMCVDeformRoIPool and PrRoIPool (mmcv's symbolics) ---------------------------------------

@pytest.mark.parametrize("with_offset", [True, False])
def test_mmcv_deform_roi_pool(image: torch.Tensor, generator: torch.Generator,
                              with_offset: bool) -> None:
    rois = random_rois(7, B, H, W, generator=generator, spatial_scale=0.5, min_size=2.0)
    offset = torch.randn(7, 2, 3, 2, generator=generator) * 0.3
    inputs = IMAGE_INPUTS + ([("offset", ["K", 2, 3, 2])] if with_offset else [])
    feeds = {"input": image, "rois": rois, **({"offset": offset} if with_offset else {})}
    # mmcv's symbolic: pooled_height/width, and sampling_ratio as a FLOAT.
    actual = run(alias_model("MMCVDeformRoIPool", "mmcv", inputs, pooled_height=3,
                             pooled_width=2, spatial_scale=0.5, sampling_ratio=2.0, gamma=0.25),
                 feeds)
    reference = ops.deform_roi_pool(image.double(), rois.double(),
                                    offset.double() if with_offset else None, (3, 2), 0.5, 2, 0.25)
    assert_spec_close(actual, reference, torch.float32, image)
    # Defaults left out: spatial_scale 1, adaptive sampling, gamma 0.1.
    rois_unscaled = random_rois(7, B, H, W, generator=generator, min_size=2.0)
    feeds["rois"] = rois_unscaled
    actual = run(alias_model("MMCVDeformRoIPool", "mmcv", inputs, pooled_height=3,
                             pooled_width=2), feeds)
    reference = ops.deform_roi_pool(image.double(), rois_unscaled.double(),
                                    offset.double() if with_offset else None, (3, 2))
    assert_spec_close(actual, reference, torch.float32, image)


def test_mmcv_prroi_pool(image: torch.Tensor, generator: torch.Generator) -> None:
    rois = random_rois(7, B, H, W, generator=generator, spatial_scale=0.5, min_size=2.0)
    actual = run(alias_model("PrRoIPool", "mmcv", IMAGE_INPUTS, pooled_height=3, pooled_width=2,
                             spatial_scale=0.5), {"input": image, "rois": rois})
    assert_spec_close(actual, ops.prroi_pool(image.double(), rois.double(), (3, 2), 0.5),
                      torch.float32, image)
    actual = run(alias_model("PrRoIPool", "mmcv", IMAGE_INPUTS, pooled_height=3, pooled_width=2),
                 {"input": image, "rois": rois})
    assert_spec_close(actual, ops.prroi_pool(image.double(), rois.double(), (3, 2)),
                      torch.float32, image)


# ---- errors name the alias and the attribute ----------------------------------------------------

@pytest.mark.parametrize("op_type,domain,attributes,match", [
    ("MMCVRoiAlign", "mmcv", dict(output_height=3), r"MMCVRoiAlign: attribute 'mode' is required"),
    ("MMCVRoiAlign", "mmcv", dict(mode="avg", pooled_h=3),
     r"MMCVRoiAlign: attribute 'pooled_h' is not an attribute of this op"),
    ("MMCVRoiAlign", "mmcv", dict(mode="avg", output_heigth=3),
     r"MMCVRoiAlign: attribute 'output_heigth' is not an attribute of this op"),
    ("MMCVRoiAlign", "mmcv", dict(mode="avg", output_height=0),
     r"MMCVRoiAlign: attribute 'output_height' must be in \[1, 65535\], got 0"),
    ("MMCVRoIAlignRotated", "mmdeploy", dict(output_height=3, output_width=3),
     r"MMCVRoIAlignRotated: attribute 'spatial_scale' is required"),
    ("MMCVDeformRoIPool", "mmcv", dict(pooled_height=3, pooled_width=2, sampling_ratio=2),
     r"MMCVDeformRoIPool: attribute 'sampling_ratio' must be one float"),
    ("MMCVDeformRoIPool", "mmcv", dict(pooled_height=3, pooled_width=2, sampling_ratio=1e30),
     r"MMCVDeformRoIPool: attribute 'sampling_ratio' must be a finite int32 value"),
    ("MMCVDeformRoIPool", "mmcv", dict(pooled_height=3, pooled_width=2, sampling_ratio=2000.0),
     r"MMCVDeformRoIPool: attribute 'sampling_ratio' must be <= 1024, got 2000"),
    ("PrRoIPool", "mmcv", dict(pooled_width=2),
     r"PrRoIPool: attribute 'pooled_height' is required"),
    ("PrRoIPool", "mmcv", dict(pooled_height=0, pooled_width=2),
     r"PrRoIPool: attribute 'pooled_height' must be in \[1, 65535\], got 0"),
])
def test_bad_alias_node_is_named(op_type: str, domain: str, attributes: dict[str, Any],
                                 match: str) -> None:
    inputs = IMAGE_INPUTS if op_type != "MMCVRoIAlignRotated" else [
        ("input", [B, C, H, W]), ("rois", ["K", 6])]
    with pytest.raises(ORT_ERRORS, match=match):
        kernel_session(alias_model(op_type, domain, inputs, **attributes))


def test_create_session_names_an_unknown_alias_attribute() -> None:
    model = alias_model("MMCVRoiAlign", "mmcv", IMAGE_INPUTS, mode="avg", producer_note="x")
    with pytest.raises(ValueError, match=r"node 'roi': MMCVRoiAlign: attribute 'producer_note' "
                       r"is not an attribute of this op"):
        create_session(model.SerializeToString())


@pytest.mark.parametrize("attributes,match", [
    (dict(pool_mode=2), r"attribute 'pool_mode' must be 0 \(max\) or 1 \(avg\), got 2"),
    (dict(featmap_strides=[4.0, 0.0]), r"attribute 'featmap_strides' entries must be finite"),
    (dict(finest_scale=0), r"attribute 'finest_scale' must be > 0"),
])
def test_bad_multi_level_node_is_named(attributes: dict[str, Any], match: str) -> None:
    inputs = [("rois", ["K", 5]), ("f0", [B, C, 16, 20]), ("f1", [B, C, 8, 10])]
    with pytest.raises(ORT_ERRORS, match="MMCVMultiLevelRoiAlign: " + match):
        kernel_session(alias_model("MMCVMultiLevelRoiAlign", "mmdeploy", inputs,
                                   **{"featmap_strides": STRIDES, **attributes}))


def test_output_shape_is_inferred_from_the_alias_attributes() -> None:
    session = create_session(alias_model("MMCVRoiAlign", "mmcv", IMAGE_INPUTS, output_height=3,
                                         output_width=2, mode="avg").SerializeToString())
    assert session.get_outputs()[0].shape == ["K", C, 3, 2]
    session = create_session(alias_model("MMCVRoiAlign", "mmcv", IMAGE_INPUTS,
                                         mode="avg").SerializeToString())
    assert session.get_outputs()[0].shape == ["K", C, 7, 7]


# ---- the converter --------------------------------------------------------------------------

def mmdeploy_graph() -> onnx.ModelProto:
    """Every alias in one graph, attribute sets as mmdeploy / mmcv write them."""
    nodes = [
        helper.make_node("MMCVRoiAlign", ["input", "rois"], ["a"], name="roi_align",
                         domain="mmcv", output_height=3, output_width=2, spatial_scale=0.5,
                         sampling_ratio=0, mode="avg", aligned=1),
        helper.make_node("MMCVMultiLevelRoiAlign", ["rois", "f0", "f1"], ["b"], name="extractor",
                         domain="mmdeploy", output_height=7, output_width=7, pool_mode=1,
                         sampling_ratio=0, roi_scale_factor=1.0, finest_scale=56,
                         featmap_strides=STRIDES, aligned=1),
        helper.make_node("MMCVRoIAlignRotated", ["input", "rotated"], ["c"], name="rotated",
                         domain="mmdeploy", output_height=3, output_width=2, spatial_scale=0.5,
                         sampling_ratio=2, aligned=1, clockwise=1),
        helper.make_node("MMCVDeformRoIPool", ["input", "rois", "offset"], ["d"], name="deform",
                         domain="mmcv", pooled_height=3, pooled_width=2, spatial_scale=0.5,
                         sampling_ratio=2.0, gamma=0.1),
        helper.make_node("PrRoIPool", ["input", "rois"], ["e"], name="prroi", domain="mmcv",
                         pooled_height=3, pooled_width=2),
    ]
    value = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in [
        ("input", [B, C, H, W]), ("rois", ["K", 5]), ("rotated", ["K", 6]),
        ("offset", ["K", 2, 3, 2]), ("f0", [B, C, 16, 20]), ("f1", [B, C, 8, 10])]]
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in "abcde"]
    graph = helper.make_graph(nodes, "mmdeploy", value, outputs)
    return helper.make_model(graph, ir_version=13, opset_imports=[
        helper.make_opsetid("", 17), helper.make_opsetid("mmcv", 1),
        helper.make_opsetid("mmdeploy", 1)])


def graph_feeds(generator: torch.Generator) -> dict[str, np.ndarray]:
    k = 6
    rois = random_rois(k, B, H, W, generator=generator, spatial_scale=0.5, min_size=2.0)
    return {"input": torch.randn(B, C, H, W, generator=generator).numpy(), "rois": rois.numpy(),
            "rotated": rotated_rois(k, generator).numpy(),
            "offset": (torch.randn(k, 2, 3, 2, generator=generator) * 0.2).numpy(),
            "f0": torch.randn(B, C, 16, 20, generator=generator).numpy(),
            "f1": torch.randn(B, C, 8, 10, generator=generator).numpy()}


def test_converter_round_trip_keeps_outputs(generator: torch.Generator) -> None:
    from roipool.export.mmdeploy import convert_mmdeploy

    model = mmdeploy_graph()
    feeds = graph_feeds(generator)
    before = create_session(model.SerializeToString()).run(None, feeds)
    converted = convert_mmdeploy(model)
    assert [c.target for c in converted] == [
        "roipool::RoIAlign", "roipool::MultiScaleRoIAlign", "roipool::RoIAlignRotated",
        "roipool::DeformRoIPool", "roipool::PrRoIPool"]
    assert {n.domain for n in model.graph.node} == {"roipool"}
    assert {o.domain for o in model.opset_import} == {"", "roipool"}
    for node in model.graph.node:
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        assert attributes["plugin_namespace"] == b"roipool"
    extractor = {a.name: helper.get_attribute_value(a) for a in model.graph.node[1].attribute}
    assert extractor["level_mapping"] == b"mmdet" and extractor["canonical_scale"] == 56.0
    assert extractor["spatial_scales"] == [0.25, 0.125]
    after = create_session(model.SerializeToString()).run(None, feeds)
    for old, new in zip(before, after, strict=True):
        assert old.shape == new.shape and np.array_equal(old, new)
        assert np.abs(old).sum() > 0


@pytest.mark.parametrize("attributes,match", [
    (dict(pool_mode=0), r"max pooling"),
    (dict(pool_mode=1, roi_scale_factor=2.0), r"legacy \(w \+ 1\) rule"),
])
def test_converter_refuses_what_roipool_cannot_express(attributes: dict[str, Any],
                                                       match: str) -> None:
    from roipool.export.mmdeploy import convert_mmdeploy

    inputs = [("rois", ["K", 5]), ("f0", [B, C, 16, 20]), ("f1", [B, C, 8, 10])]
    model = alias_model("MMCVMultiLevelRoiAlign", "mmdeploy", inputs, featmap_strides=STRIDES,
                        **attributes)
    node = r"node 'roi' \(mmdeploy::MMCVMultiLevelRoiAlign\)"
    with pytest.raises(ValueError, match=rf"{node}.*{match}"):
        convert_mmdeploy(model)


def test_cli_convert_mmdeploy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from roipool.cli import main

    source, target = tmp_path / "mmdeploy.onnx", tmp_path / "roipool.onnx"
    model = mmdeploy_graph()
    onnx.save(model, source)
    assert main(["convert-mmdeploy", str(source), str(target), "--dim", "K=5"]) == 0
    printed = capsys.readouterr().out
    assert "extractor: mmdeploy::MMCVMultiLevelRoiAlign -> roipool::MultiScaleRoIAlign" in printed
    assert "all 5 outputs identical" in printed
    assert {n.domain for n in onnx.load(target).graph.node} == {"roipool"}


def test_alias_table_matches_the_docs() -> None:
    from roipool import _schema

    docs = (Path(__file__).parents[1] / "docs" / "mmdeploy.md").read_text()
    for alias in _schema.aliases():
        assert f"`{alias.name}`" in docs
        for attribute in alias.attributes:
            assert f"`{attribute.name}`" in docs
    assert len(_schema.aliases()) == 5
