"""The torch.ops.roipool custom ops and the public API: gradients, fake shapes,
validation, modules and (when importable) exact agreement with torchvision."""

from __future__ import annotations

import math

import pytest
import roipool.ops as O
import torch
from conftest import random_rois
from roipool.ops import reference as R
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.library import opcheck


@pytest.fixture(autouse=True)
def _reference_path(monkeypatch):
    """Run the reference (not the native core) so these tests check this package."""
    monkeypatch.setenv("ROIPOOL_DISABLE_NATIVE", "1")


def _rotated(rois: torch.Tensor) -> torch.Tensor:
    centre = (rois[:, 1:3] + rois[:, 3:5]) / 2
    return torch.cat([rois[:, :1], centre, rois[:, 3:5] - rois[:, 1:3],
                      torch.linspace(-1, 1, len(rois), dtype=rois.dtype)[:, None]], 1)


# Each public function as f(input, rois, offset) for a 2x3 output on 12-channel maps.
PUBLIC = {
    "roi_pool": lambda x, r, o: O.roi_pool(x, r, (2, 3), 0.5),
    "roi_align": lambda x, r, o: O.roi_align(x, r, (2, 3), 0.5, 2),
    "roi_align_adaptive": lambda x, r, o: O.roi_align(x, r, (2, 3), 0.5, 0, True),
    "roi_align_max": lambda x, r, o: O.roi_align(x, r, (2, 3), 0.5, 2, True, "max"),
    "roi_warp": lambda x, r, o: O.roi_warp(x, r, (2, 3), 0.5, 2),
    "ps_roi_pool": lambda x, r, o: O.ps_roi_pool(x, r, (2, 3), 0.5),
    "ps_roi_align": lambda x, r, o: O.ps_roi_align(x, r, (2, 3), 0.5, 2),
    "deform_roi_pool": lambda x, r, o: O.deform_roi_pool(x, r, o, (2, 3), 0.5, 2, 0.1),
    "multi_scale_roi_align": lambda x, r, o: O.multi_scale_roi_align(
        [x, x[:, :, ::2, ::2]], r, (2, 3), [0.5, 0.25], 2, level_mapping="mmdet",
        canonical_scale=8.0),
    "roi_align_rotated": lambda x, r, o: O.roi_align_rotated(x, _rotated(r), (2, 3), 0.5, 2),
    "prroi_pool": lambda x, r, o: O.prroi_pool(x, r, (2, 3), 0.5),
}


def _inputs(dtype=torch.float64, num_rois=3):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 12, 7, 8, generator=generator, dtype=dtype)
    rois = random_rois(num_rois, 2, 7, 8, generator=generator, spatial_scale=0.5,
                       min_size=3, outside=0.0).to(dtype)
    offset = 0.3 * torch.randn(num_rois, 2, 2, 3, generator=generator, dtype=dtype)
    return x, rois, offset


@pytest.mark.parametrize("op", PUBLIC)
def test_gradcheck_wrt_input(op):
    x, rois, offset = _inputs()
    x.requires_grad_()
    assert torch.autograd.gradcheck(lambda t: PUBLIC[op](t, rois, offset), (x,), fast_mode=True)


def test_gradcheck_deform_offset_and_mask():
    x, rois, offset = _inputs()
    mask = torch.rand(3, 1, 2, 3, dtype=torch.float64)
    args = (x.requires_grad_(), offset.requires_grad_(), mask.requires_grad_())
    assert torch.autograd.gradcheck(
        lambda a, o, m: O.deform_roi_pool(a, rois, o, (2, 3), 0.5, 2, 0.1, mask=m), args,
        fast_mode=True)


def test_gradcheck_prroi_pool_wrt_boxes():
    x, rois, _ = _inputs()
    coords = rois[:, 1:].clone().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda c: O.prroi_pool(x, torch.cat([rois[:, :1], c], 1), (2, 3), 0.5), (coords,),
        fast_mode=True)


def test_gradient_matches_reference_vjp_for_float32():
    x, rois, _ = _inputs(torch.float32)
    x.requires_grad_()
    grad = torch.randn(3, 12, 2, 3)
    (O.roi_align(x, rois, (2, 3), 0.5, 0) * grad).sum().backward()
    expected_x = x.detach().double().requires_grad_()
    R.roi_align_reference(expected_x, rois.double(), 2, 3, 0.5, 0, False, "avg").mul(
        grad.double()).sum().backward()
    torch.testing.assert_close(x.grad.double(), expected_x.grad, atol=1e-5, rtol=0)


OPCHECK_ARGS = {
    "roi_pool": lambda x, r: (x, r, 2, 3, 0.5),
    "roi_align": lambda x, r: (x, r, 2, 3, 0.5, 0, False, "avg"),
    "roi_warp": lambda x, r: (x, r, 2, 3, 0.5, 2, False, "max"),
    "ps_roi_pool": lambda x, r: (x, r, 2, 3, 0.5),
    "ps_roi_align": lambda x, r: (x, r, 2, 3, 0.5, 2),
    "deform_roi_pool": lambda x, r: (x, r, torch.zeros(len(r), 2, 2, 3, requires_grad=True),
                                     None, 2, 3, 0.5, 2, 0.1),
    "multi_scale_roi_align": lambda x, r: (r, [x, x.detach()[:, :, ::2, ::2]], 2, 3, 2, True,
                                           [0.5, 0.25], "torchvision", 224.0, 4, 1.0),
    "roi_align_rotated": lambda x, r: (x, _rotated(r), 2, 3, 0.5, 2, True, True),
    "prroi_pool": lambda x, r: (x, r, 2, 3, 0.5),
}


