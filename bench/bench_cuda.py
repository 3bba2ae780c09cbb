"""CUDA benchmark: every native op (roipool._native on CUDA) and, where one exists, its
torchvision CUDA counterpart (roi_align, roi_pool, ps_roi_align, ps_roi_pool,
MultiScaleRoIAlign), in float32, float16 and bfloat16.

Workloads: the FPN one of bench_cpu.py (1,000 RoIs, 256 channels, maps 200x304 ..
25x38, 7x7, sampling_ratio 2) and the same with 10,000 RoIs. Single-map ops run on the
200x304 map (scale 1/4; PS ops on 245 = 5 x 7 x 7 channels); rois are in the
benchmark's dtype for both contestants, as torchvision requires. Timing: CUDA events around
each call, median of --repeat after --warmup calls. Bandwidth: the op's compulsory
traffic (feature maps read once + rois + output written) / time, against the GPU's
peak DRAM bandwidth (table for H100/H200, else from the device properties). Prints a
table and writes bench/results/cuda.json (or --json PATH); exits cleanly without CUDA.

    PYTHONPATH=python ROIPOOL_LIBRARY_DIR=build/<tag>/lib python bench/bench_cuda.py
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from common import (
    FPN_SCALES,
    IMAGE_H,
    IMAGE_W,
    POOLED,
    SAMPLING_RATIO,
    FpnWorkload,
    fpn_workload,
    machine,
    multi_scale_attrs,
    print_table,
    roi_align_attrs,
    write_json,
)
from roipool import _native

# Peak DRAM bandwidth (bytes/s) by device-name fragment, most specific first.
PEAK_BANDWIDTH = [
    ("H200", 4.8e12),
    ("H100 NVL", 3.9e12),
    ("H100 PCIe", 2.0e12),
    ("H100", 3.35e12),  # SXM5 (HBM3)
    ("A100-SXM4-80GB", 2.039e12),
    ("A100", 1.555e12),
]

PS_CHANNELS = 5 * POOLED * POOLED


def peak_bandwidth(props: object) -> float:
    """Peak DRAM bytes/s of the device: table by name, else 2 x memory clock x bus width."""
    name = str(getattr(props, "name", ""))
    for fragment, peak in PEAK_BANDWIDTH:
        if fragment in name:
            return peak
    clock_khz = getattr(props, "memory_clock_rate", 0)
    bus_bits = getattr(props, "memory_bus_width", 0)
    return 2.0 * clock_khz * 1e3 * bus_bits / 8 if clock_khz and bus_bits else float("nan")


def cuda_times_ms(fn: Callable[[], object], repeat: int, warmup: int) -> list[float]:
    """Milliseconds of each of `repeat` calls, measured with CUDA events."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return times


@dataclass
class Case:
    """One op on one workload: the native call, the torchvision call (or None), and the
    tensors whose bytes count as compulsory traffic."""

    name: str
    native: Callable[[], torch.Tensor]
    torchvision: Callable[[], torch.Tensor] | None
    inputs: list[torch.Tensor]


def cases(w: FpnWorkload, tv: object | None) -> list[Case]:
    """Every op on workload `w` (already on the GPU in the benchmark's dtype)."""
    x, scale, rois = w.features[0], FPN_SCALES[0], w.rois
    ps_x = x[:, :PS_CHANNELS].contiguous()
    generator = torch.Generator(device=x.device).manual_seed(0)
    offset = 0.1 * torch.randn(len(rois), 2, POOLED, POOLED, generator=generator,
                               device=x.device, dtype=x.dtype)
    rotated = torch.cat([rois[:, :1], (rois[:, 1:3] + rois[:, 3:5]) / 2,
                         rois[:, 3:5] - rois[:, 1:3], torch.full_like(rois[:, :1], 0.3)], 1)
    pool = {"pooled_h": POOLED, "pooled_w": POOLED, "spatial_scale": scale}
    align = roi_align_attrs(scale)
    sr = {"sampling_ratio": SAMPLING_RATIO}
    reference = torchvision_calls(w, tv, ps_x) if tv is not None else {}
    native = _native.forward
    return [
        Case("roi_align avg", lambda: native("roi_align", [x], rois, align),
             reference.get("roi_align"), [x]),
        Case("roi_align max", lambda: native("roi_align", [x], rois, {**align, "mode": "max"}),
             None, [x]),
        Case("roi_pool", lambda: native("roi_pool", [x], rois, pool),
             reference.get("roi_pool"), [x]),
        Case("roi_warp", lambda: native("roi_warp", [x], rois, {**pool, **sr}), None, [x]),
        Case("ps_roi_align", lambda: native("ps_roi_align", [ps_x], rois, {**pool, **sr}),
             reference.get("ps_roi_align"), [ps_x]),
        Case("ps_roi_pool", lambda: native("ps_roi_pool", [ps_x], rois, pool),
             reference.get("ps_roi_pool"), [ps_x]),
        Case("deform_roi_pool", lambda: native("deform_roi_pool", [x], rois, {**pool, **sr},
                                               offset=offset), None, [x, offset]),
        Case("multi_scale_roi_align", lambda: native("multi_scale_roi_align", w.features, rois,
                                                     multi_scale_attrs()),
             reference.get("multi_scale_roi_align"), w.features),
        Case("roi_align_rotated", lambda: native("roi_align_rotated", [x], rotated,
                                                 {**pool, **sr, "aligned": 1}), None, [x]),
        Case("prroi_pool", lambda: native("prroi_pool", [x], rois, pool), None, [x]),
    ]


