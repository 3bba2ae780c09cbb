"""CPU benchmark: the native kernels (roipool._native) against ONNX Runtime's built-in
RoiAlign / MaxRoiPool (CPU EP) and torchvision's CPU ops, with a roofline.

Workload: FPN-like (bench/common.py), 1,000 RoIs, 256 channels, 7x7 bins,
sampling_ratio 2, maps 200x304 / 100x152 / 50x76 / 25x38. Cases:
  roi_align            - all RoIs on the 200x304 map (vs ORT RoiAlign, torchvision roi_align)
  multi_scale_roi_align - one call over the four maps (vs an ORT graph of four RoiAlign
                         nodes on the per-level RoIs, torchvision MultiScaleRoIAlign)
  roi_pool             - all RoIs on the 200x304 map (vs ORT MaxRoiPool, torchvision roi_pool)
  ps_roi_align         - 490 = 10 x 7 x 7 channels on the 100x152 map (vs torchvision)
  deform_roi_pool      - with offsets, 200x304 map (no peer on CPU)
  roi_align_rotated    - boxes with random angles, 200x304 map (no peer on CPU)
each in float32, float16 and bfloat16 (peers run float32: ORT's CPU kernels and the
comparison are float32; fp16/bf16 rows give the speed relative to native float32).

Timing: the contestants of a case are called in turn, `--repeat` rounds (interleaved,
so load on a shared machine hits them alike), medians of wall-clock time after one
warm-up each; "cpu" columns give the same ratio in process CPU time (all threads),
which a machine shared with other jobs disturbs less (it counts no time spent
descheduled, but it also credits no parallel speed-up). The native op and ORT
(IOBinding) write into preallocated outputs; torchvision allocates its output (it has
no out= form).

Roofline: a microbenchmark measures this machine's copy bandwidth (torch copy of a
256 MiB tensor: bytes read + written per second) and multiply-add throughput (float32
GEMM, 2 flops per multiply-add) at each thread count. Each native case reports its
compulsory traffic (maps read once, output written once) in GB/s and its arithmetic
(bilinear: 8 flops per sample and channel; RoIPool: 1 compare per pixel and channel)
in GFLOP/s, as fractions of those, and `roofline`: the time the bound allows
(max of traffic / bandwidth, flops / peak) over the measured time.

    PYTHONPATH=python ROIPOOL_LIBRARY_DIR=build/dev/lib python bench/bench_cpu.py
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torchvision
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
from onnx import TensorProto, helper
from roipool import _native

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
PS_CHANNELS_OUT = 10


# ---- roofline microbenchmark ---------------------------------------------------------
def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def machine_limits(threads: int, repeat: int = 5) -> dict[str, float]:
    """Copy bandwidth (GB/s, read + write) and float32 multiply-add rate (GFLOP/s)."""
    torch.set_num_threads(threads)
    src = torch.ones(64 << 20)  # 256 MiB
    dst = torch.empty_like(src)
    copy_s = median_seconds(lambda: dst.copy_(src), repeat)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    gemm_s = median_seconds(lambda: torch.mm(a, b), repeat)
    return {"copy_gb_s": 2 * src.numel() * 4 / copy_s / 1e9,
            "fma_gflop_s": 2 * 2048**3 / gemm_s / 1e9}


# ---- ONNX Runtime built-ins ------------------------------------------------------------
def _ort_session(nodes: list, inputs: list, outputs: list, threads: int) -> ort.InferenceSession:
    graph = helper.make_graph(nodes, "bench", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)])
    model.ir_version = 13  # onnxruntime refuses newer IR versions
    onnx.checker.check_model(model)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


class BoundRun:
    """session.run_with_iobinding on preallocated outputs; outputs() reads them back."""

    def __init__(self, session: ort.InferenceSession, feeds: dict[str, np.ndarray],
                 out_shapes: dict[str, tuple]) -> None:
        self.session, self.binding = session, session.io_binding()
        for name, value in feeds.items():
            self.binding.bind_cpu_input(name, value)
        for name, shape in out_shapes.items():
            self.binding.bind_ortvalue_output(
                name, ort.OrtValue.ortvalue_from_numpy(np.empty(shape, dtype=np.float32)))

    def __call__(self) -> None:
        self.session.run_with_iobinding(self.binding)

    def outputs(self) -> list[torch.Tensor]:
        return [torch.from_numpy(o) for o in self.binding.copy_outputs_to_cpu()]


def _bound(session: ort.InferenceSession, feeds: dict[str, np.ndarray],
           out_shapes: dict[str, tuple]) -> BoundRun:
    return BoundRun(session, feeds, out_shapes)


def ort_roi_align(maps: list[torch.Tensor], rois: list[torch.Tensor], scales: list[float],
                  threads: int) -> Callable[[], object]:
    """One graph of standard RoiAlign nodes (opset 16, avg, output_half_pixel =
    torchvision aligned=0), one per map with that map's RoIs."""
    nodes, inputs, outputs, feeds, shapes = [], [], [], {}, {}
    channels = maps[0].shape[1]
    for i, (feature, boxes, scale) in enumerate(zip(maps, rois, scales, strict=True)):
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
        feeds[f"feature_{i}"] = feature.numpy()
        feeds[f"boxes_{i}"] = boxes[:, 1:].contiguous().numpy()
        feeds[f"batch_{i}"] = boxes[:, 0].long().numpy()
        shapes[f"out_{i}"] = (len(boxes), channels, POOLED, POOLED)
    return _bound(_ort_session(nodes, inputs, outputs, threads), feeds, shapes)


