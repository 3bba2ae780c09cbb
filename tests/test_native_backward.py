"""Native backward kernels (SPEC section 5) against the float64 reference's autograd, the
finite-difference Jacobian and torchvision's backward; K = 0; ties of the max ops;
determinism across thread counts.

Every op x dtype x attribute variant of test_native_parity runs through
``_native.backward``; the public API (autograd) is covered by test_ops_training.
"""

from __future__ import annotations

import pytest
import torch
import torchvision
from conftest import DEVICES, SPEC_TOLERANCE
from roipool import _native
from roipool.ops import functional as F
from test_native_parity import (
    CASES,
    DEFAULT_CASES,
    DTYPES,
    PH,
    PW,
    Case,
    _aux,
    _features,
    _opt,
    _reference,
    _rois,
)

pytestmark = pytest.mark.skipif(
    not _native.available(torch.device("cpu")), reason="libroipool_core.so not built"
)


def _reference_grads(case: Case, features, rois, offset, mask, grad):
    """Gradients of the float64 reference w.r.t. every differentiable input."""
    features = [f.double().requires_grad_() for f in features]
    rois = rois.double().requires_grad_(case.op == "prroi_pool")
    offset = _opt(offset, torch.float64)
    mask = _opt(mask, torch.float64)
    for t in (offset, mask):
        if t is not None:
            t.requires_grad_()
    out = _reference(case, features, rois, offset, mask)
    out.backward(grad.double())
    return features, rois, offset, mask


def _native_grads(case: Case, features, rois, offset, mask, grad, device="cpu", **kw):
    on = [f.to(device) for f in features]
    return _native.backward(
        case.op, grad.to(device), on, rois.to(device), case.attrs, _opt(offset, device),
        _opt(mask, device), offset_grad=True, mask_grad=True,
        rois_grad=case.op == "prroi_pool", **kw,
    )


def _assert_grad_close(actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype,
                       what: str) -> None:
    """Within the SPEC 4 tolerance of `dtype`, relative to the gradient's magnitude (a
    gradient sums many products, so its scale is its own, not the input's)."""
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    assert actual.is_contiguous(), what
    expected = expected.double().cpu()
    atol = 4 * SPEC_TOLERANCE[dtype] * max(1.0, float(expected.abs().max()))
    error = float((actual.double().cpu() - expected).abs().max())
    assert error <= atol, f"{what}: max abs error {error:.3g} > {atol:.3g} ({dtype})"


def _compare(case: Case, dtype: torch.dtype, device: str, features, rois, offset, mask,
             generator: torch.Generator, channels_last: bool = False) -> None:
    typed = [f.to(dtype) for f in features]
    offset, mask = _opt(offset, dtype), _opt(mask, dtype)
    probe = _native.forward(case.op, typed, rois, case.attrs, offset=offset, mask=mask)
    grad = torch.randn(probe.shape, generator=generator).to(dtype)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    laid = [f.contiguous(memory_format=layout) for f in typed]
    got = _native_grads(case, laid, rois, offset, mask, grad, device)
    ref_features, ref_rois, ref_offset, ref_mask = _reference_grads(
        case, typed, rois, offset, mask, grad)
    for i, (g, f) in enumerate(zip(got.features, ref_features, strict=True)):
        assert g.dtype == dtype
        _assert_grad_close(g, f.grad, dtype, f"grad features[{i}]")
    if offset is not None:
        _assert_grad_close(got.offset, ref_offset.grad, dtype, "grad offset")
    if mask is not None:
        _assert_grad_close(got.mask, ref_mask.grad, dtype, "grad mask")
    if case.op == "prroi_pool":
        assert got.rois.is_contiguous() and torch.all(got.rois[:, 0] == 0)
        _assert_grad_close(got.rois[:, 1:].contiguous(), ref_rois.grad[:, 1:], torch.float32,
                           "grad rois")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_backward_parity(case: Case, dtype: torch.dtype, device: str,
                         generator: torch.Generator) -> None:
    features = _features(case, generator)
    rois = _rois(case, 12, generator)
    _compare(case, dtype, device, features, rois, *_aux(case, 12, generator), generator)


