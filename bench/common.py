"""Shared pieces of the native benchmarks: the FPN workload, timing statistics,
machine description, table printing and JSON output."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(ROOT / "python"))

# Feature Pyramid Network levels P2..P5 of an 800x1216 image.
FPN_SHAPES = [(200, 304), (100, 152), (50, 76), (25, 38)]
FPN_SCALES = [1 / 4, 1 / 8, 1 / 16, 1 / 32]
IMAGE_H, IMAGE_W = 800, 1216
POOLED = 7
SAMPLING_RATIO = 2
# torchvision MultiScaleRoIAlign's level mapping (SPEC 3.6).
CANONICAL_SCALE, CANONICAL_LEVEL = 224.0, 4


@dataclass
class FpnWorkload:
    """Feature maps (finest first), [K, 5] rois and each RoI's level."""

    features: list[torch.Tensor]
    rois: torch.Tensor
    levels: torch.Tensor

    def level_rois(self, level: int) -> torch.Tensor:
        return self.rois[self.levels == level]

    def to(self, device: str, dtype: torch.dtype) -> FpnWorkload:
        """A copy on `device` with maps and rois in `dtype` (torchvision wants both alike)."""
        return FpnWorkload([f.to(device, dtype) for f in self.features],
                           self.rois.to(device, dtype), self.levels.to(device))


def fpn_workload(num_rois: int, channels: int, seed: int = 0) -> FpnWorkload:
    """Random proposals with log-uniform sizes from 16 to 800 pixels (so every level gets
    RoIs, most on the finer ones, as with real proposals) on a batch of one image."""
    generator = torch.Generator().manual_seed(seed)
    features = [torch.randn(1, channels, h, w, generator=generator) for h, w in FPN_SHAPES]
    size = torch.exp(torch.empty(num_rois, 2).uniform_(math.log(16), math.log(800),
                                                       generator=generator))
    centre = torch.rand(num_rois, 2, generator=generator) * torch.tensor([IMAGE_W, IMAGE_H])
    lo = (centre - size / 2).clamp(min=0)
    hi = torch.minimum(centre + size / 2, torch.tensor([IMAGE_W - 1.0, IMAGE_H - 1.0]))
    rois = torch.cat([torch.zeros(num_rois, 1), lo, hi], dim=1)
    return FpnWorkload(features, rois, torchvision_levels(rois))


def torchvision_levels(rois: torch.Tensor) -> torch.Tensor:
    """Level index (0 = finest) of every RoI under torchvision's mapping (SPEC 3.6)."""
    area = (rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2])
    k_min, k_max = -math.log2(FPN_SCALES[0]), -math.log2(FPN_SCALES[-1])
    target = torch.floor(CANONICAL_LEVEL + torch.log2(area.sqrt() / CANONICAL_SCALE) + 1e-6)
    return (target.clamp(k_min, k_max) - k_min).long()


def multi_scale_attrs() -> dict[str, object]:
    """ONNX attributes of MultiScaleRoIAlign on the FPN workload (torchvision mapping)."""
    return {"pooled_h": POOLED, "pooled_w": POOLED, "sampling_ratio": SAMPLING_RATIO,
            "aligned": 0, "spatial_scales": FPN_SCALES, "level_mapping": "torchvision",
            "canonical_scale": CANONICAL_SCALE, "canonical_level": CANONICAL_LEVEL}


def roi_align_attrs(scale: float) -> dict[str, object]:
    """ONNX attributes of torchvision-style RoIAlign (aligned=0, avg) at `scale`."""
    return {"pooled_h": POOLED, "pooled_w": POOLED, "spatial_scale": scale,
            "sampling_ratio": SAMPLING_RATIO, "aligned": 0, "mode": "avg"}


def wall_times(fn: Callable[[], object], repeat: int, warmup: int = 1) -> list[float]:
    """Wall-clock seconds of `repeat` calls of `fn` after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def summary(times: Sequence[float]) -> dict[str, object]:
    return {"median_s": statistics.median(times), "min_s": min(times), "times_s": list(times)}


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or platform's guess elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, object]:
    return {"platform": platform.platform(), "cpu": cpu_model(),
            "logical_cpus": len(os.sched_getaffinity(0)),
            "python": platform.python_version(), "torch": torch.__version__}


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Left-aligned first column, right-aligned numbers (floats with 4 significant digits)."""
    def cell(value: object) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) if i == 0 else h.rjust(w)
                     for i, (h, w) in enumerate(zip(headers, widths, strict=True)))
    print(line)
    print("-" * len(line))
    for row in cells:
        print("  ".join(v.ljust(w) if i == 0 else v.rjust(w)
                        for i, (v, w) in enumerate(zip(row, widths, strict=True))))


def write_json(name: str, payload: dict[str, object], path: Path | None = None) -> Path:
    """Writes `payload` to `path` (default bench/results/<name>.json) and returns the path."""
    path = path if path is not None else RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