def ort_max_roi_pool(feature: torch.Tensor, rois: torch.Tensor, scale: float,
                     threads: int) -> Callable[[], object]:
    channels = feature.shape[1]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, None, None]),
              helper.make_tensor_value_info("rois", TensorProto.FLOAT, [None, 5])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                             [None, channels, POOLED, POOLED])]
    node = helper.make_node("MaxRoiPool", ["x", "rois"], ["y"], pooled_shape=[POOLED, POOLED],
                            spatial_scale=scale)
    session = _ort_session([node], inputs, outputs, threads)
    return _bound(session, {"x": feature.numpy(), "rois": rois.numpy()},
                  {"y": (len(rois), channels, POOLED, POOLED)})


# ---- cases -------------------------------------------------------------------------------
@dataclass
class Case:
    """Native op inputs plus float32 peers; bytes / flops feed the roofline."""

    op: str
    maps: list[torch.Tensor]
    rois: torch.Tensor
    attrs: dict
    flops: float
    peers: dict[str, Callable[[int], Callable[[], object]]] = field(default_factory=dict)
    extra: dict[str, torch.Tensor] = field(default_factory=dict)  # offset

    def native(self, dtype: torch.dtype, threads: int) -> tuple[Callable[[], object], float]:
        """The timed call and its compulsory traffic in bytes."""
        maps = [m.to(dtype) for m in self.maps]
        extra = {k: v.to(dtype) for k, v in self.extra.items()}
        out = _native.forward(self.op, maps, self.rois, self.attrs, **extra)
        traffic = sum(m.numel() for m in maps) * maps[0].element_size() \
            + out.numel() * out.element_size() + self.rois.numel() * 4
        return (lambda: _native.forward(self.op, maps, self.rois, self.attrs, num_threads=threads,
                                        out=out, **extra)), float(traffic)


def bilinear_flops(num_rois: int, channels_out: int) -> float:
    """4 products and 4 sums per sample and output channel, 2 x 2 samples per bin."""
    return 8.0 * num_rois * POOLED * POOLED * SAMPLING_RATIO**2 * channels_out


def roi_pool_compares(rois: torch.Tensor, scale: float, height: int, width: int,
                      channels: int) -> float:
    """Pixels read by all RoIPool bins (SPEC 3.1 quantisation) times channels."""
    def axis_total(lo: torch.Tensor, hi: torch.Tensor, size: int) -> torch.Tensor:
        start = torch.round(lo * scale)
        extent = torch.clamp(torch.round(hi * scale) - start + 1, min=1)
        step = extent / POOLED
        i = torch.arange(POOLED, dtype=torch.float32)
        b = (torch.floor(i[None] * step[:, None]) + start[:, None]).clamp(0, size)
        e = (torch.ceil((i[None] + 1) * step[:, None]) + start[:, None]).clamp(0, size)
        return (e - b).clamp(min=0).sum(dim=1)

    rows = axis_total(rois[:, 2], rois[:, 4], height)
    cols = axis_total(rois[:, 1], rois[:, 3], width)
    return float((rows * cols).sum()) * channels


