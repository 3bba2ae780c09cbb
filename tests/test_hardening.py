"""Regression tests of issue 10: every bad input gets SPEC's defined result or a clear
error naming the argument, the same in the native core (torch CPU), the eager reference
and ONNX Runtime. One test (or parametrised group) per item of the issue; the fuzz
findings of scripts/fuzz.sh reproduce in tests/cpp/fuzz_surfaces.cpp."""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import child_pythonpath, raw_op_error
from roipool import _native
from roipool.ops import functional as F
from roipool.ops import reference

NATIVE = _native.available(torch.device("cpu"))
needs_native = pytest.mark.skipif(not NATIVE, reason="libroipool_core was not built")
ROOT = Path(__file__).resolve().parents[1]

Op = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
ops = torch.ops.roipool

# op -> (call on (input, rois), rois columns, input channels). Variants that clamp the
# extent to >= 1 (aligned = 0) are the ones the NaN rule concerns (issue 10, item 1).
NAN_CASES: dict[str, tuple[Op, int, int]] = {
    "roi_pool": (lambda x, r: ops.roi_pool(x, r, 2, 2, 1.0), 5, 2),
    "roi_align": (lambda x, r: ops.roi_align(x, r, 2, 2, 1.0, -1, False, "avg"), 5, 2),
    "roi_align_max": (lambda x, r: ops.roi_align(x, r, 2, 2, 1.0, -1, False, "max"), 5, 2),
    "roi_align_ratio": (lambda x, r: ops.roi_align(x, r, 2, 2, 1.0, 2, False, "avg"), 5, 2),
    "roi_warp": (lambda x, r: ops.roi_warp(x, r, 2, 2, 1.0, -1, False, "avg"), 5, 2),
    "ps_roi_pool": (lambda x, r: ops.ps_roi_pool(x, r, 2, 2, 1.0), 5, 8),
    "ps_roi_align": (lambda x, r: ops.ps_roi_align(x, r, 2, 2, 1.0, -1), 5, 8),
    "deform_roi_pool": (lambda x, r: ops.deform_roi_pool(x, r, None, None, 2, 2, 1.0, -1, 0.1),
                        5, 2),
    "multi_scale_roi_align": (
        lambda x, r: ops.multi_scale_roi_align(r, [x], 2, 2, -1, False, [1.0], "torchvision",
                                               224.0, 4, 1.0), 5, 2),
    "roi_align_rotated": (
        lambda x, r: ops.roi_align_rotated(x, r, 2, 2, 1.0, -1, False, False), 6, 2),
    "prroi_pool": (lambda x, r: ops.prroi_pool(x, r, 2, 2, 1.0), 5, 2),
}


def _nan_rois(columns: int, column: int) -> torch.Tensor:
    """Two RoIs on a 12 x 12 map: row 0 with a NaN in `column`, row 1 a normal box."""
    if columns == 6:
        rois = torch.tensor([[0, 6.0, 6.0, 4.0, 4.0, 0.3], [0, 5.0, 5.0, 4.0, 3.0, 0.2]])
    else:
        rois = torch.tensor([[0, 2.0, 2.0, 7.0, 7.0], [0, 1.0, 3.0, 6.0, 8.0]])
    rois[0, column] = float("nan")
    return rois


@contextlib.contextmanager
def _reference_only(enabled: bool) -> Iterator[None]:
    """While active (and `enabled`) the torch ops run the eager reference, not the core."""
    if enabled:
        os.environ["ROIPOOL_DISABLE_NATIVE"] = "1"
    try:
        yield
    finally:
        if enabled:
            os.environ.pop("ROIPOOL_DISABLE_NATIVE", None)


def _run_python(script: str, **env: str) -> str:
    """stdout of `script` in a fresh interpreter (settings read once per process)."""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300,
                            env={**os.environ, "PYTHONPATH": child_pythonpath(), **env})
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


# ---- item 1: NaN box extents pool to zeros, with a zero gradient ----------------------------

