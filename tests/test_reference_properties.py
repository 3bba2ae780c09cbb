"""Hypothesis properties of the reference ops: exactly predictable maps and identities
between variants (SPEC section 3)."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from roipool.ops import reference as R

SETTINGS = settings(max_examples=25, deadline=None)
H, W = 9, 11


@st.composite
def inside_boxes(draw, num: int = 4, margin: float = 0.0, scale: float = 1.0):
    """[num, 5] float64 rois (batch 0 or 1) whose scaled corners lie in
    [margin, W-1-margin] x [margin, H-1-margin] with at least one cell of size."""
    rows = []
    for _ in range(num):
        x1 = draw(st.floats(margin, W - 2 - margin))
        y1 = draw(st.floats(margin, H - 2 - margin))
        x2 = draw(st.floats(x1 + 1, W - 1 - margin))
        y2 = draw(st.floats(y1 + 1, H - 1 - margin))
        rows.append([draw(st.integers(0, 1)), x1 / scale, y1 / scale, x2 / scale, y2 / scale])
    return torch.tensor(rows, dtype=torch.float64)


pooled = st.integers(1, 4)
ratios = st.integers(-1, 3)


def _linear_map(a: float, b: float, c: float, channels: int = 1) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float64),
                            torch.arange(W, dtype=torch.float64), indexing="ij")
    return (a * xs + b * ys + c).expand(2, channels, H, W).contiguous()


def _bin_centres(rois, ph, pw):
    x1, y1 = rois[:, 1], rois[:, 2]
    bw, bh = (rois[:, 3] - rois[:, 1]) / pw, (rois[:, 4] - rois[:, 2]) / ph
    cy = y1[:, None] + (torch.arange(ph) + 0.5) * bh[:, None]
    cx = x1[:, None] + (torch.arange(pw) + 0.5) * bw[:, None]
    return cy[:, :, None], cx[:, None, :]


coef = st.floats(-3, 3)


@SETTINGS
@given(inside_boxes(), pooled, pooled, ratios, st.floats(-5, 5))
def test_constant_map_is_reproduced(rois, ph, pw, sampling_ratio, value):
    x = torch.full((2, 3, H, W), value, dtype=torch.float64)
    for out in (R.roi_align_reference(x, rois, ph, pw, 1.0, sampling_ratio, False, "avg"),
                R.roi_align_reference(x, rois, ph, pw, 1.0, sampling_ratio, False, "max"),
                R.roi_pool_reference(x, rois, ph, pw, 1.0),
                R.prroi_pool_reference(x, rois, ph, pw, 1.0)):
        torch.testing.assert_close(out, torch.full_like(out, value))


@SETTINGS
@given(inside_boxes(margin=0.5), pooled, pooled, st.integers(1, 3), coef, coef, coef)
def test_linear_map_gives_bin_centre_values(rois, ph, pw, sampling_ratio, a, b, c):
    """Bilinear interpolation is exact on a linear map and the sample grid is symmetric
    about the bin centre, so RoIAlign (aligned) returns the map at the bin centre;
    PrRoIPool integrates it exactly, which is again the centre value."""
    x = _linear_map(a, b, c)
    cy, cx = _bin_centres(rois, ph, pw)
    expected = (a * cx + b * cy + c).unsqueeze(1)
    aligned = rois.clone()
    aligned[:, 1:] += 0.5  # aligned=True subtracts it again
    out = R.roi_align_reference(x, aligned, ph, pw, 1.0, sampling_ratio, True, "avg")
    torch.testing.assert_close(out, expected.expand_as(out))
    prroi = R.prroi_pool_reference(x, rois, ph, pw, 1.0)
    torch.testing.assert_close(prroi, expected.expand_as(prroi))


@SETTINGS
@given(st.lists(st.integers(-3, 14), min_size=4, max_size=4), pooled, pooled, ratios,
       st.sampled_from(["avg", "max"]))
def test_roi_warp_equals_roi_align_on_integer_corners(corners, ph, pw, sampling_ratio, mode):
    x = torch.randn(1, 2, H, W, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x1, x2 = sorted(corners[:2])
    y1, y2 = sorted(corners[2:])
    rois = torch.tensor([[0, x1, y1, x2, y2]], dtype=torch.float64) * torch.tensor(
        [1, 4, 4, 4, 4])  # scale 1/4 maps them back to integers
    warp = R.roi_warp_reference(x, rois, ph, pw, 0.25, sampling_ratio, True, mode)
    align = R.roi_align_reference(x, rois, ph, pw, 0.25, sampling_ratio, False, mode)
    torch.testing.assert_close(warp, align, rtol=0, atol=0)


@SETTINGS
@given(inside_boxes(margin=0.0, scale=0.5), pooled, pooled, ratios, st.integers(1, 2))
def test_ps_roi_align_reads_the_bin_channel(rois, ph, pw, sampling_ratio, out_channels):
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(2, out_channels * ph * pw, H, W, dtype=torch.float64, generator=generator)
    ps = R.ps_roi_align_reference(x, rois, ph, pw, 0.5, sampling_ratio)
    full = R.roi_align_reference(x, rois, ph, pw, 0.5, sampling_ratio, True, "avg")
    for c in range(out_channels):
        for i in range(ph):
            for j in range(pw):
                torch.testing.assert_close(ps[:, c, i, j], full[:, (c * ph + i) * pw + j, i, j])


@SETTINGS
@given(inside_boxes(), pooled, pooled)
def test_ps_roi_pool_channel_mapping(rois, ph, pw):
    channels = 2 * ph * pw
    x = torch.arange(channels, dtype=torch.float64).view(1, -1, 1, 1).expand(2, -1, H, W)
    out = R.ps_roi_pool_reference(x, rois, ph, pw, 1.0)
    expected = torch.arange(channels, dtype=torch.float64).view(2, ph, pw)
    nonempty = out.sum(1, keepdim=True) != 0  # bins can be empty after the [0, H-1] clip
    torch.testing.assert_close(out * nonempty, expected.expand_as(out) * nonempty)


@SETTINGS
@given(inside_boxes(), pooled, pooled, ratios, st.floats(0.01, 0.5))
def test_deform_roi_pool_zero_offset_and_mask(rois, ph, pw, sampling_ratio, gamma):
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, H, W, dtype=torch.float64, generator=generator)
    k = rois.shape[0]
    zero = torch.zeros(k, 2, ph, pw, dtype=torch.float64)
    plain = R.deform_roi_pool_reference(x, rois, zero, None, ph, pw, 1.0, sampling_ratio, gamma)
    align = R.roi_align_reference(x, rois, ph, pw, 1.0, sampling_ratio, True, "avg")
    torch.testing.assert_close(plain, align)
    offset = torch.randn(k, 2, ph, pw, dtype=torch.float64, generator=generator)
    mask = torch.rand(k, 1, ph, pw, dtype=torch.float64, generator=generator)
    shifted = R.deform_roi_pool_reference(x, rois, offset, None, ph, pw, 1.0, sampling_ratio,
                                          gamma)
    masked = R.deform_roi_pool_reference(x, rois, offset, mask, ph, pw, 1.0, sampling_ratio,
                                         gamma)
    torch.testing.assert_close(masked, shifted * mask)


def test_deform_offset_shifts_bins_by_gamma_times_roi_size():
    x = _linear_map(1.0, 10.0, 0.0)
    rois = torch.tensor([[0, 2.5, 2.5, 6.5, 4.5]], dtype=torch.float64)  # 4 x 2 cells
    offset = torch.tensor([0.5, -1.0], dtype=torch.float64).view(1, 2, 1, 1)
    out = R.deform_roi_pool_reference(x, rois, offset, None, 1, 1, 1.0, 2, 0.25)
    # Centre (4, 3) in map cells (after -0.5) shifts by (0.25*4*0.5, 0.25*2*-1) = (0.5, -0.5).
    torch.testing.assert_close(out.flatten(), torch.tensor([4.5 + 10 * 2.5], dtype=torch.float64))


@SETTINGS
@given(inside_boxes(margin=1.0), pooled, pooled, st.integers(1, 3), st.booleans())
def test_rotated_with_zero_angle_equals_roi_align(rois, ph, pw, sampling_ratio, aligned):
    x = torch.randn(2, 2, H, W, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    centre = (rois[:, 1:3] + rois[:, 3:5]) / 2
    size = rois[:, 3:5] - rois[:, 1:3]
    rotated = torch.cat([rois[:, :1], centre, size, torch.zeros_like(size[:, :1])], dim=1)
    for clockwise in (False, True):
        out = R.roi_align_rotated_reference(x, rotated, ph, pw, 1.0, sampling_ratio, aligned,
                                            clockwise)
        expected = R.roi_align_reference(x, rois, ph, pw, 1.0, sampling_ratio, aligned, "avg")
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-10)


def test_rotated_half_turn_flips_the_bins():
    x = torch.randn(1, 2, H, W, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    box = torch.tensor([[0, 5.0, 4.0, 4.0, 2.0, 0.0]], dtype=torch.float64)
    turned = box.clone()
    turned[0, 5] = math.pi
    a = R.roi_align_rotated_reference(x, box, 2, 2, 1.0, 2, True, False)
    b = R.roi_align_rotated_reference(x, turned, 2, 2, 1.0, 2, True, False)
    torch.testing.assert_close(b, a.flip(2, 3), rtol=0, atol=1e-10)


def _expected_level(rois, mapping, canonical, level0, scales):
    side = math.sqrt(max((rois[3] - rois[1]) * (rois[4] - rois[2]), 0.0))
    if mapping == "mmdet":
        target = math.floor(math.log2(side / canonical + 1e-6)) if side > 0 else 0
        return min(max(target, 0), len(scales) - 1)
    kmin, kmax = int(-math.log2(scales[0])), int(-math.log2(scales[-1]))
    target = math.floor(level0 + math.log2(side / canonical) + 1e-6) if side > 0 else kmin
    return min(max(target, kmin), kmax) - kmin


@SETTINGS
@given(st.lists(st.tuples(st.floats(0, 60), st.floats(0, 60), st.floats(1, 120),
                          st.floats(1, 120)), min_size=1, max_size=6),
       st.sampled_from(["torchvision", "mmdet"]), st.integers(1, 2), st.booleans(),
       st.sampled_from([1.0, 1.5]))
def test_multi_scale_equals_per_level_roi_align(boxes, mapping, sampling_ratio, aligned,
                                               factor):
    generator = torch.Generator().manual_seed(6)
    scales = [1 / 4, 1 / 8, 1 / 16]
    features = [torch.randn(2, 2, 32 // 2**i, 40 // 2**i, dtype=torch.float64,
                            generator=generator) for i in range(3)]
    rois = torch.tensor([[i % 2, x, y, x + w, y + h] for i, (x, y, w, h) in enumerate(boxes)],
                        dtype=torch.float64)
    canonical = 56.0 if mapping == "mmdet" else 16.0
    out = R.multi_scale_roi_align_reference(rois, features, 3, 2, sampling_ratio, aligned, scales,
                                            mapping, canonical, 3, factor)
    for k, roi in enumerate(rois.tolist()):
        level = _expected_level(roi, mapping, canonical, 3, scales)
        cx, cy = (roi[1] + roi[3]) / 2, (roi[2] + roi[4]) / 2
        hw, hh = (roi[3] - roi[1]) * factor / 2, (roi[4] - roi[2]) * factor / 2
        scaled = torch.tensor([[roi[0], cx - hw, cy - hh, cx + hw, cy + hh]], dtype=torch.float64)
        expected = R.roi_align_reference(features[level], scaled, 3, 2, scales[level],
                                         sampling_ratio, aligned, "avg")
        torch.testing.assert_close(out[k:k + 1], expected, rtol=0, atol=1e-12)