def make_cases(w: FpnWorkload) -> list[Case]:
    p2, scale = w.features[0], FPN_SCALES[0]
    k, channels = len(w.rois), p2.shape[1]
    level_rois = [w.level_rois(i) for i in range(len(w.features))]
    tv_msra = torchvision.ops.MultiScaleRoIAlign(["0", "1", "2", "3"], POOLED, SAMPLING_RATIO)
    named = {str(i): f for i, f in enumerate(w.features)}
    boxes = [w.rois[:, 1:]]
    generator = torch.Generator().manual_seed(1)
    p3 = torch.randn(1, PS_CHANNELS_OUT * POOLED * POOLED, *p2.shape[2:], generator=generator)
    p3 = p3[:, :, ::2, ::2].contiguous()  # 100x152, scale 1/8
    centre = (w.rois[:, 1:3] + w.rois[:, 3:5]) / 2
    size = w.rois[:, 3:5] - w.rois[:, 1:3]
    angle = (torch.rand(k, 1, generator=generator) - 0.5) * math.pi
    rotated = torch.cat([w.rois[:, :1], centre, size, angle], dim=1)
    offset = torch.randn(k, 2, POOLED, POOLED, generator=generator) * 0.1
    return [
        Case("roi_align", [p2], w.rois, roi_align_attrs(scale), bilinear_flops(k, channels), {
            "ort": lambda t: ort_roi_align([p2], [w.rois], [scale], t),
            "torchvision": lambda t: lambda: torchvision.ops.roi_align(
                p2, w.rois, POOLED, scale, SAMPLING_RATIO, False)}),
        Case("multi_scale_roi_align", w.features, w.rois, multi_scale_attrs(),
             bilinear_flops(k, channels), {
                 "ort": lambda t: ort_roi_align(w.features, level_rois, FPN_SCALES, t),
                 "torchvision": lambda t: lambda: tv_msra(named, boxes, [(IMAGE_H, IMAGE_W)])}),
        Case("roi_pool", [p2], w.rois,
             {"pooled_h": POOLED, "pooled_w": POOLED, "spatial_scale": scale},
             roi_pool_compares(w.rois, scale, p2.shape[2], p2.shape[3], channels), {
                 "ort": lambda t: ort_max_roi_pool(p2, w.rois, scale, t),
                 "torchvision": lambda t: lambda: torchvision.ops.roi_pool(
                     p2, w.rois, POOLED, scale)}),
        Case("ps_roi_align", [p3], w.rois,
             {"pooled_h": POOLED, "pooled_w": POOLED, "spatial_scale": FPN_SCALES[1],
              "sampling_ratio": SAMPLING_RATIO},
             bilinear_flops(k, PS_CHANNELS_OUT), {
                 "torchvision": lambda t: lambda: torchvision.ops.ps_roi_align(
                     p3, w.rois, POOLED, FPN_SCALES[1], SAMPLING_RATIO)}),
        Case("deform_roi_pool", [p2], w.rois,
             {"pooled_h": POOLED, "pooled_w": POOLED, "spatial_scale": scale,
              "sampling_ratio": SAMPLING_RATIO, "gamma": 0.1},
             bilinear_flops(k, channels), extra={"offset": offset}),
        Case("roi_align_rotated", [p2], rotated,
             {"pooled_h": POOLED, "pooled_w": POOLED, "spatial_scale": scale,
              "sampling_ratio": SAMPLING_RATIO, "aligned": 1, "clockwise": 0},
             bilinear_flops(k, channels)),
    ]


def interleaved(runners: dict[str, Callable[[], object]],
                repeat: int) -> tuple[dict[str, float], dict[str, float]]:
    """Median wall seconds and median process CPU seconds (all threads) of each runner,
    called in turn `repeat` rounds after a warm-up."""
    for fn in runners.values():
        fn()
    wall: dict[str, list[float]] = {name: [] for name in runners}
    cpu: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeat):
        for name, fn in runners.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return ({name: statistics.median(t) for name, t in wall.items()},
            {name: statistics.median(t) for name, t in cpu.items()})


def check_parity(cases: list[Case], levels: torch.Tensor) -> dict[str, float]:
    """Max |native - peer| (float32, 1 thread) per case and peer. ORT's graph for
    multi_scale_roi_align returns one output per level, holding that level's RoIs."""
    diffs = {}
    for case in cases:
        native = _native.forward(case.op, case.maps, case.rois, case.attrs, **case.extra)
        for name, make in case.peers.items():
            run = make(1)
            out = run()
            if isinstance(run, BoundRun):
                parts = run.outputs()
                mine = [native] if len(parts) == 1 else [native[levels == i]
                                                        for i in range(len(parts))]
                diffs[f"{case.op} vs {name}"] = max(
                    float((m - o).abs().amax()) if m.numel() else 0.0
                    for m, o in zip(mine, parts, strict=True))
            else:
                diffs[f"{case.op} vs {name}"] = float((native - out).abs().max())
    return diffs


