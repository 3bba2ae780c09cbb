"""torch.jit.script of the functional API and the modules, as torchvision's ops script:
the scripted code calls the torch.ops.roipool ops and computes the eager result, from
tensor boxes and per-image box lists, also after a save / load round trip."""

from __future__ import annotations

import io
import warnings

import pytest
import roipool.ops
import torch
from roipool.ops import functional as F
from test_fx_trace import CASES, _inputs

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit is deprecated


def _script(obj: object) -> torch.jit.ScriptFunction | torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.script(obj)


def _round_trip(module: torch.jit.ScriptModule) -> torch.jit.ScriptModule:
    buffer = io.BytesIO()
    torch.jit.save(module, buffer)
    buffer.seek(0)
    return torch.jit.load(buffer)


@pytest.mark.parametrize("name", sorted(CASES))
def test_scripted_module_matches_eager(name: str) -> None:
    module, args = CASES[name]
    t = _inputs()
    scripted = _script(module)
    assert "roipool::" + name in str(scripted.inlined_graph)
    expected = module(*args(t))
    torch.testing.assert_close(scripted(*args(t)), expected, rtol=0, atol=0)
    torch.testing.assert_close(_round_trip(scripted)(*args(t)), expected, rtol=0, atol=0)


@pytest.mark.parametrize("name", F.PUBLIC_OPS)
def test_every_function_scripts(name: str) -> None:
    assert "roipool::" + name in str(_script(getattr(F, name)).graph)


def test_scripted_function_takes_box_lists() -> None:
    t = _inputs()
    boxes = [t["boxes"][:1, 1:], t["boxes"][1:, 1:]]
    scripted = _script(F.roi_align)
    expected = F.roi_align(t["x"], boxes, 3, 0.5, 2, True)
    torch.testing.assert_close(scripted(t["x"], boxes, [3, 3], 0.5, 2, True), expected,
                               rtol=0, atol=0)
    torch.testing.assert_close(expected, F.roi_align(t["x"], t["boxes"], 3, 0.5, 2, True),
                               rtol=0, atol=0)


@pytest.mark.parametrize("as_dict", [True, False], ids=["dict", "list"])
def test_scripted_multi_scale_roi_align(as_dict: bool) -> None:
    g = torch.Generator().manual_seed(1)
    maps = {"0": torch.randn(2, 4, 16, 16, generator=g), "1": torch.randn(2, 4, 8, 8, generator=g),
            "pool": torch.randn(2, 4, 4, 4, generator=g)}
    boxes = [torch.tensor([[1.0, 2.0, 30.0, 28.0], [4.0, 4.0, 9.0, 12.0]]),
             torch.tensor([[0.0, 0.0, 60.0, 50.0]])]
    image_shapes = [(64, 64), (60, 62)]
    module = roipool.ops.MultiScaleRoIAlign(["0", "1"], 3, 2)
    x = maps if as_dict else [maps["0"], maps["1"]]
    scripted = _script(module)
    expected = module(x, boxes, image_shapes)
    torch.testing.assert_close(scripted(x, boxes, image_shapes), expected, rtol=0, atol=0)
    torch.testing.assert_close(_round_trip(scripted)(x, boxes, image_shapes), expected,
                               rtol=0, atol=0)
    fixed = roipool.ops.MultiScaleRoIAlign(["0", "1"], 3, 2, spatial_scales=[0.25, 0.125])
    torch.testing.assert_close(_script(fixed)(x, boxes), fixed(x, boxes), rtol=0, atol=0)


def test_scripted_multi_scale_matches_torchvision() -> None:
    torchvision_ops = pytest.importorskip("torchvision.ops", reason="torchvision is not importable")
    g = torch.Generator().manual_seed(2)
    maps = {"0": torch.randn(1, 4, 20, 24, generator=g),
            "1": torch.randn(1, 4, 10, 12, generator=g)}
    boxes = [torch.tensor([[1.0, 2.0, 70.0, 60.0], [4.0, 4.0, 19.0, 22.0]])]
    image_shapes = [(80, 96)]
    ours = _script(roipool.ops.MultiScaleRoIAlign(["0", "1"], 3, 2))
    theirs = _script(torchvision_ops.MultiScaleRoIAlign(["0", "1"], 3, 2))
    torch.testing.assert_close(ours(maps, boxes, image_shapes), theirs(maps, boxes, image_shapes),
                               rtol=0, atol=1e-6)


def test_scripted_module_without_scales_is_an_error() -> None:
    scripted = _script(roipool.ops.MultiScaleRoIAlign(["0"], 3, 2))
    with pytest.raises(Exception, match="pass image_shapes or construct with spatial_scales"):
        scripted([torch.randn(1, 4, 8, 8)], [torch.tensor([[0.0, 0.0, 4.0, 4.0]])])
