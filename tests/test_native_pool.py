"""Native RoIPool, PSRoIPool and PrRoIPool kernels (SPEC 3.1, 3.4, 3.8).

Against the float64 eager reference, hand-computed bins, a brute-force integral for
PrRoIPool, and the edge cases of SPEC section 2 (bad batch indices, K = 0, huge and
non-finite boxes, NHWC input).
"""

from __future__ import annotations

import math

import pytest
import torch
from conftest import DEVICES, assert_spec_close, random_rois
from roipool import _native
from roipool.ops import reference

pytestmark = pytest.mark.skipif(
    not _native.available(torch.device("cpu")), reason="libroipool_core.so not built"
)

OPS = ["roi_pool", "ps_roi_pool", "prroi_pool"]
DTYPES = [torch.float32, torch.float16, torch.bfloat16]
PH, PW = 3, 2  # unequal, so a swapped height/width shows
SCALE = 0.5


def _attrs(pooled_h: int = PH, pooled_w: int = PW, spatial_scale: float = SCALE) -> dict:
    return {"pooled_h": pooled_h, "pooled_w": pooled_w, "spatial_scale": spatial_scale}


def _reference(op: str, input: torch.Tensor, rois: torch.Tensor, attrs: dict) -> torch.Tensor:
    fn = getattr(reference, f"{op}_reference")
    return fn(input.double().cpu(), rois.double().cpu(), **attrs)


def _input(op: str, device: str, generator: torch.Generator, channels_out: int = 3,
           height: int = 13, width: int = 17, batch: int = 2) -> torch.Tensor:
    channels = channels_out * PH * PW if op == "ps_roi_pool" else channels_out
    return torch.randn(batch, channels, height, width, generator=generator).to(device)


def _native_forward(op: str, input: torch.Tensor, rois: torch.Tensor, attrs: dict,
                    num_threads: int = 0) -> torch.Tensor:
    return _native.forward(op, [input], rois, attrs, num_threads=num_threads)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("op", OPS)
def test_matches_reference(op: str, dtype: torch.dtype, device: str,
                           generator: torch.Generator) -> None:
    input = _input(op, device, generator).to(dtype)
    rois = random_rois(60, 2, 13, 17, generator=generator, spatial_scale=SCALE).to(device)
    expected = _reference(op, input, rois, _attrs())
    for threads in (1, 3):
        actual = _native_forward(op, input, rois, _attrs(), num_threads=threads)
        assert actual.dtype == dtype and actual.device.type == device
        assert_spec_close(actual, expected, dtype, input)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("pooled", "scale", "size"), [
    ((1, 1), 1.0, (1, 1)),
    ((7, 7), 1 / 16, (5, 9)),
    ((2, 5), 0.25, (40, 3)),
    ((4, 1), 2.0, (6, 6)),
], ids=str)
@pytest.mark.parametrize("op", OPS)
def test_geometry_variants(op: str, pooled: tuple[int, int], scale: float, size: tuple[int, int],
                           device: str, generator: torch.Generator) -> None:
    """Tiny and lopsided maps and bin grids, scales above and below 1."""
    ph, pw = pooled
    channels = 2 * ph * pw if op == "ps_roi_pool" else 3
    input = torch.randn(2, channels, *size, generator=generator).to(device)
    rois = random_rois(30, 2, *size, generator=generator, spatial_scale=scale,
                       outside=0.5).to(device)
    attrs = _attrs(ph, pw, scale)
    expected = _reference(op, input, rois, attrs)
    assert_spec_close(_native_forward(op, input, rois, attrs), expected, torch.float32, input)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", OPS)
def test_rois_in_input_dtype(op: str, device: str, generator: torch.Generator) -> None:
    input = _input(op, device, generator).half()
    rois = random_rois(20, 2, 13, 17, generator=generator, spatial_scale=SCALE).half().to(device)
    expected = _reference(op, input, rois, _attrs())
    assert_spec_close(_native_forward(op, input, rois, _attrs()), expected, torch.float16, input)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("scale", [1.0, 0.25, 1 / 16])
def test_roi_pool_exact_in_float32(scale: float, device: str,
                                   generator: torch.Generator) -> None:
    """RoIPool selects the same element as the reference (SPEC 4): equality, no tolerance."""
    input = _input("roi_pool", device, generator, channels_out=5, height=21, width=19)
    rois = random_rois(200, 2, 21, 19, generator=generator, spatial_scale=scale).to(device)
    attrs = _attrs(7, 5, scale)
    actual = _native_forward("roi_pool", input, rois, attrs)
    expected = _reference("roi_pool", input, rois, attrs).float()
    assert torch.equal(actual.cpu(), expected)