@needs_native
@pytest.mark.parametrize("native", [True, False], ids=["native", "reference"])
@pytest.mark.parametrize("name", sorted(NAN_CASES))
def test_nan_extent_pools_to_zero(name: str, native: bool, generator: torch.Generator) -> None:
    op, columns, channels = NAN_CASES[name]
    extents = (3, 4) if columns == 5 else (3, 4, 5)  # x2, y2; rotated: w, h, theta
    for column in extents:
        x = torch.randn(1, channels, 12, 12, generator=generator).requires_grad_()
        rois = _nan_rois(columns, column)
        with _reference_only(not native):
            out = op(x, rois)
            out[0].sum().backward()
        assert torch.count_nonzero(out[0]) == 0, (name, column, out[0])
        assert torch.count_nonzero(out[1]) > 0, "the normal RoI still pools"
        assert torch.count_nonzero(x.grad) == 0, "a NaN RoI has no gradient"


# ---- item 3: the PS divisibility message does not overflow ---------------------------------

@needs_native
def test_ps_divisibility_message_uses_int64() -> None:
    x, rois = torch.zeros(1, 3, 4, 4), torch.zeros(1, 5)
    attrs = {"pooled_h": 65535, "pooled_w": 65535, "spatial_scale": 1.0}
    with pytest.raises(ValueError, match=r"divisible by pooled_h \* pooled_w \(4294836225\)"):
        _native.forward("ps_roi_pool", [x], rois, attrs)


# ---- item 5: a meta tensor among CPU tensors is a device error -----------------------------

@pytest.mark.parametrize("meta", ["input", "rois"])
def test_meta_among_cpu_tensors_is_a_device_error(meta: str) -> None:
    x, rois = torch.randn(1, 2, 8, 8), torch.tensor([[0, 1.0, 1.0, 5.0, 5.0]])
    if meta == "input":
        x = x.to("meta")
    else:
        rois = rois.to("meta")
    with pytest.raises(ValueError, match=r"rois is on (meta|cpu) but input is on (cpu|meta)"):
        ops.roi_align(x, rois, 2, 2, 1.0, 2, False, "avg")


def test_meta_offset_among_cpu_tensors_is_a_device_error() -> None:
    x, rois = torch.randn(1, 2, 8, 8), torch.tensor([[0, 1.0, 1.0, 5.0, 5.0]])
    offset = torch.zeros(1, 2, 2, 2, device="meta")
    with pytest.raises(ValueError, match="offset is on meta but input is on cpu"):
        ops.deform_roi_pool(x, rois, offset, None, 2, 2, 1.0, 2, 0.1)


def test_all_meta_still_gives_shapes() -> None:
    x, rois = torch.empty(1, 2, 8, 8, device="meta"), torch.empty(3, 5, device="meta")
    assert ops.roi_align(x, rois, 2, 2, 1.0, 2, False, "avg").shape == (3, 2, 2, 2)


# ---- item 6: C = 0 yields [K, 0, ph, pw] ------------------------------------------------------

@needs_native
@pytest.mark.parametrize("name", ["roi_pool", "roi_align", "ps_roi_pool", "prroi_pool"])
def test_zero_channels_native(name: str) -> None:
    op = NAN_CASES[name][0]
    out = op(torch.zeros(1, 0, 6, 6), torch.tensor([[0, 1.0, 1.0, 4.0, 4.0]] * 3))
    assert out.shape == (3, 0, 2, 2)


# ---- item 8: canonical_scale = 0 means the mapping's default everywhere ---------------------

@pytest.mark.parametrize("mapping,default", [("torchvision", 224.0), ("mmdet", 56.0)])
def test_canonical_scale_zero_is_the_default(mapping: str, default: float,
                                             generator: torch.Generator) -> None:
    features = [torch.randn(1, 2, 32, 32, generator=generator),
                torch.randn(1, 2, 16, 16, generator=generator)]
    rois = torch.tensor([[0, 1.0, 1.0, 20.0, 30.0], [0, 2.0, 3.0, 120.0, 110.0]])
    args = (2, 2, 2, False, [0.25, 0.125], mapping)
    expected = reference.multi_scale_roi_align_reference(rois, features, *args, default, 4, 1.0)
    assert torch.equal(reference.multi_scale_roi_align_reference(rois, features, *args, 0.0, 4,
                                                                 1.0), expected)
    native = ops.multi_scale_roi_align(rois, features, *args, 0.0, 4, 1.0)
    torch.testing.assert_close(native, expected, rtol=0, atol=1e-5)


