"""capture_torchvision(): torchvision's RoI ops routed through roipool.

With real torchvision the captured ops are compared with torchvision's own and exported.
Without it (this CI), a stand-in package reproduces the part of torchvision's layout that
the capture relies on: functions called as module globals (``RoIAlign.forward`` ->
``torchvision.ops.roi_align.roi_align``, ``MultiScaleRoIAlign`` -> ``poolers``), with
bodies that fail if they are ever reached.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import types
import warnings

import onnx
import pytest
import torch
from roipool import ops
from roipool.export import DOMAIN, capture_torchvision, export_onnx

HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None

_STAND_IN_SOURCE = {
    "torchvision.ops.roi_align": '''
import torch
def roi_align(input, boxes, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False):
    raise AssertionError("torchvision roi_align reached")
class RoIAlign(torch.nn.Module):
    def __init__(self, output_size, spatial_scale, sampling_ratio, aligned=False):
        super().__init__()
        self.args = (output_size, spatial_scale, sampling_ratio, aligned)
    def forward(self, input, rois):
        return roi_align(input, rois, *self.args)
''',
    "torchvision.ops.roi_pool": '''
def roi_pool(input, boxes, output_size, spatial_scale=1.0):
    raise AssertionError("torchvision roi_pool reached")
''',
    "torchvision.ops.ps_roi_align": '''
def ps_roi_align(input, boxes, output_size, spatial_scale=1.0, sampling_ratio=-1):
    raise AssertionError("torchvision ps_roi_align reached")
''',
    "torchvision.ops.ps_roi_pool": '''
def ps_roi_pool(input, boxes, output_size, spatial_scale=1.0):
    raise AssertionError("torchvision ps_roi_pool reached")
''',
    "torchvision.ops.poolers": '''
import torch
from torchvision.ops.roi_align import roi_align
class MultiScaleRoIAlign(torch.nn.Module):
    def __init__(self, featmap_names, output_size, sampling_ratio, *, canonical_scale=224,
                 canonical_level=4):
        super().__init__()
        self.featmap_names = featmap_names
        self.output_size = output_size
        self.sampling_ratio = sampling_ratio
        self.canonical_scale = canonical_scale
        self.canonical_level = canonical_level
    def forward(self, x, boxes, image_shapes):
        raise AssertionError("torchvision MultiScaleRoIAlign.forward reached")
''',
}


@pytest.fixture
def torchvision_stand_in(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    if HAS_TORCHVISION:
        pytest.skip("real torchvision is importable; the stand-in is not needed")
    package = types.ModuleType("torchvision")
    package.__path__ = []
    ops_package = types.ModuleType("torchvision.ops")
    ops_package.__path__ = []
    package.ops = ops_package
    monkeypatch.setitem(sys.modules, "torchvision", package)
    monkeypatch.setitem(sys.modules, "torchvision.ops", ops_package)
    for name, source in _STAND_IN_SOURCE.items():
        module = types.ModuleType(name)
        monkeypatch.setitem(sys.modules, name, module)
        exec(compile(source, name, "exec"), module.__dict__)
        short = name.rsplit(".", 1)[1]
        setattr(ops_package, short, getattr(module, short, module))
    ops_package.RoIAlign = sys.modules["torchvision.ops.roi_align"].RoIAlign
    ops_package.MultiScaleRoIAlign = sys.modules["torchvision.ops.poolers"].MultiScaleRoIAlign
    return package


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(2, 8, 12, 16, generator=generator)
    rois = torch.tensor([[0, 1.0, 2.0, 20.0, 18.0], [1, 4.0, 0.0, 30.0, 22.0]])
    return features, rois


def test_stand_in_functions_and_modules_are_routed(torchvision_stand_in: types.ModuleType,
                                                   ) -> None:
    tv_ops = torchvision_stand_in.ops
    features, rois = _inputs()
    with capture_torchvision():
        routed = tv_ops.roi_align(features, rois, (2, 2), 0.5, 2, True)
        module_out = tv_ops.RoIAlign((2, 2), 0.5, 2, True)(features, rois)
        pooled = tv_ops.roi_pool(features, rois, 2, 0.5)
        ps = tv_ops.ps_roi_align(features, rois, 2, 0.5, 2)
    expected = ops.roi_align(features, rois, (2, 2), 0.5, 2, True)
    assert torch.equal(routed, expected) and torch.equal(module_out, expected)
    assert torch.equal(pooled, ops.roi_pool(features, rois, 2, 0.5))
    assert torch.equal(ps, ops.ps_roi_align(features, rois, 2, 0.5, 2))
    # Restored on exit: the stand-in bodies run again.
    with pytest.raises(AssertionError, match="torchvision roi_align reached"):
        tv_ops.roi_align(features, rois, (2, 2), 0.5, 2, True)


def test_stand_in_multi_scale_matches_torchvision_level_rules(
        torchvision_stand_in: types.ModuleType) -> None:
    pooler = torchvision_stand_in.ops.MultiScaleRoIAlign(["p2", "p3"], 3, 2)
    generator = torch.Generator().manual_seed(1)
    maps = {"p2": torch.randn(2, 4, 16, 24, generator=generator),
            "p3": torch.randn(2, 4, 8, 12, generator=generator)}
    boxes = [torch.tensor([[0.0, 0.0, 60.0, 50.0], [5.0, 5.0, 20.0, 20.0]]),
             torch.tensor([[10.0, 8.0, 90.0, 60.0]])]
    with capture_torchvision():
        out = pooler(maps, boxes, [(64, 96), (60, 90)])
    # Feature height 16 over image height 64 -> scale 1/4, then 1/8 (torchvision's rule).
    expected = ops.multi_scale_roi_align([maps["p2"], maps["p3"]], boxes, 3, [0.25, 0.125], 2)
    assert torch.equal(out, expected)


def test_stand_in_export_gives_roipool_nodes(torchvision_stand_in: types.ModuleType) -> None:
    class Head(torch.nn.Module):
        def forward(self, features: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
            return torchvision_stand_in.ops.roi_align(features, rois, (2, 2), 0.5, 2, True)

    features, rois = _inputs()
    with capture_torchvision(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = export_onnx(Head(), (features, rois), dynamo=False,
                            input_names=["features", "rois"])
    onnx.checker.check_model(model)
    assert [(n.domain, n.op_type) for n in model.graph.node] == [(DOMAIN, "RoIAlign")]


def test_capture_without_torchvision_raises_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    if HAS_TORCHVISION:
        pytest.skip("torchvision is importable")
    monkeypatch.setitem(sys.modules, "torchvision", None)
    with pytest.raises(ModuleNotFoundError, match="needs torchvision"), capture_torchvision():
        pass


@pytest.mark.skipif(not HAS_TORCHVISION, reason="torchvision is not importable")
def test_real_torchvision_ops_match_and_export() -> None:
    import torchvision

    features, rois = _inputs()
    tv_out = torchvision.ops.roi_align(features, rois, (2, 2), 0.5, 2, True)
    pooler = torchvision.ops.MultiScaleRoIAlign(["p2"], 3, 2)
    maps = {"p2": features}
    boxes = [rois[:1, 1:], rois[1:, 1:]]
    tv_multi = pooler(maps, boxes, [(24, 32)])
    pooler = torchvision.ops.MultiScaleRoIAlign(["p2"], 3, 2)
    with capture_torchvision():
        captured = torchvision.ops.roi_align(features, rois, (2, 2), 0.5, 2, True)
        captured_multi = pooler(maps, boxes, [(24, 32)])
    torch.testing.assert_close(captured, tv_out, atol=1e-5, rtol=0)
    torch.testing.assert_close(captured_multi, tv_multi, atol=1e-5, rtol=0)

    class Head(torch.nn.Module):
        def forward(self, f: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
            return torchvision.ops.roi_align(f, r, (2, 2), 0.5, 2, True)

    with capture_torchvision(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        model = export_onnx(Head(), (features, rois), dynamo=True, input_names=["f", "r"])
        logging.disable(logging.NOTSET)
    assert [(n.domain, n.op_type) for n in model.graph.node] == [(DOMAIN, "RoIAlign")]