@pytest.mark.parametrize("op", sorted(DEFAULT_CASES))
def test_backward_channels_last_input(op: str, generator: torch.Generator) -> None:
    """An NHWC input gives the same (contiguous) gradients."""
    case = DEFAULT_CASES[op]
    features = _features(case, generator)
    rois = _rois(case, 8, generator)
    _compare(case, torch.float32, "cpu", features, rois, *_aux(case, 8, generator), generator,
             channels_last=True)


@pytest.mark.parametrize("op", sorted(DEFAULT_CASES))
def test_backward_bad_and_awkward_rois(op: str, generator: torch.Generator) -> None:
    """Bad batch indices and NaN boxes get zero gradient; huge and outside boxes match
    the reference."""
    case = DEFAULT_CASES[op]
    if "sampling_ratio" in case.attrs:
        case = Case(case.op, {**case.attrs, "sampling_ratio": 2}, case.inputs)
    features = _features(case, generator)
    rois = _rois(case, 6, generator)
    scale = 8 if op == "multi_scale_roi_align" else 1
    rois[0, 1:5] = torch.tensor([-1e3, -1e3, 1e3, 1e3]) * scale  # huge
    rois[1, 1:5] = torch.tensor([-50.0, -40, -10, -5]) * scale   # outside
    offset, mask = _aux(case, 6, generator)
    _compare(case, torch.float32, "cpu", features, rois, offset, mask, generator)
    bad = rois.clone()
    bad[2, 0] = -1
    bad[3, 0] = 0.5
    bad[4, 0] = float("nan")
    grad = torch.zeros(_native.forward(op, features, bad, case.attrs, offset=offset,
                                       mask=mask).shape)
    grad[2:5] = 1
    got = _native_grads(case, features, bad, offset, mask, grad)
    for g in got.features:
        assert torch.all(g == 0)
    for g in (got.offset, got.mask, got.rois):
        if g is not None:
            assert torch.all(g == 0)


# MultiScaleRoIAlign (several maps) is left to test_backward_parity and torchvision's.
@pytest.mark.parametrize("op", sorted(set(DEFAULT_CASES) - {"multi_scale_roi_align"}))
def test_gradcheck_through_native(op: str, generator: torch.Generator) -> None:
    """torch.autograd.gradcheck in float64: the Jacobian of the float64 forward by finite
    differences against the native backward (float32 kernels, so a float32 tolerance)."""
    case = DEFAULT_CASES[op]
    features = [f[:, :, :9, :10] for f in _features(case, generator)]
    rois = _rois(case, 4, generator)
    offset, mask = _aux(case, 4, generator)
    dynamic = {"features": features[0]}
    if offset is not None:
        dynamic["offset"] = offset
    if mask is not None:
        dynamic["mask"] = mask
    if op == "prroi_pool":
        dynamic["rois"] = rois
    names = list(dynamic)

    class NativeBackward(torch.autograd.Function):
        @staticmethod
        def forward(ctx, *flat):
            values = dict(zip(names, flat, strict=True))
            ctx.values = values
            return _reference(case, [values["features"]], values.get("rois", rois),
                              values.get("offset", offset), values.get("mask", mask))

        @staticmethod
        def backward(ctx, grad):
            v = ctx.values
            got = _native_grads(case, [v["features"].float()], v.get("rois", rois).float(),
                                _opt(v.get("offset", offset), torch.float32),
                                _opt(v.get("mask", mask), torch.float32), grad.float())
            out = {"features": got.features[0], "offset": got.offset, "mask": got.mask,
                   "rois": got.rois}
            return tuple(out[n].double() for n in names)

    inputs = tuple(dynamic[n].double().requires_grad_() for n in names)
    assert torch.autograd.gradcheck(NativeBackward.apply, inputs, eps=1e-4, atol=2e-3,
                                    rtol=1e-3, fast_mode=True)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", sorted(DEFAULT_CASES))