def test_negative_canonical_scale_is_rejected_by_the_reference() -> None:
    with pytest.raises(ValueError, match="canonical_scale must be >= 0"):
        reference.multi_scale_levels(torch.zeros(1, 5), 1, [1.0], "mmdet", -1.0, 4)


# ---- item 9: a subnormal rotated height still samples the centre line -----------------------

@needs_native
def test_rotated_subnormal_height_samples_centre_line(generator: torch.Generator) -> None:
    x = torch.randn(1, 2, 8, 8, generator=generator)
    rois = torch.tensor([[0, 4.0, 4.0, 3.0, 1e-45, 0.0]])
    expected = reference.roi_align_rotated_reference(x, rois, 1, 2, 1.0, -1, True, False)
    out = ops.roi_align_rotated(x, rois, 1, 2, 1.0, -1, True, False)
    assert torch.count_nonzero(expected) > 0
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)


# ---- item 10: Python API gaps ------------------------------------------------------------------

X, BOXES = torch.zeros(1, 4, 8, 8), torch.tensor([[0, 1.0, 1.0, 5.0, 5.0]])


@pytest.mark.parametrize("call,error,match", [
    (lambda: F.roi_align(X, BOXES, 7.0), TypeError, "output_size must be an int or a pair"),
    (lambda: F.roi_pool(X, BOXES, (2, 2.0)), TypeError, "output_size must be an int or a pair"),
    (lambda: F.roi_pool(X, BOXES, True), TypeError, "output_size must be an int or a pair"),
    (lambda: F.roi_align(X, BOXES, 2**63), ValueError, r"output_size must be in \[1, 65535\]"),
    (lambda: F.roi_align(X, BOXES, 2, sampling_ratio=2**63), ValueError,
     r"sampling_ratio must be <= 1024, got 9223372036854775808"),
    (lambda: F.roi_align(X, BOXES, 2, sampling_ratio=-(2**64)), ValueError,
     r"sampling_ratio must be in \[-9223372036854775808, 1024\]"),
    (lambda: F.roi_align(X, BOXES, 2, sampling_ratio=2.0), TypeError,
     "sampling_ratio must be an int"),
    (lambda: F.multi_scale_roi_align([X], BOXES, 2, [1.0], canonical_level=4.5), TypeError,
     "canonical_level must be an int"),
    (lambda: F.multi_scale_roi_align([X], BOXES, 2, [1.0], canonical_level=2**63), ValueError,
     r"canonical_level must be in \[-64, 64\]"),
    (lambda: F.deform_roi_pool(X, BOXES, torch.zeros(1, 2, 2, 2, dtype=torch.int64), 2),
     TypeError, "offset must be a floating-point tensor"),
    (lambda: F.deform_roi_pool(X, BOXES, None, 2, mask=torch.ones(1, 1, 2, 2, dtype=torch.bool)),
     TypeError, "mask must be a floating-point tensor"),
])
def test_public_api_names_the_argument(call: Callable[[], Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool])
@pytest.mark.parametrize("which", ["offset", "mask"])
def test_raw_op_rejects_integer_offset_and_mask(which: str, dtype: torch.dtype) -> None:
    t = torch.ones(1, 2 if which == "offset" else 1, 2, 2, dtype=dtype)
    offset, mask = (t, None) if which == "offset" else (None, t)
    with pytest.raises(raw_op_error(TypeError),
                       match=f"deform_roi_pool: {which} must be a floating-point"):
        ops.deform_roi_pool(X, BOXES, offset, mask, 2, 2, 1.0, 2, 0.1)


def test_raw_multi_scale_op_with_no_features() -> None:
    with pytest.raises(raw_op_error(ValueError),
                       match="features must hold at least one feature map"):
        ops.multi_scale_roi_align(BOXES, [], 2, 2, 2, False, [], "torchvision", 0.0, 4, 1.0)


# ---- item 11: the adaptive sample bound ---------------------------------------------------------

