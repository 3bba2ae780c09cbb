"""The native CPU kernels at every vector code path (ROIPOOL_CPU_ISA = baseline, avx2,
avx512) this machine has: each forced level is really taken, matches the float64
reference within SPEC section 4 and gives results bit-identical to the baseline level;
levels this CPU lacks and unknown names are refused with an error naming the variable.

Channel counts are chosen so that every part of the vector loops runs: whole register
blocks (4 vectors), single vectors and a partial tail, at 8 and 16 lanes.
"""

from __future__ import annotations

import platform
from pathlib import Path

import pytest
import torch
from conftest import assert_spec_close, random_rois
from roipool import _native
from roipool.ops import reference

pytestmark = pytest.mark.skipif(
    not _native.available(torch.device("cpu")), reason="libroipool_core.so not built"
)

LEVELS = ["baseline", "avx2", "avx512"]
# Flags /proc/cpuinfo must list for each x86 level (the library checks the same).
_X86_FLAGS = {"avx2": {"avx2", "fma", "f16c"},
              "avx512": {"avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq"}}
CHANNELS = 4 * 16 + 16 + 5  # 4-vector blocks, single vectors and a tail at 8 and 16 lanes
BATCH, HEIGHT, WIDTH = 2, 13, 16
DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def _cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _available(level: str) -> bool:
    if level == "baseline":
        return True
    return platform.machine() in ("x86_64", "AMD64") and _X86_FLAGS[level] <= _cpu_flags()


AVAILABLE = [level for level in LEVELS if _available(level)]

# (op, attrs): the ops served by the vector loops (bilinear bins on channels-last maps,
# RoIPool's pixel bins), avg and max.
_COMMON = {"pooled_h": 3, "pooled_w": 4, "spatial_scale": 0.5}
OPS = [
    ("roi_align", {**_COMMON, "sampling_ratio": 2, "aligned": 0, "mode": "avg"}),
    ("roi_align", {**_COMMON, "sampling_ratio": -1, "aligned": 1, "mode": "max"}),
    ("roi_warp", {**_COMMON, "sampling_ratio": 2, "aligned": 0, "mode": "avg"}),
    ("roi_align_rotated", {**_COMMON, "sampling_ratio": 2, "aligned": 1, "clockwise": 0}),
    ("deform_roi_pool", {**_COMMON, "sampling_ratio": 2, "gamma": 0.1}),
    ("ps_roi_align", {**_COMMON, "sampling_ratio": 2}),
    ("roi_pool", _COMMON),
]


def _inputs(op: str, generator: torch.Generator, num_rois: int = 24) -> tuple:
    channels = 7 * 3 * 4 if op.startswith("ps_") else CHANNELS  # PS: 7 outputs x 3 x 4 bins
    features = torch.randn(BATCH, channels, HEIGHT, WIDTH, generator=generator) * 3
    rois = random_rois(num_rois, BATCH, HEIGHT, WIDTH, generator=generator, spatial_scale=0.5)
    if op == "roi_align_rotated":
        centre, size = (rois[:, 1:3] + rois[:, 3:5]) / 2, rois[:, 3:5] - rois[:, 1:3]
        theta = torch.rand(len(rois), 1, generator=generator) * 6.0 - 3.0
        rois = torch.cat([rois[:, :1], centre, size, theta], dim=1)
    offset = torch.randn(len(rois), 2, 3, 4, generator=generator)
    mask = torch.rand(len(rois), 1, 3, 4, generator=generator)
    return features, rois, offset, mask


def _run(op: str, attrs: dict, features: torch.Tensor, rois: torch.Tensor, offset, mask,
         dtype: torch.dtype, channels_last: bool, threads: int = 2) -> torch.Tensor:
    layout = torch.channels_last if channels_last else torch.contiguous_format
    typed = features.to(dtype).contiguous(memory_format=layout)
    extra = {}
    if op == "deform_roi_pool":
        extra = {"offset": offset.to(dtype), "mask": mask.to(dtype)}
    return _native.forward(op, [typed], rois, attrs, num_threads=threads, **extra)


def _reference(op: str, attrs: dict, features: torch.Tensor, rois: torch.Tensor, offset, mask,
               dtype: torch.dtype) -> torch.Tensor:
    fn = getattr(reference, f"{op}_reference")
    typed = features.to(dtype).double()
    if op == "deform_roi_pool":
        return fn(typed, rois.double(), offset.to(dtype).double(), mask.to(dtype).double(),
                  **attrs)
    return fn(typed, rois.double(), **attrs)