def test_backward_k0(op: str, device: str, generator: torch.Generator) -> None:
    """K = 0: zero gradients of the inputs' shapes (SPEC 5)."""
    case = DEFAULT_CASES[op]
    features = [f.to(device) for f in _features(case, generator)]
    rois = torch.zeros(0, 6 if op == "roi_align_rotated" else 5, device=device)
    offset, mask = (_opt(t, device) for t in _aux(case, 0, generator))
    out = _native.forward(op, features, rois, case.attrs, offset=offset, mask=mask)
    got = _native_grads(case, features, rois, offset, mask, torch.zeros_like(out), device)
    for g, f in zip(got.features, features, strict=True):
        assert g.shape == f.shape and torch.all(g == 0)


@pytest.mark.parametrize("op", sorted(DEFAULT_CASES))
def test_backward_does_not_depend_on_threads(op: str, generator: torch.Generator) -> None:
    """Each task owns whole gradient planes: 1 and 3 threads give identical bits."""
    case = DEFAULT_CASES[op]
    features = _features(case, generator)
    rois = _rois(case, 16, generator)
    offset, mask = _aux(case, 16, generator)
    out = _native.forward(op, features, rois, case.attrs, offset=offset, mask=mask)
    grad = torch.randn(out.shape, generator=generator)
    one = _native_grads(case, features, rois, offset, mask, grad, num_threads=1)
    three = _native_grads(case, features, rois, offset, mask, grad, num_threads=3)
    for a, b in zip(one, three, strict=True):
        if isinstance(a, list):
            assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
        elif a is not None:
            assert torch.equal(a, b)


# ----------------------------------------------------------------------------- max ties


def test_roi_pool_tie_goes_to_first_pixel() -> None:
    """A constant map: every pixel of a bin is a maximum; the whole gradient goes to
    the first in row-major order, as torchvision's argmax does."""
    x = torch.ones(1, 2, 8, 8, requires_grad=True)
    x_tv = x.detach().clone().requires_grad_()
    rois = torch.tensor([[0.0, 1, 1, 6, 6]])
    F.roi_pool(x, rois, 2).sum().backward()
    torchvision.ops.roi_pool(x_tv, rois, 2).sum().backward()
    assert torch.equal(x.grad, x_tv.grad)
    assert int((x.grad[0, 0] != 0).sum()) == 4  # one pixel per bin


def test_roi_align_max_tie_goes_to_first_sample() -> None:
    """Max RoIAlign on a constant map: only the first sample (iy = ix = 0) of each bin
    receives the gradient (mmcv), with its bilinear weights."""
    x = torch.ones(1, 1, 10, 10, requires_grad=True)
    rois = torch.tensor([[0.0, 2.25, 2.25, 6.25, 6.25]])
    F.roi_align(x, rois, 1, sampling_ratio=2, aligned=False, mode="max").sum().backward()
    # Bin 1x1 of a 4x4 box at 2.25, 2 x 2 samples: the first at (3.25, 3.25).
    expected = torch.zeros(10, 10)
    expected[3:5, 3:5] = torch.tensor([[0.75 * 0.75, 0.75 * 0.25], [0.25 * 0.75, 0.25 * 0.25]])
    assert torch.allclose(x.grad[0, 0], expected)


# ----------------------------------------------------------------------------- torchvision


def _torchvision_pair(op: str, x: torch.Tensor, rois: torch.Tensor):
    """(roipool, torchvision) outputs of the same call."""
    if op == "roi_align":
        return (F.roi_align(x[0], rois, (3, 4), 0.5, 2, aligned=True),
                torchvision.ops.roi_align(x[1], rois, (3, 4), 0.5, 2, aligned=True))
    if op == "roi_align_adaptive":
        return (F.roi_align(x[0], rois, (3, 4), 0.5, -1, aligned=False),
                torchvision.ops.roi_align(x[1], rois, (3, 4), 0.5, -1, aligned=False))
    if op == "roi_pool":
        return (F.roi_pool(x[0], rois, (3, 4), 0.5),
                torchvision.ops.roi_pool(x[1], rois, (3, 4), 0.5))
    if op == "ps_roi_align":
        return (F.ps_roi_align(x[0], rois, (3, 4), 0.5, 2),
                torchvision.ops.ps_roi_align(x[1], rois, (3, 4), 0.5, 2))
    assert op == "ps_roi_pool"
    return (F.ps_roi_pool(x[0], rois, (3, 4), 0.5),
            torchvision.ops.ps_roi_pool(x[1], rois, (3, 4), 0.5))