@needs_native
def test_default_bound_keeps_realistic_boxes_exact(generator: torch.Generator) -> None:
    """A 1000-pixel box at 7 x 7 needs 143 samples per bin axis: under the default bound
    (1024 // 7 = 146) native and reference both follow SPEC's ceil(roi / pooled)."""
    x = torch.randn(1, 1, 1001, 1001, generator=generator)
    rois = torch.tensor([[0, 0.0, 0.0, 1000.0, 1000.0]])
    adaptive = ops.roi_align(x, rois, 7, 7, 1.0, -1, False, "avg")
    explicit = reference.roi_align_reference(x, rois, 7, 7, 1.0, 143, False, "avg")
    torch.testing.assert_close(adaptive, explicit, rtol=0, atol=1e-5)


_BOUND_SCRIPT = r"""
import torch
from roipool.ops import reference
torch.manual_seed(0)
x = torch.randn(1, 2, 64, 64)
boxes = torch.tensor([[0, 0.0, 0.0, 60.0, 1e30], [0, -1e30, 3.0, 1e30, 40.0]])
rotated = torch.tensor([[0, 30.0, 30.0, 1e30, 40.0, 0.5], [0, 30.0, 30.0, 50.0, 40.0, 0.5]])
native = torch.ops.roipool.roi_align(x, boxes, 2, 3, 1.0, -1, False, "avg")
expected = reference.roi_align_reference(x.double(), boxes, 2, 3, 1.0, -1, False, "avg")
native_rotated = torch.ops.roipool.roi_align_rotated(x, rotated, 2, 3, 1.0, -1, True, False)
expected_rotated = reference.roi_align_rotated_reference(x.double(), rotated, 2, 3, 1.0, -1,
                                                         True, False)
# limit 12: pooled 2 -> at most 6 samples per bin axis, pooled 3 -> 4; an explicit
# sampling_ratio of 4 therefore equals the adaptive grid of a huge box on a 3-bin axis.
square = torch.tensor([[0, -1e30, -1e30, 1e30, 1e30]])
adaptive = torch.ops.roipool.roi_align(x, square, 3, 3, 1.0, -1, False, "avg")
explicit = reference.roi_align_reference(x.double(), square, 3, 3, 1.0, 4, False, "avg")
print(reference.adaptive_sample_limit(), float((native - expected).abs().max()),
      float((native_rotated - expected_rotated).abs().max()),
      float((adaptive - explicit).abs().max()))
"""


@needs_native
def test_sample_bound_setting_is_shared_by_native_and_reference() -> None:
    limit, *diffs = _run_python(_BOUND_SCRIPT, ROIPOOL_ADAPTIVE_SAMPLE_LIMIT="12").split()
    assert int(limit) == 12
    assert all(float(d) <= 1e-5 for d in diffs), diffs


@needs_native
def test_big_box_is_pooled_with_the_capped_grid(generator: torch.Generator) -> None:
    """The bound is a defined clamp: a 1500-pixel box at 7 x 7 (SPEC's rule: 215 samples
    per bin axis) takes 1024 // 7 = 146, exactly an explicit sampling_ratio of 146, in
    native and reference alike."""
    x = torch.randn(1, 1, 1501, 1501, generator=generator)
    rois = torch.tensor([[0, 0.0, 0.0, 1500.0, 1500.0]])
    assert reference.adaptive_sample_limit() == reference.DEFAULT_ADAPTIVE_SAMPLE_LIMIT
    expected = reference.roi_align_reference(x, rois, 7, 7, 1.0, 146, False, "avg")
    torch.testing.assert_close(ops.roi_align(x, rois, 7, 7, 1.0, -1, False, "avg"), expected,
                               rtol=0, atol=1e-5)
    with _reference_only(True):
        torch.testing.assert_close(ops.roi_align(x, rois, 7, 7, 1.0, -1, False, "avg"),
                                   expected, rtol=0, atol=1e-6)


@needs_native
@pytest.mark.parametrize("value", ["0", str(2**21)])
def test_invalid_sample_bound_setting_is_an_error(value: str) -> None:
    script = ("import os, torch, roipool.ops\n"
              "x, r = torch.zeros(1, 1, 4, 4), torch.tensor([[0, 0., 0., 2., 2.]])\n"
              "for disable in ('', '1'):\n"
              "    os.environ['ROIPOOL_DISABLE_NATIVE'] = disable\n"
              "    try:\n"
              "        torch.ops.roipool.roi_align(x, r, 2, 2, 1.0, -1, False, 'avg')\n"
              "    except (ValueError, RuntimeError) as e:  # RuntimeError: C++ kernels\n"
              "        print('ERR', e)\n")
    lines = _run_python(script, ROIPOOL_ADAPTIVE_SAMPLE_LIMIT=value).splitlines()
    assert len(lines) == 2 and all(
        "ROIPOOL_ADAPTIVE_SAMPLE_LIMIT must be an integer in [1, 1048576]" in line
        for line in lines), lines