@pytest.mark.parametrize("op", OPCHECK_ARGS)
def test_opcheck(op):
    """Schema, fake kernel (symbolic K), autograd registration and AOT dispatch."""
    x, rois, _ = _inputs(torch.float32)
    args = OPCHECK_ARGS[op](x.requires_grad_(), rois)
    opcheck(getattr(torch.ops.roipool, op).default, args)


@pytest.mark.parametrize("op", OPCHECK_ARGS)
def test_fake_tensor_shapes(op):
    x, rois, _ = _inputs(torch.float32, num_rois=5)
    with FakeTensorMode() as mode:
        fake_x, fake_rois = mode.from_tensor(x), mode.from_tensor(rois)
        out = getattr(torch.ops.roipool, op)(*OPCHECK_ARGS[op](fake_x, fake_rois))
    channels = 2 if op.startswith("ps_") else 12
    assert tuple(out.shape) == (5, channels, 2, 3)


def test_compile_keeps_num_rois_dynamic():
    x, rois, _ = _inputs(torch.float32, num_rois=4)
    compiled = torch.compile(lambda a, r: O.roi_align(a, r, (2, 3), 0.5, 2), backend="eager",
                             dynamic=True, fullgraph=True)
    torch.testing.assert_close(compiled(x, rois), O.roi_align(x, rois, (2, 3), 0.5, 2))
    assert compiled(x, rois[:1]).shape == (1, 12, 2, 3)


@pytest.mark.parametrize("op", PUBLIC)
def test_zero_rois(op):
    x, _, _ = _inputs(torch.float32)
    empty = torch.zeros(0, 5)
    out = PUBLIC[op](x, empty, torch.zeros(0, 2, 2, 3))
    assert out.shape[0] == 0 and out.shape[2:] == (2, 3)


@pytest.mark.parametrize("op", PUBLIC)
def test_float16_and_bfloat16_keep_dtype(op):
    x, rois, offset = _inputs(torch.float32)
    for dtype in (torch.float16, torch.bfloat16):
        out = PUBLIC[op](x.to(dtype), rois, offset.to(dtype))
        assert out.dtype == dtype


def test_list_of_boxes_equals_roi_tensor():
    x, rois, _ = _inputs()
    per_image = [rois[rois[:, 0] == i, 1:] for i in range(2)]
    ordered = torch.cat([rois[rois[:, 0] == i] for i in range(2)])
    torch.testing.assert_close(O.roi_align(x, per_image, 2, 0.5, 2),
                               O.roi_align(x, ordered, 2, 0.5, 2))


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda x, r: O.roi_align(x[0], r, 2), ValueError, "input must be"),
    (lambda x, r: O.roi_align(x.long(), r, 2), TypeError, "input must be floating"),
    (lambda x, r: O.roi_align(x, r[:, :4], 2), ValueError, r"boxes must be \[K, 5\]"),
    (lambda x, r: O.roi_align(x, r.long(), 2), TypeError, "boxes must be floating"),
    (lambda x, r: O.roi_align(x, r.to("meta"), 2), ValueError, "boxes are on"),
    (lambda x, r: O.roi_align(x, r, 0), ValueError, r"output_size must be in \[1, 65535\]"),
    (lambda x, r: O.roi_align(x, r, (2, 2.5)), TypeError, "output_size"),
    (lambda x, r: O.roi_align(x, r, 2, mode="min"), ValueError, "mode"),
    (lambda x, r: O.ps_roi_align(x, r, 5), ValueError, "divisible"),
    (lambda x, r: O.roi_align(x, [r[:, 1:], r], 2), ValueError, r"boxes\[1\]"),
    (lambda x, r: O.deform_roi_pool(x, r, torch.zeros(3, 2, 3, 3), 2), ValueError, "offset"),
    (lambda x, r: O.multi_scale_roi_align([x], r, 2, [0.5, 0.25]), ValueError, "spatial_scales"),
    (lambda x, r: O.multi_scale_roi_align([x], r, 2, [0.5], level_mapping="x"), ValueError,
     "level_mapping"),
    (lambda x, r: O.roi_align_rotated(x, r, 2), ValueError, r"\[K, 6\]"),
])
def test_validation_errors(call, error, match):
    x, rois, _ = _inputs(torch.float32)
    with pytest.raises(error, match=match):
        call(x, rois)


@pytest.mark.parametrize(("value", "row"), [(2.0, 1), (-1.0, 1), (0.5, 1), (math.nan, 1)])
def test_bad_batch_index_names_the_row(value, row):
    x, rois, _ = _inputs(torch.float32)
    rois[row, 0] = value
    with pytest.raises(ValueError, match=f"boxes row {row}: batch index"):
        O.roi_pool(x, rois, 2)