def test_default_level_is_the_best_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROIPOOL_CPU_ISA", raising=False)
    assert _native.cpu_isa() == AVAILABLE[-1]


# nchw: 24 RoIs read the map often enough to be copied channels-last (vector loops);
# nchw-few: 2 RoIs keep the NCHW plane loop; nhwc: channels-last input.
LAYOUTS = {"nchw": (False, 24), "nchw-few": (False, 2), "nhwc": (True, 24)}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(("op", "attrs"), OPS, ids=[f"{o}-{a.get('mode', '')}" for o, a in OPS])
def test_every_level_matches_reference_and_baseline(
    op: str, attrs: dict, dtype: torch.dtype, layout: str,
    monkeypatch: pytest.MonkeyPatch, generator: torch.Generator,
) -> None:
    channels_last, num_rois = LAYOUTS[layout]
    inputs = _inputs(op, generator, num_rois)
    monkeypatch.setenv("ROIPOOL_CPU_ISA", "baseline")
    baseline = _run(op, attrs, *inputs, dtype, channels_last)
    assert_spec_close(baseline, _reference(op, attrs, *inputs, dtype), dtype,
                      inputs[0].to(dtype))
    for level in AVAILABLE:
        monkeypatch.setenv("ROIPOOL_CPU_ISA", level)
        assert _native.cpu_isa() == level
        actual = _run(op, attrs, *inputs, dtype, channels_last)
        # Same operations in the same order at every level (no FMA): identical bits,
        # hence the same SPEC 4 error as checked above.
        assert torch.equal(actual, baseline), level
        # Threads only change who computes which RoI.
        assert torch.equal(_run(op, attrs, *inputs, dtype, channels_last, threads=1), actual)


@pytest.mark.parametrize("level", [lv for lv in LEVELS if lv not in AVAILABLE] or ["none"])
def test_unavailable_level_is_refused(level: str, monkeypatch: pytest.MonkeyPatch,
                                      generator: torch.Generator) -> None:
    if level == "none":
        pytest.skip("every level is available on this machine")
    monkeypatch.setenv("ROIPOOL_CPU_ISA", level)
    assert _native.cpu_isa() is None
    op, attrs = OPS[0]
    with pytest.raises(ValueError, match="ROIPOOL_CPU_ISA"):
        _run(op, attrs, *_inputs(op, generator), torch.float32, False)


def test_unknown_level_is_refused(monkeypatch: pytest.MonkeyPatch,
                                  generator: torch.Generator) -> None:
    monkeypatch.setenv("ROIPOOL_CPU_ISA", "sse9")
    assert _native.cpu_isa() is None
    op, attrs = OPS[0]
    with pytest.raises(ValueError, match="ROIPOOL_CPU_ISA='sse9'"):
        _run(op, attrs, *_inputs(op, generator), torch.float32, False)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(("channels", "height", "width"),
                         [(3, 5, 7), (8, 8, 8), (13, 9, 13), (16, 17, 6), (37, 11, 10)])
def test_channels_last_copy_is_exact_for_any_shape(
    channels: int, height: int, width: int, dtype: torch.dtype,
    monkeypatch: pytest.MonkeyPatch, generator: torch.Generator,
) -> None:
    """The NCHW map's channels-last copy (8 x 8 register transposes plus scalar edges)
    reproduces the map exactly: pooling it equals pooling the same map given NHWC."""
    features = torch.randn(2, channels, height, width, generator=generator).to(dtype)
    rois = random_rois(64, 2, height, width, generator=generator)  # many reads: copied
    attrs = {"pooled_h": 3, "pooled_w": 4, "spatial_scale": 1.0, "sampling_ratio": 2,
             "aligned": True, "mode": "avg"}
    for level in AVAILABLE:
        monkeypatch.setenv("ROIPOOL_CPU_ISA", level)
        copied = _native.forward("roi_align", [features], rois, attrs, num_threads=2)
        nhwc = features.contiguous(memory_format=torch.channels_last)
        assert torch.equal(copied, _native.forward("roi_align", [nhwc], rois, attrs)), level