def main() -> None:
    """Run every case x dtype x thread count, print a table, write bench/results/cpu.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--num-rois", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cases", nargs="+", default=None, help="subset of case names")
    parser.add_argument("--no-peers", action="store_true", help="time the native op only")
    parser.add_argument("--json", type=Path, default=None,
                        help="where to write the results (default bench/results/cpu.json)")
    args = parser.parse_args()
    if not _native.available(torch.device("cpu")):
        raise SystemExit("libroipool_core.so not found: build it and set ROIPOOL_LIBRARY_DIR")

    workload = fpn_workload(args.num_rois, args.channels)
    cases = [c for c in make_cases(workload) if args.cases is None or c.op in args.cases]
    if args.no_peers:
        for case in cases:
            case.peers = {}
    torch.set_num_threads(1)
    parity = check_parity(cases, workload.levels)
    print("max |native - peer| (float32):",
          ", ".join(f"{k} {v:.3g}" for k, v in parity.items()), flush=True)
    print(f"native CPU ISA: {_native.cpu_isa()}", flush=True)
    rows, results, limits = [], [], {}
    for threads in args.threads:
        limits[threads] = machine_limits(threads)
        print(f"{threads} thread(s): copy {limits[threads]['copy_gb_s']:.1f} GB/s, "
              f"fp32 FMA {limits[threads]['fma_gflop_s']:.1f} GFLOP/s", flush=True)
        torch.set_num_threads(threads)
        for case in cases:
            runners, traffic = {}, {}
            for dname, dtype in DTYPES.items():
                runners[dname], traffic[dname] = case.native(dtype, threads)
            for name, make in case.peers.items():
                runners[name] = make(threads)
            median, cpu = interleaved(runners, args.repeat)
            for dname in DTYPES:
                t = median[dname]
                gb_s, gflop_s = traffic[dname] / t / 1e9, case.flops / t / 1e9
                bound = max(traffic[dname] / (limits[threads]["copy_gb_s"] * 1e9),
                            case.flops / (limits[threads]["fma_gflop_s"] * 1e9))
                record = {
                    "case": case.op, "dtype": dname, "threads": threads, "native_s": t,
                    "native_cpu_s": cpu[dname],
                    "vs_float32": median["float32"] / t, "gb_s": gb_s,
                    "gb_s_fraction": gb_s / limits[threads]["copy_gb_s"], "gflop_s": gflop_s,
                    "gflop_s_fraction": gflop_s / limits[threads]["fma_gflop_s"],
                    "roofline_fraction": bound / t,
                }
                peer_cells = []
                for name in ("ort", "torchvision"):
                    if dname == "float32" and name in median:
                        record[f"{name}_s"] = median[name]
                        record[f"{name}_cpu_s"] = cpu[name]
                        record[f"speedup_vs_{name}"] = median[name] / t
                        record[f"cpu_ratio_vs_{name}"] = cpu[name] / cpu[dname]
                        peer_cells += [median[name] * 1e3, median[name] / t,
                                       cpu[name] / cpu[dname]]
                    else:
                        peer_cells += ["-", "-", "-"]
                results.append(record)
                rows.append([case.op, dname, threads, t * 1e3, *peer_cells,
                             record["vs_float32"], gb_s, record["gb_s_fraction"], gflop_s,
                             record["gflop_s_fraction"], record["roofline_fraction"]])
            print(f"  {case.op} x{threads}: " + ", ".join(
                f"{k} {v * 1e3:.1f} ms" for k, v in median.items()), flush=True)
    print()
    print_table(["case", "dtype", "thr", "native ms", "ORT ms", "ORT/nat", "cpu", "tv ms",
                 "tv/nat", "cpu",
                 "fp32/this", "GB/s", "of BW", "GFLOP/s", "of FMA", "roofline"], rows)
    path = write_json("cpu", {
        "benchmark": "native CPU kernels vs onnxruntime built-ins and torchvision, roofline",
        "config": {"num_rois": args.num_rois, "channels": args.channels,
                   "maps": [list(f.shape[2:]) for f in workload.features],
                   "spatial_scales": FPN_SCALES, "pooled": [POOLED, POOLED],
                   "sampling_ratio": SAMPLING_RATIO, "repeat": args.repeat,
                   "ps_channels_out": PS_CHANNELS_OUT, "cpu_isa": _native.cpu_isa()},
        "machine": {**machine(), "onnxruntime": ort.__version__,
                    "torchvision": torchvision.__version__},
        "limits": {str(k): v for k, v in limits.items()},
        "max_abs_diff_vs_peers": parity,
        "results": results,
    }, args.json)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
