"""CPU benchmark: native roi_align / multi_scale_roi_align (roipool._native) against
ONNX Runtime's built-in RoiAlign (opset 16, CPU EP) and the eager reference.

Workload: FPN-like, 1,000 RoIs, 256 channels, 7x7 bins, sampling_ratio 2, aligned=0
(torchvision MultiScaleRoIAlign), maps 200x304 / 100x152 / 50x76 / 25x38. Cases:
  per-level   - RoIAlign on each level's RoIs, 4 calls (ORT: one graph of 4 RoiAlign
                nodes, so it gets the same per-level split for free);
  multi-scale - native MultiScaleRoIAlign, one call over all RoIs (vs the same ORT graph
                and the eager multi_scale_roi_align_reference);
  single-map  - all RoIs on the 200x304 map (also with the native op reading a
                channels-last copy of the map: its NHWC path).
Same intra-op thread count for every contestant; median of --repeat runs after a
warm-up. Prints a table and writes bench/results/cpu.json.

    PYTHONPATH=python ROIPOOL_LIBRARY_DIR=build/core-pool/lib python bench/bench_cpu.py
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import onnx
import onnxruntime as ort
import torch
from common import (
    FPN_SCALES,
    POOLED,
    SAMPLING_RATIO,
    FpnWorkload,
    fpn_workload,
    machine,
    multi_scale_attrs,
    print_table,
    roi_align_attrs,
    summary,
    wall_times,
    write_json,
)
from onnx import TensorProto, helper
from roipool import _native
from roipool.ops import reference


def ort_roi_align_model(num_maps: int, channels: int, scales: list[float]) -> bytes:
    """One graph with `num_maps` independent standard RoiAlign nodes (opset 16, avg,
    output_half_pixel = torchvision aligned=0), inputs feature_i, boxes_i, batch_i."""
    nodes, inputs, outputs = [], [], []
    for i, scale in enumerate(scales[:num_maps]):
        inputs += [
            helper.make_tensor_value_info(f"feature_{i}", TensorProto.FLOAT,
                                          [1, channels, None, None]),
            helper.make_tensor_value_info(f"boxes_{i}", TensorProto.FLOAT, [None, 4]),
            helper.make_tensor_value_info(f"batch_{i}", TensorProto.INT64, [None]),
        ]
        outputs.append(helper.make_tensor_value_info(f"out_{i}", TensorProto.FLOAT,
                                                     [None, channels, POOLED, POOLED]))
        nodes.append(helper.make_node(
            "RoiAlign", [f"feature_{i}", f"boxes_{i}", f"batch_{i}"], [f"out_{i}"],
            mode="avg", output_height=POOLED, output_width=POOLED,
            sampling_ratio=SAMPLING_RATIO, spatial_scale=scale,
            coordinate_transformation_mode="output_half_pixel"))
    graph = helper.make_graph(nodes, "roi_align_levels", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)])
    model.ir_version = 13  # onnxruntime refuses newer IR versions
    onnx.checker.check_model(model)
    return model.SerializeToString()


def ort_runner(maps: list[torch.Tensor], rois: list[torch.Tensor], scales: list[float],
               threads: int) -> Callable[[], list[np.ndarray]]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(ort_roi_align_model(len(maps), maps[0].shape[1], scales),
                                   options, providers=["CPUExecutionProvider"])
    feeds = {}
    for i, (feature, boxes) in enumerate(zip(maps, rois, strict=True)):
        feeds[f"feature_{i}"] = feature.numpy()
        feeds[f"boxes_{i}"] = boxes[:, 1:].contiguous().numpy()
        feeds[f"batch_{i}"] = boxes[:, 0].long().numpy()
    return lambda: session.run(None, feeds)


def per_level_case(w: FpnWorkload, threads: int) -> dict[str, Callable[[], object]]:
    level_rois = [w.level_rois(i) for i in range(len(w.features))]
    return {
        "native": lambda: [_native.forward("roi_align", [f], r, roi_align_attrs(s),
                                           num_threads=threads)
                           for f, r, s in zip(w.features, level_rois, FPN_SCALES, strict=True)],
        "ort": ort_runner(w.features, level_rois, FPN_SCALES, threads),
        "eager": lambda: [reference.roi_align_reference(f, r, POOLED, POOLED, s,
                                                        SAMPLING_RATIO, False, "avg")
                          for f, r, s in zip(w.features, level_rois, FPN_SCALES, strict=True)],
    }


def multi_scale_case(w: FpnWorkload, threads: int) -> dict[str, Callable[[], object]]:
    attrs = multi_scale_attrs()
    level_rois = [w.level_rois(i) for i in range(len(w.features))]
    return {
        "native": lambda: _native.forward("multi_scale_roi_align", w.features, w.rois, attrs,
                                          num_threads=threads),
        "ort": ort_runner(w.features, level_rois, FPN_SCALES, threads),
        "eager": lambda: reference.multi_scale_roi_align_reference(
            w.rois, w.features, POOLED, POOLED, SAMPLING_RATIO, False, FPN_SCALES,
            "torchvision", 224.0, 4, 1.0),
    }


def single_map_case(w: FpnWorkload, threads: int) -> dict[str, Callable[[], object]]:
    feature, scale = w.features[0], FPN_SCALES[0]
    return {
        "native": lambda: _native.forward("roi_align", [feature], w.rois, roi_align_attrs(scale),
                                          num_threads=threads),
        "ort": ort_runner([feature], [w.rois], [scale], threads),
        "eager": lambda: reference.roi_align_reference(feature, w.rois, POOLED, POOLED, scale,
                                                       SAMPLING_RATIO, False, "avg"),
    }


def single_map_nhwc_case(w: FpnWorkload, threads: int) -> dict[str, Callable[[], object]]:
    """As single-map, but the native op gets the map channels-last (the NHWC kernel path;
    the layout change itself is not timed). ORT and eager still read NCHW."""
    case = single_map_case(w, threads)
    feature = w.features[0].to(memory_format=torch.channels_last)
    attrs = roi_align_attrs(FPN_SCALES[0])
    case["native"] = lambda: _native.forward("roi_align", [feature], w.rois, attrs,
                                             num_threads=threads)
    return case


CASES = {"per-level roi_align": per_level_case, "multi_scale_roi_align": multi_scale_case,
         "single-map roi_align": single_map_case,
         "single-map roi_align, NHWC input": single_map_nhwc_case}


def check_parity(w: FpnWorkload) -> float:
    """Max |native - ORT| over the per-level outputs: the contestants compute the same."""
    case = per_level_case(w, 1)
    native = case["native"]()
    ort_out = case["ort"]()
    return max(float(np.abs(n.numpy() - o).max(initial=0.0))
               for n, o in zip(native, ort_out, strict=True))


def main() -> None:
    """Run every case at each thread count, print a table and write bench/results/cpu.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--eager-repeat", type=int, default=2)
    parser.add_argument("--num-rois", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-eager", action="store_true", help="skip the eager reference")
    args = parser.parse_args()
    if not _native.available(torch.device("cpu")):
        raise SystemExit("libroipool_core.so not found: build it and set ROIPOOL_LIBRARY_DIR")

    workload = fpn_workload(args.num_rois, args.channels)
    counts = torch.bincount(workload.levels, minlength=len(FPN_SCALES)).tolist()
    parity = check_parity(workload)
    print(f"RoIs per level {counts}; max |native - ORT| = {parity:.3g}")
    rows, results = [], []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for name, make in CASES.items():
            runners = make(workload, threads)
            times = {"native": wall_times(runners["native"], args.repeat),
                     "ort": wall_times(runners["ort"], args.repeat)}
            if not args.no_eager:
                times["eager"] = wall_times(runners["eager"], args.eager_repeat)
            stats = {k: summary(v) for k, v in times.items()}
            median = {k: v["median_s"] for k, v in stats.items()}
            speedup = median["ort"] / median["native"]
            eager_ms = median["eager"] * 1e3 if "eager" in median else float("nan")
            rows.append([name, threads, median["native"] * 1e3, median["ort"] * 1e3, eager_ms,
                         speedup])
            results.append({"case": name, "threads": threads, "speedup_vs_ort": speedup,
                            **{k: v for k, v in stats.items()}})
            print(f"  {name} x{threads}: {speedup:.2f}x vs ORT", flush=True)
    print()
    print_table(["case", "threads", "native ms", "ORT ms", "eager ms", "ORT/native"], rows)
    path = write_json("cpu", {
        "benchmark": "native roi_align vs onnxruntime RoiAlign (opset 16) vs eager, CPU",
        "config": {"num_rois": args.num_rois, "channels": args.channels,
                   "maps": [list(f.shape[2:]) for f in workload.features],
                   "spatial_scales": FPN_SCALES, "pooled": [POOLED, POOLED],
                   "sampling_ratio": SAMPLING_RATIO, "aligned": 0, "dtype": "float32",
                   "rois_per_level": counts, "repeat": args.repeat,
                   "eager_repeat": args.eager_repeat},
        "machine": {**machine(), "onnxruntime": ort.__version__},
        "max_abs_diff_native_vs_ort": parity,
        "results": results,
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
