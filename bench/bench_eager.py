"""Benchmark of the pure-PyTorch reference ops (roipool.ops.reference) on the CPU.

Headline case (the performance target): roi_align forward, 1000 random RoIs, 256
channels, 200x304 feature map (spatial_scale 1/16), 7x7 output, sampling_ratio 2,
float32 -- target < 2 s on a 2-core machine. Prints a table and writes JSON to
bench/results/eager.json.

    PYTHONPATH=python python bench/bench_eager.py [--repeat 3] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from collections.abc import Callable
from pathlib import Path

import torch
from common import wall_times  # also puts the repo's python/ on sys.path
from roipool.ops import reference as R

RESULTS = Path(__file__).resolve().parent / "results" / "eager.json"


def random_boxes(num: int, height: int, width: int, scale: float, min_size: float,
                 generator: torch.Generator) -> torch.Tensor:
    """[num, 5] boxes in image pixels inside an (height/scale) x (width/scale) image."""
    xy = torch.rand(num, 4, generator=generator)
    x1 = torch.minimum(xy[:, 0], xy[:, 2]) * width / scale
    x2 = torch.maximum(xy[:, 0], xy[:, 2]) * width / scale + min_size
    y1 = torch.minimum(xy[:, 1], xy[:, 3]) * height / scale
    y2 = torch.maximum(xy[:, 1], xy[:, 3]) * height / scale + min_size
    return torch.stack([torch.zeros(num), x1, y1, x2, y2], dim=1)


def cases(args: argparse.Namespace) -> dict[str, Callable[[], object]]:
    generator = torch.Generator().manual_seed(0)
    scale = 1 / 16
    x = torch.randn(1, args.channels, 200, 304, generator=generator)
    rois = random_boxes(args.num_rois, 200, 304, scale, 16.0, generator)
    rotated = torch.cat([rois[:, :1], (rois[:, 1:3] + rois[:, 3:5]) / 2,
                         rois[:, 3:5] - rois[:, 1:3], torch.full((len(rois), 1), 0.3)], 1)
    ps_x = x[:, :245]  # 5 output channels x 7 x 7
    offset = 0.1 * torch.randn(len(rois), 2, 7, 7, generator=generator)
    levels = [torch.randn(1, args.channels, 200 // 2**i, 304 // 2**i, generator=generator)
              for i in range(4)]
    grad_x = x.clone().requires_grad_()

    def backward() -> None:
        R.roi_align_reference(grad_x, rois, 7, 7, scale, 2, False, "avg").sum().backward()

    return {
        "roi_align avg sr=2 (target)": lambda: R.roi_align_reference(
            x, rois, 7, 7, scale, 2, False, "avg"),
        "roi_align avg adaptive": lambda: R.roi_align_reference(
            x, rois, 7, 7, scale, 0, True, "avg"),
        "roi_align max sr=2": lambda: R.roi_align_reference(x, rois, 7, 7, scale, 2, False, "max"),
        "roi_align avg sr=2 fwd+bwd": backward,
        "roi_pool": lambda: R.roi_pool_reference(x, rois, 7, 7, scale),
        "roi_warp sr=2": lambda: R.roi_warp_reference(x, rois, 7, 7, scale, 2, False, "avg"),
        "ps_roi_pool (245 ch)": lambda: R.ps_roi_pool_reference(ps_x, rois, 7, 7, scale),
        "ps_roi_align sr=2 (245 ch)": lambda: R.ps_roi_align_reference(
            ps_x, rois, 7, 7, scale, 2),
        "deform_roi_pool sr=2": lambda: R.deform_roi_pool_reference(
            x, rois, offset, None, 7, 7, scale, 2, 0.1),
        "multi_scale_roi_align sr=2 (4 levels)": lambda: R.multi_scale_roi_align_reference(
            rois, levels, 7, 7, 2, False, [1 / 16, 1 / 32, 1 / 64, 1 / 128], "torchvision",
            224.0, 4, 1.0),
        "roi_align_rotated sr=2": lambda: R.roi_align_rotated_reference(
            x, rotated, 7, 7, scale, 2, True, False),
        "prroi_pool": lambda: R.prroi_pool_reference(x, rois, 7, 7, scale),
    }


def main() -> None:
    """Run every case, print a table and write bench/results/eager.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--num-rois", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--only", default="", help="run cases whose name contains this")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    rows = []
    print(f"{'case':42s} {'median s':>9s} {'min s':>8s}")
    for name, fn in cases(args).items():
        if args.only and args.only not in name:
            continue
        times = wall_times(fn, args.repeat)
        rows.append({"case": name, "median_s": statistics.median(times), "min_s": min(times),
                     "times_s": times})
        print(f"{name:42s} {statistics.median(times):9.3f} {min(times):8.3f}", flush=True)

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "benchmark": "eager reference (roipool.ops.reference), CPU",
        "config": {"num_rois": args.num_rois, "channels": args.channels, "map": [200, 304],
                   "pooled": [7, 7], "spatial_scale": 1 / 16, "dtype": "float32",
                   "repeat": args.repeat},
        "machine": {"platform": platform.platform(), "torch": torch.__version__,
                    "threads": torch.get_num_threads()},
        "results": rows,
    }, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