def test_custom_op_zeroes_bad_batch_index_instead_of_raising():
    x, rois, _ = _inputs(torch.float32)
    rois[1, 0] = 7.0
    out = torch.ops.roipool.roi_align(x, rois, 2, 2, 0.5, 2, False, "avg")
    assert out[1].abs().max() == 0 and out[0].abs().max() > 0


def test_modules_match_functions():
    x, rois, offset = _inputs(torch.float32)
    pairs = [
        (O.RoIPool((2, 3), 0.5), PUBLIC["roi_pool"]),
        (O.RoIAlign((2, 3), 0.5, 2), PUBLIC["roi_align"]),
        (O.RoIWarp((2, 3), 0.5, 2), PUBLIC["roi_warp"]),
        (O.PSRoIPool((2, 3), 0.5), PUBLIC["ps_roi_pool"]),
        (O.PSRoIAlign((2, 3), 0.5, 2), PUBLIC["ps_roi_align"]),
        (O.PrRoIPool((2, 3), 0.5), PUBLIC["prroi_pool"]),
    ]
    for module, function in pairs:
        torch.testing.assert_close(module(x, rois), function(x, rois, offset))
        assert "output_size" in repr(module)
    deform = O.DeformRoIPool((2, 3), 0.5, 2, 0.1)
    torch.testing.assert_close(deform(x, rois, offset), PUBLIC["deform_roi_pool"](x, rois, offset))
    rotated = O.RoIAlignRotated((2, 3), 0.5, 2)
    torch.testing.assert_close(rotated(x, _rotated(rois)),
                               PUBLIC["roi_align_rotated"](x, rois, offset))


def test_multi_scale_module_infers_scales_like_torchvision():
    generator = torch.Generator().manual_seed(1)
    features = {"p2": torch.randn(2, 4, 16, 20, generator=generator),
                "p3": torch.randn(2, 4, 8, 10, generator=generator),
                "skip": torch.randn(2, 4, 3, 3, generator=generator)}
    boxes = [torch.tensor([[1.0, 2, 30, 40], [0, 0, 79, 63]]), torch.tensor([[5.0, 5, 9, 9]])]
    module = O.MultiScaleRoIAlign(["p2", "p3"], 3, 2)
    out = module(features, boxes, [(64, 80), (60, 70)])
    expected = O.multi_scale_roi_align([features["p2"], features["p3"]], boxes, 3,
                                       [0.25, 0.125], 2)
    torch.testing.assert_close(out, expected)
    listed = O.MultiScaleRoIAlign([], 3, 2, spatial_scales=[0.25, 0.125])
    torch.testing.assert_close(listed([features["p2"], features["p3"]], boxes), expected)


# ----------------------------------------------------------------------------- torchvision


def _torchvision():
    return pytest.importorskip("torchvision.ops", reason="torchvision is not importable")


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("sampling_ratio", [-1, 2])
def test_torchvision_roi_align_and_pool_agree(aligned, sampling_ratio):
    tv = _torchvision()
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(2, 5, 20, 24, generator=generator, dtype=torch.float64)
    rois = random_rois(20, 2, 20, 24, generator=generator, spatial_scale=0.5).double()
    torch.testing.assert_close(
        O.roi_align(x, rois, (3, 4), 0.5, sampling_ratio, aligned),
        tv.roi_align(x, rois, (3, 4), 0.5, sampling_ratio, aligned), rtol=0, atol=1e-12)
    torch.testing.assert_close(O.roi_pool(x, rois, (3, 4), 0.5), tv.roi_pool(x, rois, (3, 4), 0.5),
                               rtol=0, atol=0)


def test_torchvision_position_sensitive_ops_agree():
    tv = _torchvision()
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(2, 18, 20, 24, generator=generator, dtype=torch.float64)
    rois = random_rois(20, 2, 20, 24, generator=generator, spatial_scale=0.5, min_size=2).double()
    torch.testing.assert_close(O.ps_roi_pool(x, rois, 3, 0.5), tv.ps_roi_pool(x, rois, 3, 0.5),
                               rtol=0, atol=1e-12)
    torch.testing.assert_close(O.ps_roi_align(x, rois, 3, 0.5, 2),
                               tv.ps_roi_align(x, rois, 3, 0.5, 2), rtol=0, atol=1e-12)


def test_torchvision_multi_scale_roi_align_agrees():
    tv = _torchvision()
    generator = torch.Generator().manual_seed(4)
    features = {"0": torch.randn(2, 4, 32, 40, generator=generator),
                "1": torch.randn(2, 4, 16, 20, generator=generator)}
    boxes = [random_rois(6, 1, 128, 160, generator=generator)[:, 1:] for _ in range(2)]
    shapes = [(128, 160), (120, 150)]
    ours = O.MultiScaleRoIAlign(["0", "1"], 3, 2)(features, boxes, shapes)
    theirs = tv.MultiScaleRoIAlign(["0", "1"], 3, 2)(features, boxes, shapes)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)
