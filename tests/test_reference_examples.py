"""Hand-worked examples and edge cases of the pure-PyTorch reference (roipool.ops.reference)."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import assert_spec_close, random_rois
from roipool.demo import PAPER_BOX, quantisation_errors
from roipool.ops import reference as R

RAMP8 = torch.arange(64, dtype=torch.float64).view(1, 1, 8, 8)  # v[h, w] = 8h + w


def _naive_bilinear(plane: torch.Tensor, y: float, x: float) -> float:
    """SPEC section 2, written out scalar by scalar."""
    h, w = plane.shape
    if not (-1 <= y <= h and -1 <= x <= w):
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = math.floor(y), math.floor(x)
    if y0 >= h - 1:
        y0 = y1 = h - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= w - 1:
        x0 = x1 = w - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    return float((1 - ly) * (1 - lx) * plane[y0, x0] + (1 - ly) * lx * plane[y0, x1]
                 + ly * (1 - lx) * plane[y1, x0] + ly * lx * plane[y1, x1])


def _naive_roi_align(input, rois, ph, pw, scale, sampling_ratio, aligned, mode):
    """Scalar-loop RoIAlign straight from SPEC 3.2, for comparison with the vectorised one."""
    out = torch.zeros(rois.shape[0], input.shape[1], ph, pw, dtype=torch.float64)
    for k, (b, x1, y1, x2, y2) in enumerate(rois.tolist()):
        off = 0.5 if aligned else 0.0
        sx, sy = x1 * scale - off, y1 * scale - off
        rw, rh = x2 * scale - off - sx, y2 * scale - off - sy
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        gh = sampling_ratio if sampling_ratio > 0 else math.ceil(rh / ph)
        gw = sampling_ratio if sampling_ratio > 0 else math.ceil(rw / pw)
        for c in range(input.shape[1]):
            for i in range(ph):
                for j in range(pw):
                    values = [_naive_bilinear(input[int(b), c],
                                              sy + i * rh / ph + (iy + 0.5) * rh / ph / gh,
                                              sx + j * rw / pw + (ix + 0.5) * rw / pw / gw)
                              for iy in range(max(gh, 0)) for ix in range(max(gw, 0))]
                    if mode == "avg":
                        out[k, c, i, j] = sum(values) / max(len(values), 1)
                    else:
                        out[k, c, i, j] = max(values) if values else 0.0
    return out


# ----------------------------------------------------------------------------- RoIPool


def test_roi_pool_even_bins_on_ramp():
    rois = torch.tensor([[0, 1, 1, 6, 4]], dtype=torch.float64)  # 6 x 4 cells -> 3 x 2 bins
    out = R.roi_pool_reference(RAMP8, rois, 2, 2, 1.0)
    assert out[0, 0].tolist() == [[19, 22], [35, 38]]


def test_roi_pool_uneven_bins_hand_computed():
    # 5 x 3 cells into 2x2: rows [0,2) & [1,3), cols [0,3) & [2,5) (bins overlap).
    values = torch.tensor([[5, 1, 9, 0, 2, 7, 3, 3],
                           [4, 8, 2, 6, 1, 0, 9, 9],
                           [0, 3, 7, 1, 11, 5, 2, 8]] + [[0] * 8] * 5,
                          dtype=torch.float64).view(1, 1, 8, 8)
    rois = torch.tensor([[0, 0, 0, 4, 2]], dtype=torch.float64)
    out = R.roi_pool_reference(values, rois, 2, 2, 1.0)
    assert out[0, 0].tolist() == [[9, 9], [8, 11]]


def test_roi_pool_rounds_half_away_from_zero():
    # x1 * s = 2.5 rounds to 3 (torch.round would give 2), x2 * s = 4.5 -> 5.
    rois = torch.tensor([[0, 5, 0, 9, 0]], dtype=torch.float64)
    out = R.roi_pool_reference(RAMP8, rois, 1, 3, 0.5)
    assert out[0, 0, 0].tolist() == [3, 4, 5]


def test_roi_pool_empty_bins_and_outside_rois_are_zero():
    rois = torch.tensor([[0, 20, 20, 30, 30], [0, -9, -9, -5, -5]], dtype=torch.float64)
    assert R.roi_pool_reference(RAMP8 + 1, rois, 2, 2, 1.0).abs().max() == 0


# ----------------------------------------------------------------------------- RoIAlign


@pytest.mark.parametrize("sampling_ratio", [0, 2, 3])
@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("mode", ["avg", "max"])
def test_roi_align_matches_scalar_loops(generator, sampling_ratio, aligned, mode):
    x = torch.randn(2, 2, 9, 11, generator=generator, dtype=torch.float64)
    rois = random_rois(6, 2, 9, 11, generator=generator, spatial_scale=0.5, outside=0.3).double()
    rois[0, 1:] = torch.tensor([3.0, 4.0, 3.2, 4.1])  # tiny box: size clamp / empty grid
    expected = _naive_roi_align(x, rois, 3, 2, 0.5, sampling_ratio, aligned, mode)
    actual = R.roi_align_reference(x, rois, 3, 2, 0.5, sampling_ratio, aligned, mode)
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-12)


def test_roi_align_bilinear_edge_rules():
    plane = torch.arange(12, dtype=torch.float64).view(1, 1, 3, 4)
    # One sample per bin at the box centre: y = 2.5 (> H-1 -> clamped to row 2), x = -0.5
    # (clamped to 0), and a sample beyond W (x = 4.5 -> 0).
    rois = torch.tensor([[0, -1.0, 2.0, 0.0, 3.0], [0, 4.0, 0.0, 5.0, 1.0]], dtype=torch.float64)
    out = R.roi_align_reference(plane, rois, 1, 1, 1.0, 1, False, "avg")
    assert out.flatten().tolist() == [8.0, 0.0]


def test_paper_example_quantisation():
    """Mask R-CNN's example: 512x512 image, stride 32, RoI (296, 192) 200 x 145 -> 3x3."""
    size = 16
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    ramp = torch.stack([xs, ys]).double().unsqueeze(0)  # channel 0 = x, channel 1 = y
    rois = torch.tensor([PAPER_BOX], dtype=torch.float64)
    s = 1 / 32
    assert (rois[0, 1] * s, rois[0, 2] * s) == (9.25, 6.0)
    assert rois[0, 3] * s - rois[0, 1] * s == 6.25
    assert abs((rois[0, 4] - rois[0, 2]).item() * s - 4.53) < 0.01

    align = R.roi_align_reference(ramp, rois, 3, 3, s, 2, False, "avg")[0]
    bins = torch.arange(3, dtype=torch.float64) + 0.5
    torch.testing.assert_close(align[0, 0], 9.25 + bins * 6.25 / 3)  # exact bin centres
    torch.testing.assert_close(align[1, :, 0], 6.0 + bins * (145 / 32) / 3)

    pool = R.roi_pool_reference(ramp, rois, 3, 3, s)[0]
    # Box rounded to cells 9..16 x 6..11, bins [9,12) [11,15) [14,16] and [6,8) [8,10) [10,12).
    assert pool[0, 0].tolist() == [11, 14, 15]
    assert pool[1, :, 0].tolist() == [7, 9, 11]

    warp = R.roi_warp_reference(ramp, rois, 3, 3, s, 2, False, "avg")[0]
    # Box rounded to (9, 6)-(16, 11): bins 7/3 x 5/3 cells, samples clamped at x = 15.
    samples = 9 + (torch.arange(6, dtype=torch.float64) + 0.5) * 7 / 6
    expected_x = samples.clamp(max=15).view(3, 2).mean(1)
    torch.testing.assert_close(warp[0, 0], expected_x)
    torch.testing.assert_close(warp[1, :, 0], 6 + bins * 5 / 3)

    errors = quantisation_errors()
    assert 0.3 < errors["RoIWarp"] < errors["RoIPool"]