@pytest.mark.parametrize("op", ["roi_align", "roi_align_adaptive", "roi_pool", "ps_roi_align",
                                "ps_roi_pool"])
def test_backward_matches_torchvision(op: str, generator: torch.Generator) -> None:
    """Through the public API (autograd -> native backward). PSRoIPool boxes stay off the
    last row and column, where torchvision's backward is not its forward's derivative
    (SPEC 5)."""
    channels = 24 if op.startswith("ps_") else 5
    x = torch.randn(2, channels, 13, 16, generator=generator)
    pair = [x.clone().requires_grad_(), x.clone().requires_grad_()]
    rois = _rois(DEFAULT_CASES["roi_align"], 10, generator)
    if op == "ps_roi_pool":
        rois[:, 1:] = rois[:, 1:].clamp(0, 22)  # feature rows/columns <= 11 of 13 / 16
    ours, theirs = _torchvision_pair(op, pair, rois)
    assert torch.allclose(ours, theirs, atol=1e-5)
    grad = torch.randn(ours.shape, generator=generator)
    ours.backward(grad)
    theirs.backward(grad)
    assert torch.allclose(pair[0].grad, pair[1].grad, atol=1e-5), \
        float((pair[0].grad - pair[1].grad).abs().max())


def test_multi_scale_backward_matches_torchvision(generator: torch.Generator) -> None:
    pooler = torchvision.ops.MultiScaleRoIAlign(["p2", "p3", "p4"], (PH, PW), 2)
    maps = {n: torch.randn(2, 4, s, s, generator=generator)
            for n, s in (("p2", 64), ("p3", 32), ("p4", 16))}
    boxes = [_rois(DEFAULT_CASES["multi_scale_roi_align"], 6, generator)[:, 1:] for _ in range(2)]
    ours_in = [m.clone().requires_grad_() for m in maps.values()]
    theirs_in = {n: m.clone().requires_grad_() for n, m in maps.items()}
    theirs = pooler(theirs_in, boxes, [(256, 256), (256, 256)])
    ours = F.multi_scale_roi_align(ours_in, boxes, (PH, PW), [0.25, 0.125, 0.0625],
                                   sampling_ratio=2)
    assert torch.allclose(ours, theirs, atol=1e-5)
    grad = torch.randn(ours.shape, generator=generator)
    ours.backward(grad)
    theirs.backward(grad)
    for a, b in zip(ours_in, theirs_in.values(), strict=True):
        assert torch.allclose(a.grad, b.grad, atol=1e-5)


@pytest.mark.parametrize(("mode", "pooled", "sampling_ratio", "num_rois"), [
    ("avg", (7, 7), 9, 80),  # 3969 taps per RoI, ~40 RoIs per image > one 2^17-tap group
    ("max", (7, 7), 8, 50),
    ("avg", (1, 1), 100, 3),  # 10^4 taps in one bin: more than one table, chunked
    ("max", (1, 1), 100, 3),
], ids=["many_rois_avg", "many_rois_max", "huge_grid_avg", "huge_grid_max"])
def test_backward_large_workloads(mode: str, pooled: tuple, sampling_ratio: int, num_rois: int,
                                  generator: torch.Generator) -> None:
    """Past the CPU engine's tap tables: many RoIs of one image (the channel-by-channel
    group is flushed) and a bin grid larger than one table (chunks)."""
    case = Case("roi_align", {"pooled_h": pooled[0], "pooled_w": pooled[1],
                              "spatial_scale": 0.5, "sampling_ratio": sampling_ratio,
                              "aligned": 1, "mode": mode})
    features = [torch.randn(2, 3, 13, 16, generator=generator)]
    rois = _rois(case, num_rois, generator)
    _compare(case, torch.float32, "cpu", features, rois, None, None, generator)