def torchvision_calls(w: FpnWorkload, tv: object,
                      ps_x: torch.Tensor) -> dict[str, Callable[[], torch.Tensor]]:
    """torchvision's counterparts of the native cases, by case name."""
    x, scale = w.features[0], FPN_SCALES[0]
    rois = w.rois
    names = [f"p{i + 2}" for i in range(len(w.features))]
    pooler = tv.ops.MultiScaleRoIAlign(names, POOLED, SAMPLING_RATIO)
    feature_dict = dict(zip(names, w.features, strict=True))
    boxes = [rois[:, 1:].contiguous()]
    return {
        "roi_align": lambda: tv.ops.roi_align(x, rois, POOLED, scale, SAMPLING_RATIO),
        "roi_pool": lambda: tv.ops.roi_pool(x, rois, POOLED, scale),
        "ps_roi_align": lambda: tv.ops.ps_roi_align(ps_x, rois, POOLED, scale, SAMPLING_RATIO),
        "ps_roi_pool": lambda: tv.ops.ps_roi_pool(ps_x, rois, POOLED, scale),
        "multi_scale_roi_align": lambda: pooler(feature_dict, boxes, [(IMAGE_H, IMAGE_W)]),
    }


def traffic_bytes(case: Case, rois: torch.Tensor, output: torch.Tensor) -> int:
    tensors = [*case.inputs, rois, output]
    return sum(t.numel() * t.element_size() for t in tensors)


def main() -> None:
    """Run every case, print a table and write bench/results/cuda.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--num-rois", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--json", type=Path, default=None,
                        help="where to write the results (default bench/results/cuda.json)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench_cuda: CUDA is not available here; nothing to measure.")
        return
    device = torch.device("cuda")
    if not _native.available(device):
        print("bench_cuda: libroipool_core.so was built without CUDA (or not found); "
              "build with CUDA and set ROIPOOL_LIBRARY_DIR.")
        return
    try:
        import torchvision as tv
    except ImportError:
        tv = None
        print("bench_cuda: torchvision is not importable; timing the native ops alone.")

    props = torch.cuda.get_device_properties(device)
    peak = peak_bandwidth(props)
    rows, results = [], []
    for num_rois in args.num_rois:
        base = fpn_workload(num_rois, args.channels)
        for dtype in (torch.float32, torch.float16, torch.bfloat16):
            w = base.to("cuda", dtype)
            for case in cases(w, tv):
                output = case.native()
                native_ms = statistics.median(cuda_times_ms(case.native, args.repeat, args.warmup))
                gbps = traffic_bytes(case, w.rois, output) / (native_ms * 1e-3) / 1e9
                entry = {"case": case.name, "num_rois": num_rois, "dtype": str(dtype),
                         "native_ms": native_ms, "native_gb_s": gbps,
                         "fraction_of_peak": gbps * 1e9 / peak}
                tv_ms = float("nan")
                expected = None
                if case.torchvision is not None:
                    try:
                        expected = case.torchvision()
                    except (RuntimeError, NotImplementedError) as error:  # e.g. no bf16 kernel
                        entry["torchvision_error"] = str(error).splitlines()[0]
                if expected is not None:
                    entry["max_abs_diff_vs_torchvision"] = float(
                        (output.float() - expected.float()).abs().max())
                    tv_ms = statistics.median(cuda_times_ms(case.torchvision, args.repeat,
                                                            args.warmup))
                    entry["torchvision_ms"] = tv_ms
                    entry["speedup_vs_torchvision"] = tv_ms / native_ms
                results.append(entry)
                rows.append([case.name, num_rois, str(dtype).removeprefix("torch."), native_ms,
                             tv_ms, tv_ms / native_ms, gbps, 100 * gbps * 1e9 / peak])
    print_table(["op", "RoIs", "dtype", "native ms", "tv ms", "tv/native", "GB/s", "% peak"],
                rows)
    path = write_json("cuda", path=args.json, payload={
        "benchmark": "native CUDA ops vs torchvision CUDA ops",
        "config": {"channels": args.channels, "maps": [list(f.shape[2:]) for f in base.features],
                   "spatial_scales": FPN_SCALES, "pooled": [POOLED, POOLED],
                   "sampling_ratio": SAMPLING_RATIO, "repeat": args.repeat,
                   "warmup": args.warmup},
        "machine": {**machine(), "gpu": props.name, "peak_bandwidth_gb_s": peak / 1e9,
                    "torchvision": getattr(tv, "__version__", None)},
        "results": results,
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