# ----------------------------------------------------------------------------- other ops


def test_ps_roi_pool_skips_last_row_and_column():
    """torchvision's forward clips bins to [0, H-1]: a box over the whole 8x8 map
    averages rows/cols 0..6 only (2x2 bins of 4 cells: [0,4) and [4,7))."""
    x = RAMP8.repeat(1, 4, 1, 1)
    rois = torch.tensor([[0, 0, 0, 8, 8]], dtype=torch.float64)
    out = R.ps_roi_pool_reference(x, rois, 2, 2, 1.0)[0, 0]
    expected = [[8 * 1.5 + 1.5, 8 * 1.5 + 5.0], [8 * 5.0 + 1.5, 8 * 5.0 + 5.0]]
    torch.testing.assert_close(out, torch.tensor(expected, dtype=torch.float64))


def test_prroi_pool_integral_hand_computed():
    # A single 1 at pixel (2, 2): its hat integrates to 1 over [1, 3]^2, and the bin
    # [2, 3] x [2, 3] holds a quarter of it: 1/4 over area 1.
    x = torch.zeros(1, 1, 5, 5, dtype=torch.float64)
    x[0, 0, 2, 2] = 1
    rois = torch.tensor([[0, 1, 1, 3, 3], [0, 2, 2, 3, 3]], dtype=torch.float64)
    out = R.prroi_pool_reference(x, rois, 1, 1, 1.0).flatten()
    torch.testing.assert_close(out, torch.tensor([0.25, 0.25], dtype=torch.float64))
    # Zero padding: a box past the map edge averages in zeros (area 4, integral 1/2).
    edge = torch.ones(1, 1, 2, 2, dtype=torch.float64)
    out = R.prroi_pool_reference(edge, torch.tensor([[0, 1.0, 0, 3, 1]]).double(), 1, 1, 1.0)
    torch.testing.assert_close(out.flatten(), torch.tensor([0.25], dtype=torch.float64))


