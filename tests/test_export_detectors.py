"""Whole torchvision detectors (images -> detections) exported with both exporters, run in
ONNX Runtime with roipool and compared with eager torchvision; and torchvision's RoI
poolers under capture_torchvision() on the models' own features and proposals.

Every detector is exported once per exporter (module-scoped fixture), with random
weights and small images (``random_detector``: min_size 256, max_size 384).
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import warnings
from collections import OrderedDict

import numpy as np
import onnx
import pytest
import torch

pytestmark = pytest.mark.skipif(importlib.util.find_spec("torchvision") is None,
                                reason="torchvision is not importable")

from roipool import ops  # noqa: E402
from roipool.export import (  # noqa: E402
    DOMAIN,
    DetectorExportError,
    _rewrites,
    capture_torchvision,
    export_detector,
    export_onnx,
)
from roipool.export.detector_parity import (  # noqa: E402
    DETECTORS,
    TOLERANCE,
    quiet_export,
    random_detector,
    run_parity,
    smooth_images,
)

#: Traced example; the test images differ in size and aspect (portrait ones included),
#: and their RPNs keep other numbers of proposals.
EXAMPLE_SIZE = (240, 320)
IMAGE_SIZES = [(300, 260), (200, 400), (333, 251)]
CASES = [(name, dynamo) for name in DETECTORS for dynamo in (True, False)]
#: A constant image on which the random-weight Mask and Keypoint R-CNN (ResNet-50 v1)
#: keep no detection; the other builds find a few boxes on it, whose scores tie near the
#: threshold (no meaningful parity case).
BLANK_VALUE = 10.0
BLANK_IS_EMPTY = ("maskrcnn_resnet50_fpn", "keypointrcnn_resnet50_fpn")


@pytest.fixture(scope="module", params=CASES,
                ids=[f"{n}-{'dynamo' if d else 'torchscript'}" for n, d in CASES])
def exported(request: pytest.FixtureRequest) -> tuple[torch.nn.Module, onnx.ModelProto]:
    name, dynamo = request.param
    model = random_detector(name)
    return model, quiet_export(model, dynamo=dynamo, example_size=EXAMPLE_SIZE)


def test_exported_graph_is_dynamic_with_roipool_and_nms_nodes(
        exported: tuple[torch.nn.Module, onnx.ModelProto]) -> None:
    model, proto = exported
    image = proto.graph.input[0].type.tensor_type.shape.dim
    assert image[0].dim_value == 3 and image[1].dim_param and image[2].dim_param
    for output in proto.graph.output:
        assert output.type.tensor_type.shape.dim[0].dim_param, output.name
    nodes = [(n.domain, n.op_type) for n in proto.graph.node]
    poolers = 1 + model.roi_heads.has_mask() + model.roi_heads.has_keypoint()
    assert nodes.count((DOMAIN, "MultiScaleRoIAlign")) == poolers
    assert nodes.count(("", "NonMaxSuppression")) == 2  # RPN and RoI heads
    assert not any(n[1] == "RoiAlign" for n in nodes)  # torchvision's RoIAlign replaced


def test_detections_match_eager_torchvision(
        exported: tuple[torch.nn.Module, onnx.ModelProto]) -> None:
    model, proto = exported
    results = run_parity(model, proto, smooth_images(IMAGE_SIZES))
    for result in results:
        assert result.eager_count == result.ort_count, result
        assert result.order_ok, result
        for name, error in result.errors.items():
            assert error <= result.tolerances[name], (name, result)
    counts = [r.eager_count for r in results]
    assert min(counts) >= 10 and len(set(counts)) > 1, counts  # tens, image-dependent
    assert len({r.proposals for r in results}) > 1


def test_no_detections_give_empty_outputs(
        exported: tuple[torch.nn.Module, onnx.ModelProto],
        request: pytest.FixtureRequest) -> None:
    """A blank image: eager torchvision keeps nothing; ORT gives N = 0 in every output
    (the keypoint loop runs zero times), the other dimensions intact."""
    if request.node.callspec.params["exported"][0] not in BLANK_IS_EMPTY:
        pytest.skip("this build finds boxes on the blank image (scores tied at its threshold)")
    model, proto = exported
    (result,) = run_parity(model, proto, [torch.full((3, 200, 280), BLANK_VALUE)])
    assert result.eager_count == 0 and result.ort_count == 0, result
    from roipool.runtime.ort import create_session

    outputs = create_session(proto.SerializeToString()).run(
        None, {"image": np.full((3, 200, 280), BLANK_VALUE, dtype=np.float32)})
    expected = {"boxes": (0, 4), "scores": (0,), "labels": (0,), "masks": (0, 1, 28, 28),
                "keypoints": (0, 17, 3), "keypoints_scores": (0, 17)}
    for output, value in zip(proto.graph.output, outputs, strict=True):
        assert value.shape == expected[output.name], output.name


@pytest.mark.parametrize("name", list(DETECTORS))
def test_roi_head_poolers_match_torchvision(name: str) -> None:
    """box / mask / keypoint poolers on the model's FPN features and RPN proposals
    (mobilenet_v3_320: maps '0', '1', 'pool' for featmap_names '0'..'3')."""
    model = random_detector(name, box_score_thresh=0.05)  # no calibration needed here
    image = smooth_images([(300, 260)])[0]
    heads = model.roi_heads
    with torch.no_grad():
        images, _ = model.transform([image])
        features = model.backbone(images.tensors)
        proposals, _ = model.rpn(images, features)
        for pooler in (heads.box_roi_pool, heads.mask_roi_pool, heads.keypoint_roi_pool):
            if pooler is None:
                continue
            fresh = copy.deepcopy(pooler)  # no cached scales: the capture infers them
            expected = pooler(features, proposals, images.image_sizes)
            with capture_torchvision():
                captured = fresh(features, proposals, images.image_sizes)
            atol = 1e-5 * max(1.0, float(expected.abs().max()))
            torch.testing.assert_close(captured, expected, atol=atol, rtol=0)


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "torchscript"])
def test_pooler_on_per_image_box_lists_keeps_k_dynamic(dynamo: bool) -> None:
    """torchvision's pooler called with a per-image list of boxes exports with K dynamic."""
    import torchvision

    pooler = torchvision.ops.MultiScaleRoIAlign(["0", "1"], 7, 2)

    class Pool(torch.nn.Module):
        def forward(self, f0: torch.Tensor, f1: torch.Tensor, boxes: torch.Tensor,
                    ) -> torch.Tensor:
            return pooler(OrderedDict([("0", f0), ("1", f1)]), [boxes], [(64, 96)])

    generator = torch.Generator().manual_seed(0)
    f0, f1 = torch.randn(1, 8, 16, 24, generator=generator), torch.randn(1, 8, 8, 12)
    boxes = torch.tensor([[1.0, 2.0, 40.0, 30.0], [10.0, 5.0, 90.0, 60.0]])
    with capture_torchvision(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        proto = export_onnx(Pool(), (f0, f1, boxes), dynamo=dynamo,
                            input_names=["f0", "f1", "boxes"], output_names=["pooled"],
                            dynamic_axes={"boxes": {0: "K"}, "pooled": {0: "K"}})
        logging.disable(logging.NOTSET)
    from roipool.runtime.ort import create_session

    session = create_session(proto.SerializeToString())
    for count in (5, 1, 0):
        other = torch.rand(count, 4, generator=generator) * 30
        other[:, 2:] += other[:, :2] + 1
        (pooled,) = session.run(None, {"f0": f0.numpy(), "f1": f1.numpy(),
                                       "boxes": other.numpy()})
        expected = pooler(OrderedDict([("0", f0), ("1", f1)]), [other], [(64, 96)])
        np.testing.assert_allclose(pooled, expected.numpy(), atol=1e-5, rtol=0)


def test_pooler_scale_comes_from_height_like_torchvision() -> None:
    """Feature 16 x 10 on a 64 x 64 image: height gives 1/4, width would give 1/8;
    torchvision takes the height, so do the capture and roipool's module (no error)."""
    import torchvision

    generator = torch.Generator().manual_seed(2)
    maps = {"p": torch.randn(1, 4, 16, 10, generator=generator)}
    boxes = [torch.tensor([[4.0, 4.0, 40.0, 30.0], [0.0, 8.0, 60.0, 60.0]])]
    expected = torchvision.ops.MultiScaleRoIAlign(["p"], 3, 2)(maps, boxes, [(64, 64)])
    with capture_torchvision():
        captured = torchvision.ops.MultiScaleRoIAlign(["p"], 3, 2)(maps, boxes, [(64, 64)])
    module = ops.MultiScaleRoIAlign(["p"], 3, 2)(maps, boxes, [(64, 64)])
    torch.testing.assert_close(captured, expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(module, expected, atol=1e-6, rtol=0)


def test_keypoint_loop_matches_torchvision_for_any_detection_count() -> None:
    """The keypoint rewrite alone (a while_loop, ONNX Loop) vs torchvision's
    heatmaps_to_keypoints for other detection counts than exported (0 included) and
    boxes from sub-pixel (clamped to 1) to larger than the heatmaps."""
    from torchvision.models.detection import roi_heads

    class Decode(torch.nn.Module):
        def forward(self, maps: torch.Tensor, rois: torch.Tensor,
                    ) -> tuple[torch.Tensor, torch.Tensor]:
            return _rewrites._heatmaps_to_keypoints(maps, rois)

    def inputs(count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        corner = torch.rand(count, 2, generator=generator) * 100
        size = torch.rand(count, 2, generator=generator) * 150
        size[: count // 3] *= 0.005  # sub-pixel boxes
        return (torch.randn(count, 5, 14, 14, generator=generator),
                torch.cat([corner, corner + size], dim=1))

    generator = torch.Generator().manual_seed(4)
    count = torch.export.Dim("K")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proto = torch.onnx.export(Decode(), inputs(4, generator), dynamo=True,
                                  input_names=["maps", "rois"],
                                  dynamic_shapes=({0: count}, {0: count})).model_proto
    assert any(node.op_type == "Loop" for node in proto.graph.node)
    from roipool.runtime.ort import create_session

    session = create_session(proto.SerializeToString())
    for k in (9, 1, 0):
        maps, rois = inputs(k, generator)
        keypoints, scores = session.run(None, {"maps": maps.numpy(), "rois": rois.numpy()})
        expected_keypoints, expected_scores = roi_heads.heatmaps_to_keypoints(maps, rois)
        assert keypoints.shape == (k, 5, 3) and scores.shape == (k, 5)
        np.testing.assert_array_equal(keypoints, expected_keypoints.numpy())
        np.testing.assert_allclose(scores, expected_scores.numpy(), rtol=0,
                                   atol=TOLERANCE["keypoints_scores"] * 10)


def test_unsupported_models_get_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DetectorExportError, match="GeneralizedRCNN"):
        export_detector(torch.nn.Conv2d(3, 3, 1))
    model = random_detector("keypointrcnn_resnet50_fpn", box_score_thresh=0.05)
    # An exporter without while_loop -> ONNX Loop (older torch) blocks Keypoint R-CNN.
    monkeypatch.setattr(_rewrites, "while_loop_export_blocker",
                        lambda: "this torch's ONNX exporter has no translation of while_loop")
    with pytest.raises(DetectorExportError, match=r"heatmaps_to_keypoints.*no translation"):
        export_detector(model, dynamo=True)
    monkeypatch.undo()
    assert _rewrites.while_loop_export_blocker() is None  # torch 2.14 writes ONNX Loop
    model.roi_heads = torch.nn.Identity()
    with pytest.raises(DetectorExportError, match=r"model\.roi_heads is a Identity"):
        export_detector(model, dynamo=False)
