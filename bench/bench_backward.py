"""Forward and forward+backward of roipool's public API against torchvision in the same
run (CPU): roi_align, roi_pool, ps_roi_align, ps_roi_pool, MultiScaleRoIAlign, plus the
per-call overhead at K = 1. Calls of the two libraries are interleaved and each cell is
a median; ``speedup`` = torchvision's median / roipool's. torchvision's CPU kernels are
single-threaded, so its 2-thread rows measure the same kernel again.

Workload (issue 11): K RoIs (default 1000) x C channels (256; 245 = 5 x 7 x 7 for the
position-sensitive ops) on a 200x304 map at scale 1/16, 7x7 bins, sampling_ratio 2;
MultiScaleRoIAlign on the four FPN levels of an 800x1216 image.

    PYTHONPATH=python python bench/bench_backward.py [--repeat 7] [--num-rois 1000]
        [--overhead-only]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torchvision
from common import (  # also puts the repo's python/ on sys.path
    FPN_SCALES,
    IMAGE_H,
    IMAGE_W,
    SAMPLING_RATIO,
    fpn_workload,
    machine,
    print_table,
    summary,
    write_json,
)
from roipool.ops import _library
from roipool.ops import functional as F
from roipool.ops.modules import MultiScaleRoIAlign

SCALE = 1 / 16


def _boxes(num: int, generator: torch.Generator) -> torch.Tensor:
    """[num, 5] boxes (batch 0) of 16 px or more inside the 3200x4864 image of the map."""
    xy = torch.rand(num, 4, generator=generator)
    lo = torch.minimum(xy[:, :2], xy[:, 2:]) * torch.tensor([304 / SCALE, 200 / SCALE])
    hi = torch.maximum(xy[:, :2], xy[:, 2:]) * torch.tensor([304 / SCALE, 200 / SCALE]) + 16
    return torch.cat([torch.zeros(num, 1), lo, hi], dim=1)


Pair = tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]


def single_map_cases(num_rois: int, channels: int) -> dict[str, tuple[torch.Tensor, Pair]]:
    """name -> (input, (roipool fn, torchvision fn)), each fn taking the input."""
    generator = torch.Generator().manual_seed(0)
    rois = _boxes(num_rois, generator)
    x = torch.randn(1, channels, 200, 304, generator=generator)
    ps = torch.randn(1, 245, 200, 304, generator=generator)
    tv = torchvision.ops
    return {
        "roi_align": (x, (lambda t: F.roi_align(t, rois, 7, SCALE, SAMPLING_RATIO),
                          lambda t: tv.roi_align(t, rois, 7, SCALE, SAMPLING_RATIO))),
        "roi_pool": (x, (lambda t: F.roi_pool(t, rois, 7, SCALE),
                         lambda t: tv.roi_pool(t, rois, 7, SCALE))),
        "ps_roi_align": (ps, (lambda t: F.ps_roi_align(t, rois, 7, SCALE, SAMPLING_RATIO),
                              lambda t: tv.ps_roi_align(t, rois, 7, SCALE, SAMPLING_RATIO))),
        "ps_roi_pool": (ps, (lambda t: F.ps_roi_pool(t, rois, 7, SCALE),
                             lambda t: tv.ps_roi_pool(t, rois, 7, SCALE))),
    }


def multi_scale_case(num_rois: int, channels: int):
    work = fpn_workload(num_rois, channels)
    names = [f"p{i + 2}" for i in range(len(work.features))]
    image_sizes = [(IMAGE_H, IMAGE_W)]
    boxes = [work.rois[:, 1:]]
    ours = MultiScaleRoIAlign(names, 7, SAMPLING_RATIO)
    theirs = torchvision.ops.MultiScaleRoIAlign(names, 7, SAMPLING_RATIO)

    def call(pooler):
        return lambda maps: pooler(dict(zip(names, maps, strict=True)), boxes, image_sizes)

    return work.features, (call(ours), call(theirs))


def _leaf(inputs, grad: bool):
    if isinstance(inputs, list):
        return [t.detach().requires_grad_(grad) for t in inputs]
    return inputs.detach().requires_grad_(grad)


def step(fn, inputs, backward: bool) -> Callable[[], None]:
    """One timed call: forward (no autograd) or forward + backward of a fixed gradient."""
    if not backward:
        def forward() -> None:
            with torch.no_grad():
                fn(inputs)
        return forward
    leaves = _leaf(inputs, True)
    grad = fn(leaves).detach().clone().normal_()

    def train() -> None:
        fn(leaves).backward(grad)
        for t in leaves if isinstance(leaves, list) else [leaves]:
            t.grad = None
    return train


def interleaved(calls: dict[str, Callable[[], None]], repeat: int, warmup: int = 1):
    """Median seconds of each call, alternating between them every round."""
    for fn in calls.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeat):
        for name, fn in calls.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: summary(t) for name, t in times.items()}


def overhead_calls(backward: bool = False) -> dict[str, Callable[[], None]]:
    """K = 1 on a 1 x 4 x 16 x 16 map: what a call costs besides the work (with
    `backward`, forward and backward of the public APIs, the map requiring grad)."""
    x = torch.randn(1, 4, 16, 16, requires_grad=backward)
    rois = torch.tensor([[0.0, 1.0, 1.0, 9.0, 9.0]])
    ops = torch.ops.roipool
    calls = {
        "torchvision.ops.roi_align": lambda: torchvision.ops.roi_align(x, rois, 7, 1.0, 2),
        "roipool.ops.roi_align": lambda: F.roi_align(x, rois, 7, 1.0, 2),
    }
    if not backward:
        calls["torch.ops.roipool.roi_align"] = (
            lambda: ops.roi_align(x, rois, 7, 7, 1.0, 2, False, "avg"))
        return calls
    return {name: (lambda fn=fn: fn().sum().backward()) for name, fn in calls.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--num-rois", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--overhead-only", action="store_true",
                        help="only the K = 1 per-call overhead section")
    args = parser.parse_args()

    cases = {} if args.overhead_only else single_map_cases(args.num_rois, args.channels)
    if not args.overhead_only:
        cases["MultiScaleRoIAlign"] = multi_scale_case(args.num_rois, args.channels)
    route = _library.TORCH_LIBRARY_PATH or "Python (ctypes binding)"
    rows, overhead_rows, results = [], [], []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for name, (inputs, (ours, theirs)) in cases.items():
            for backward in (False, True):
                mode = "fwd+bwd" if backward else "fwd"
                medians = interleaved({"roipool": step(ours, inputs, backward),
                                       "torchvision": step(theirs, inputs, backward)},
                                      args.repeat)
                r, t = medians["roipool"]["median_s"], medians["torchvision"]["median_s"]
                rows.append([name, mode, threads, t * 1e3, r * 1e3, t / r])
                results.append({"op": name, "mode": mode, "threads": threads,
                                "roipool": medians["roipool"],
                                "torchvision": medians["torchvision"], "speedup": t / r})
        for mode in ("fwd", "fwd+bwd"):
            overhead = interleaved(overhead_calls(backward=mode == "fwd+bwd"),
                                   repeat=max(200, 40 * args.repeat), warmup=20)
            base = overhead["torchvision.ops.roi_align"]["median_s"]
            for name, stats in overhead.items():
                ratio = stats["median_s"] / base
                overhead_rows.append([name, mode, threads, stats["median_s"] * 1e6, ratio])
                results.append({"op": f"K=1 {name}", "mode": mode, "threads": threads,
                                "median_s": stats["median_s"], "ratio_to_torchvision": ratio})
    print(f"K={args.num_rois}, C={args.channels}, repeat={args.repeat}, torch {torch.__version__}"
          f", torchvision {torchvision.__version__}, torch.ops.roipool kernels: {route}")
    if rows:
        print_table(["case", "mode", "threads", "torchvision ms", "roipool ms", "speedup"], rows)
    print("\nper-call overhead, K = 1 (1 x 4 x 16 x 16 map, 7x7):")
    print_table(["call", "mode", "threads", "median us", "time / torchvision"], overhead_rows)
    name = "backward_overhead" if args.overhead_only else "backward"
    path = write_json(name, {"machine": machine(), "args": vars(args), "route": route,
                                   "scales": FPN_SCALES, "results": results})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