def test_multi_scale_levels_follow_both_mappings():
    rois = torch.tensor([[0, 0, 0, 50, 50], [0, 0, 0, 224, 224], [0, 0, 0, 500, 500],
                         [0, 0, 0, 112, 112], [0, 5, 5, 1, 1], [0, math.nan, 0, 1, 1]])
    scales = [1 / 4, 1 / 8, 1 / 16, 1 / 32]
    tv = R.multi_scale_levels(rois, 4, scales, "torchvision", 224.0, 4)
    # floor(4 + log2(s / 224)) clamped to [2, 5], minus 2; NaN/degenerate -> finest.
    assert tv.tolist() == [0, 2, 3, 1, 0, 0]
    mm = R.multi_scale_levels(rois, 4, scales, "mmdet", 56.0, 4)
    # floor(log2(s / 56 + 1e-6)) clamped to [0, 3].
    assert mm.tolist() == [0, 2, 3, 1, 0, 0]
    assert R.multi_scale_levels(rois[:1] * 2, 4, scales, "mmdet", 56.0, 4).tolist() == [0]


# ----------------------------------------------------------------------------- edge cases

ALL_OPS = {
    "roi_pool": lambda x, r: R.roi_pool_reference(x, r, 2, 3, 0.5),
    "roi_align": lambda x, r: R.roi_align_reference(x, r, 2, 3, 0.5, 0, False, "avg"),
    "roi_align_max": lambda x, r: R.roi_align_reference(x, r, 2, 3, 0.5, 2, True, "max"),
    "roi_warp": lambda x, r: R.roi_warp_reference(x, r, 2, 3, 0.5, 2, False, "avg"),
    "ps_roi_pool": lambda x, r: R.ps_roi_pool_reference(x, r, 2, 3, 0.5),
    "ps_roi_align": lambda x, r: R.ps_roi_align_reference(x, r, 2, 3, 0.5, 0),
    "deform_roi_pool": lambda x, r: R.deform_roi_pool_reference(
        x, r, torch.ones(r.shape[0], 2, 2, 3, dtype=x.dtype), None, 2, 3, 0.5, 2, 0.1),
    "multi_scale_roi_align": lambda x, r: R.multi_scale_roi_align_reference(
        r, [x, x[:, :, ::2, ::2]], 2, 3, 2, True, [0.5, 0.25], "mmdet", 56.0, 4, 1.2),
    "roi_align_rotated": lambda x, r: R.roi_align_rotated_reference(
        x, torch.cat([r, torch.full_like(r[:, :1], 0.4)], 1), 2, 3, 0.5, 2, True, False),
    "prroi_pool": lambda x, r: R.prroi_pool_reference(x, r, 2, 3, 0.5),
}