def _ramp(device: str, channels: int = 1) -> torch.Tensor:
    """[1, C, 8, 8] with value 8*h + w (+ 100 * channel)."""
    plane = torch.arange(64, dtype=torch.float32).view(8, 8)
    return (plane + 100 * torch.arange(channels).view(-1, 1, 1)).unsqueeze(0).to(device)


# Box (x1, y1, x2, y2) = (1, 0, 5, 6) on an 8x8 map, scale 1, 2x2 bins.
_HAND_BOX = [[0.0, 1.0, 0.0, 5.0, 6.0]]


@pytest.mark.parametrize("device", DEVICES)
def test_roi_pool_hand_computed_uneven_bins(device: str, generator: torch.Generator) -> None:
    # roi_h = 6 - 0 + 1 = 7 -> bin 3.5: rows [0, 4) and [3, 7) (they overlap on row 3);
    # roi_w = 5 - 1 + 1 = 5 -> bin 2.5: cols [1, 4) and [3, 6).
    rows, cols = [(0, 4), (3, 7)], [(1, 4), (3, 6)]
    rois = torch.tensor(_HAND_BOX, device=device)
    attrs = _attrs(2, 2, 1.0)
    ramp = _native_forward("roi_pool", _ramp(device), rois, attrs)
    assert ramp.cpu().view(2, 2).tolist() == [[27.0, 29.0], [51.0, 53.0]]
    input = torch.randn(1, 2, 8, 8, generator=generator).to(device)
    actual = _native_forward("roi_pool", input, rois, attrs).cpu()
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            expected = input[0, :, r0:r1, c0:c1].amax(dim=(1, 2)).cpu()
            assert torch.equal(actual[0, :, i, j], expected)


@pytest.mark.parametrize("device", DEVICES)
def test_ps_roi_pool_hand_computed_and_channel_mapping(device: str) -> None:
    # No +1: roi_h = 6 -> bin 3: rows [0, 3), [3, 6); roi_w = 4 -> bin 2: cols [1, 3), [3, 5).
    # Output (c, i, j) reads input channel (c*2 + i)*2 + j, whose planes are offset by 100.
    rows, cols = [(0, 3), (3, 6)], [(1, 3), (3, 5)]
    input = _ramp(device, channels=8)
    actual = _native_forward("ps_roi_pool", input, torch.tensor(_HAND_BOX, device=device),
                             _attrs(2, 2, 1.0)).cpu()
    assert actual.shape == (1, 2, 2, 2)
    for c in range(2):
        for i, (r0, r1) in enumerate(rows):
            for j, (c0, c1) in enumerate(cols):
                channel = (c * 2 + i) * 2 + j
                mean = sum(8 * h + w for h in range(r0, r1) for w in range(c0, c1))
                mean /= (r1 - r0) * (c1 - c0)
                assert actual[0, c, i, j].item() == pytest.approx(100 * channel + mean, abs=1e-4)


@pytest.mark.parametrize("device", DEVICES)
def test_ps_roi_pool_never_pools_last_row_and_column(device: str) -> None:
    """torchvision's forward clips bins to [0, H-1]: a box on the last pixel is empty."""
    input = torch.ones(1, 4, 6, 6, device=device)
    rois = torch.tensor([[0.0, 5.0, 5.0, 9.0, 9.0], [0.0, 0.0, 0.0, 9.0, 9.0]], device=device)
    out = _native_forward("ps_roi_pool", input, rois, _attrs(2, 2, 1.0)).cpu()
    assert torch.equal(out[0], torch.zeros(1, 2, 2))
    assert torch.equal(out[1], torch.ones(1, 2, 2))