# ---- item 12: no C++ exception escapes the C ABI ---------------------------------------------

_BAD_ALLOC_SCRIPT = r"""
import ctypes, torch
from roipool import _native
lib = _native._require_library()
op = _native._op_index("roi_align")
attrs = _native._parsed_attrs(op, _native._freeze({"pooled_h": 2, "pooled_w": 2}))
x, rois, out = torch.zeros(1, 1, 4, 4), torch.zeros(1, 5), torch.zeros(1, 1, 2, 2)
fmap = (_native._FeatureMap * 1)(_native._FeatureMap(x.data_ptr(), 1, 1, 4, 4, 0))
# A RoI count no host can plan for: the core's per-RoI plan cannot be allocated.
args = _native._OpArgs(0, 0, 1, fmap, rois.data_ptr(), 2**40, None, None, out.data_ptr())
error = ctypes.create_string_buffer(256)
code = lib.roipool_forward(op, ctypes.byref(attrs), ctypes.byref(args), 0, None, 1, error, 256)
print(code, error.value.decode())
"""


@needs_native
def test_out_of_memory_is_a_status_not_a_crash() -> None:
    assert _run_python(_BAD_ALLOC_SCRIPT).strip() == "4 RoIAlign: out of host memory"


def test_c_api_status_code_for_internal_errors() -> None:
    """Status::Code::kInternal (4) reaches Python as RuntimeError, not ValueError."""
    error = ctypes.create_string_buffer(b"RoIAlign: out of host memory")
    with pytest.raises(RuntimeError, match="out of host memory"):
        _native._check(4, error)


# ---- fuzz findings (scripts/fuzz.sh) -----------------------------------------------------------

@needs_native
def test_fuzz_output_channels_with_zero_pooled_size() -> None:
    """roipool_output_channels of a PS op with pooled_h = 0 (a raw OpAttrs through the C ABI)
    divided by zero (SIGFPE); it now answers 0."""
    lib = _native._require_library()
    op = _native._op_index("ps_roi_pool")
    attrs = _native._OpAttrs()
    lib.roipool_default_attrs(op, ctypes.byref(attrs))
    attrs.pooled_h = 0
    assert lib.roipool_output_channels(op, ctypes.byref(attrs), 12) == 0


@needs_native
@pytest.mark.parametrize("native", [True, False], ids=["native", "reference"])
@pytest.mark.parametrize("fill", [math.nan, math.inf])
def test_fuzz_nan_box_under_non_finite_mask(native: bool, fill: float) -> None:
    """A NaN box stayed 0 * mask = NaN under a DeformRoIPool mask of inf / NaN."""
    x = torch.randn(1, 2, 8, 8)
    rois = torch.tensor([[0, math.nan, 1.0, 5.0, 5.0], [0, 1.0, 1.0, 5.0, math.nan]])
    mask = torch.full((2, 1, 2, 2), fill)
    with _reference_only(not native):
        out = ops.deform_roi_pool(x, rois, None, mask, 2, 2, 1.0, 2, 0.1)
    assert torch.equal(out, torch.zeros_like(out))


@needs_native
@pytest.mark.parametrize("native", [True, False], ids=["native", "reference"])
@pytest.mark.parametrize("name", ["roi_align_ratio", "roi_align_rotated", "ps_roi_align",
                                  "multi_scale_roi_align", "roi_warp"])
def test_fuzz_nan_box_on_non_finite_map(name: str, native: bool) -> None:
    """A NaN box read pixel (0, 0) with weight 0 for its (invalid) samples: an inf there
    gave NaN instead of SPEC's 0."""
    op, columns, channels = NAN_CASES[name]
    x = torch.randn(1, channels, 12, 12)
    x[..., 0, 0] = math.inf
    rois = _nan_rois(columns, 5 if columns == 6 else 2)
    with _reference_only(not native):
        out = op(x, rois)
    assert torch.equal(out[0], torch.zeros_like(out[0]))