@pytest.mark.parametrize("op", ALL_OPS)
def test_empty_rois(op):
    x = torch.randn(2, 6, 8, 8)
    out = ALL_OPS[op](x, torch.zeros(0, 5))
    assert out.shape[0] == 0 and out.shape[2:] == (2, 3) and out.dtype == x.dtype


@pytest.mark.parametrize("op", ALL_OPS)
def test_invalid_batch_index_rows_are_zero(op, generator):
    x = torch.randn(2, 6, 8, 8, generator=generator, dtype=torch.float64)
    rois = random_rois(5, 2, 8, 8, generator=generator, spatial_scale=0.5, min_size=4).double()
    rois[1:, 0] = torch.tensor([-1.0, 2.0, 0.5, math.nan])
    rois[0, 0] = 1.0
    out = ALL_OPS[op](x, rois)
    assert out[1:].abs().max() == 0
    assert out[0].abs().max() > 0


@pytest.mark.parametrize("op", ALL_OPS)
def test_nan_and_inf_boxes_give_finite_output(op):
    x = torch.randn(1, 6, 8, 8)
    rois = torch.tensor([[0, math.nan, 1, 4, 4], [0, 1, 1, math.inf, 4], [0, -math.inf, 0, 2, 2]])
    out = ALL_OPS[op](x, rois)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("op", ALL_OPS)
def test_low_precision_inputs_compute_in_float32(op, dtype, generator):
    x = torch.randn(2, 6, 10, 12, generator=generator)
    rois = random_rois(7, 2, 10, 12, generator=generator, spatial_scale=0.5)
    expected = ALL_OPS[op](x.to(dtype).double(), rois.double())
    actual = ALL_OPS[op](x.to(dtype), rois)
    assert actual.dtype == dtype
    assert_spec_close(actual, expected, dtype, x)


def test_huge_sampling_ratio_is_rejected_and_the_cap_is_defined():
    x = torch.randn(1, 2, 4, 4, dtype=torch.float64)
    rois = torch.tensor([[0, 0.5, 0.5, 2.5, 3.0]], dtype=torch.float64)
    with pytest.raises(ValueError, match="sampling_ratio must be <= 1024"):  # as the core
        R.roi_align_reference(x, rois, 1, 1, 1.0, 10**9, True, "avg")
    capped = R.roi_align_reference(x, rois, 1, 1, 1.0, R.MAX_SAMPLING_GRID, True, "avg")
    # With a dense grid the average approaches the exact PrRoIPool integral.
    exact = R.prroi_pool_reference(x, rois + torch.tensor([0, -0.5, -0.5, -0.5, -0.5]),
                                   1, 1, 1.0)
    torch.testing.assert_close(capped, exact, atol=1e-5, rtol=0)


@pytest.mark.parametrize("op", ALL_OPS)
def test_chunking_does_not_change_results(op, generator, monkeypatch):
    """A tiny chunk budget forces one RoI per chunk and splits each RoI's sample rows."""
    x = torch.randn(2, 6, 8, 8, generator=generator, dtype=torch.float64)
    rois = random_rois(9, 2, 8, 8, generator=generator, spatial_scale=0.5, outside=0.5).double()
    expected = ALL_OPS[op](x, rois)
    monkeypatch.setattr(R, "_CHUNK_ELEMENTS", 64)
    torch.testing.assert_close(ALL_OPS[op](x, rois), expected, rtol=0, atol=1e-12)


def test_quantisation_demo_prints_every_variant(capsys, monkeypatch):
    from roipool.demo import quantisation_demo

    monkeypatch.setenv("ROIPOOL_DISABLE_NATIVE", "1")
    quantisation_demo()
    text = capsys.readouterr().out
    assert "start (9.25, 6.00), size 6.25 x 4.53 cells" in text
    assert "PSRoIAlign           -> (1, 2, 3, 3)" in text
    assert text.count("-> (1, 18, 3, 3)") == 8