def _brute_force_prroi(plane: torch.Tensor, box: tuple[float, float, float, float],
                       pooled: tuple[int, int], steps: int = 400) -> torch.Tensor:
    """Midpoint-rule integral of the zero-padded bilinear surface over each bin / area."""
    height, width = plane.shape
    x1, y1, x2, y2 = box
    ph, pw = pooled
    bin_h, bin_w = (y2 - y1) / ph, (x2 - x1) / pw
    out = torch.zeros(ph, pw, dtype=torch.float64)
    t = (torch.arange(steps, dtype=torch.float64) + 0.5) / steps
    hats_y = lambda y: (1 - (y.view(-1, 1) - torch.arange(height)).abs()).clamp(min=0)  # noqa: E731
    hats_x = lambda x: (1 - (x.view(-1, 1) - torch.arange(width)).abs()).clamp(min=0)  # noqa: E731
    for i in range(ph):
        for j in range(pw):
            wy = hats_y(y1 + (i + t) * bin_h)  # [steps, H]
            wx = hats_x(x1 + (j + t) * bin_w)  # [steps, W]
            out[i, j] = (wy @ plane.double() @ wx.T).mean()
    return out


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "box", [(0.3, -0.7, 3.9, 2.2), (-1.5, 1.25, 6.5, 4.75), (1.1, 1.2, 1.4, 1.3)]
)
def test_prroi_pool_matches_brute_force_integral(box: tuple[float, float, float, float],
                                                  device: str, generator: torch.Generator) -> None:
    plane = torch.randn(4, 5, generator=generator)
    rois = torch.tensor([[0.0, *box]], device=device)
    input = plane.view(1, 1, 4, 5).to(device)
    actual = _native_forward("prroi_pool", input, rois, _attrs(2, 3, 1.0))
    expected = _brute_force_prroi(plane, box, (2, 3))
    assert torch.allclose(actual.cpu()[0, 0].double(), expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("device", DEVICES)
def test_prroi_pool_zero_area_bins_give_zero(device: str) -> None:
    input = torch.ones(1, 2, 6, 6, device=device)
    rois = torch.tensor([[0.0, 2.0, 1.0, 2.0, 4.0], [0.0, 3.0, 3.0, 1.0, 1.0]], device=device)
    out = _native_forward("prroi_pool", input, rois, _attrs(2, 2, 1.0))
    assert torch.equal(out.cpu(), torch.zeros(2, 2, 2, 2))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", OPS)
def test_bad_batch_indices_give_zeros(op: str, device: str, generator: torch.Generator) -> None:
    input = _input(op, device, generator) + 10  # no legitimate zero outputs
    good = [1.0, 2.0, 2.0, 20.0, 18.0]
    bad = [-1.0, 2.0, 0.5, math.nan, math.inf, 1e9]
    rois = torch.tensor([good] + [[b, *good[1:]] for b in bad], device=device)
    out = _native_forward(op, input, rois, _attrs()).cpu()
    assert (out[0] != 0).all()
    assert torch.equal(out[1:], torch.zeros_like(out[1:]))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", OPS)
def test_no_rois(op: str, device: str, generator: torch.Generator) -> None:
    input = _input(op, device, generator)
    out = _native_forward(op, input, torch.zeros(0, 5, device=device), _attrs())
    assert out.shape == (0, 3, PH, PW)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", OPS)
def test_huge_and_non_finite_boxes(op: str, device: str, generator: torch.Generator) -> None:
    """Bounded work and the reference's defined result, never a crash or a NaN.
    (Coordinates stay below 2**24, where float32 still holds every integer.)"""
    input = _input(op, device, generator)
    nan, inf = math.nan, math.inf
    rois = torch.tensor([
        [0.0, -1e5, -1e5, 1e5, 1e5],
        [1.0, -3e6, 5.0, 3e6, 9.0],
        [0.0, nan, 1.0, 5.0, 6.0],
        [1.0, 0.0, 0.0, inf, inf],
        [0.0, -inf, -inf, 4.0, 4.0],
    ], device=device)
    actual = _native_forward(op, input, rois, _attrs())
    assert torch.isfinite(actual).all()
    assert_spec_close(actual, _reference(op, input, rois, _attrs()), torch.float32, input)
    absurd = torch.tensor([[0.0, -1e30, -1e30, 1e30, 1e30], [1.0, -3e38, 0.0, 3e38, 1.0]],
                          device=device)
    assert torch.isfinite(_native_forward(op, input, absurd, _attrs())).all()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("op", OPS)
def test_channels_last_equals_contiguous(op: str, dtype: torch.dtype, device: str,
                                         generator: torch.Generator) -> None:
    input = _input(op, device, generator).to(dtype)
    rois = random_rois(40, 2, 13, 17, generator=generator, spatial_scale=SCALE).to(device)
    nchw = _native_forward(op, input, rois, _attrs())
    nhwc = _native_forward(op, input.to(memory_format=torch.channels_last), rois, _attrs())
    # Same terms, possibly summed in a different order.
    assert torch.allclose(nhwc.float(), nchw.float(), atol=1e-5 if dtype == torch.float32 else 1e-2)
