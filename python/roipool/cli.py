"""The ``roipool`` command: ``demo``, ``export``, ``run``, ``shapes``, ``build``, ``bench``,
``info``, ``triton``, ``convert-mmdeploy``."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from roipool.models import VARIANTS, DetectorConfig

_REPO_BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with `argv` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except (FileNotFoundError, ImportError, ValueError, RuntimeError) as error:
        print(f"roipool {args.command}: error: {error}", file=sys.stderr)
        return 1


# ----------------------------------------------------------------------------- parser

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="roipool", description=__doc__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser("demo", help="quantisation demo, then export every variant's "
                               "detector and torchvision's Faster R-CNN, run them in ONNX "
                               "Runtime and check them against eager")
    _add_detector_options(demo)
    _add_variants_option(demo)
    demo.add_argument("--repeats", type=int, default=20, help="timed ORT runs per variant")
    demo.add_argument("--torchscript", action="store_true",
                      help="use the TorchScript exporter instead of dynamo")
    demo.add_argument("--no-torchvision", action="store_true",
                      help="skip exporting torchvision's fasterrcnn_resnet50_fpn whole")
    demo.set_defaults(handler=_demo)

    export = commands.add_parser("export", help="export the demo detector to ONNX")
    _add_detector_options(export)
    export.add_argument("--variant", choices=VARIANTS, default="roi_align")
    export.add_argument("-o", "--output", type=Path, required=True, help=".onnx path")
    export.add_argument("--torchscript", action="store_true",
                        help="use the TorchScript exporter instead of dynamo")
    export.add_argument("--standard-ops", action="store_true",
                        help="standard ONNX RoiAlign / MaxRoiPool where exact")
    export.add_argument("--seed", type=int, default=0, help="weight seed")
    export.set_defaults(handler=_export)

    run = commands.add_parser("run", help="run an .onnx model in ONNX Runtime with roipool")
    run.add_argument("model", type=Path)
    run.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy",
                     help="an input from a .npy file (others are random)")
    run.add_argument("--dim", action="append", default=[], metavar="NAME=SIZE",
                     help="size of a symbolic dimension for random inputs (default 64, "
                          "K: 8, batch B: 2)")
    run.add_argument("--repeats", type=int, default=10)
    run.add_argument("--save", type=Path, help="write the outputs to this .npz file")
    run.set_defaults(handler=_run)

    shapes = commands.add_parser("shapes", help="infer every shape of an .onnx model with "
                                 "roipool's shape rules (ONNX Runtime's symbolic shape "
                                 "inference, or onnx's with --onnx)")
    shapes.add_argument("model", type=Path)
    shapes.add_argument("-o", "--output", type=Path, required=True, help="inferred .onnx path")
    shapes.add_argument("--onnx", action="store_true",
                        help="onnx.shape_inference (strict) instead of ONNX Runtime's tool")
    shapes.set_defaults(handler=_shapes)

    build = commands.add_parser("build", help="build a TensorRT engine from an .onnx model")
    build.add_argument("model", type=Path)
    build.add_argument("-o", "--output", type=Path, required=True, help="engine path")
    build.add_argument("--shape", action="append", default=[], metavar="NAME=MIN:OPT:MAX",
                       help="optimisation profile of a dynamic input, shapes as 1x3x64x64")
    build.add_argument("--workspace-mib", type=int, default=1024)
    build.add_argument("--verbose", action="store_true")
    build.set_defaults(handler=_build)

    bench = commands.add_parser("bench", help="quick ONNX Runtime latency of every variant, "
                                "or a bench/ script")
    _add_detector_options(bench)
    _add_variants_option(bench)
    bench.add_argument("--repeats", type=int, default=50)
    bench.add_argument("--script", help="run bench/<SCRIPT>.py instead (extra args after --)")
    bench.add_argument("script_args", nargs=argparse.REMAINDER)
    bench.set_defaults(handler=_bench)

    convert = commands.add_parser(
        "convert-mmdeploy", help="rewrite mmdeploy / mmcv RoI nodes into roipool nodes and "
        "check in ONNX Runtime that the outputs stay identical")
    convert.add_argument("input", help="the mmdeploy / mmcv .onnx model")
    convert.add_argument("output", help="where to write the converted model")
    convert.add_argument("--dim", action="append", default=[], metavar="NAME=SIZE",
                         help="size of a symbolic input dimension for the check (default "
                         "K=8, B=2, others 64)")
    convert.add_argument("--no-check", action="store_true",
                         help="skip the ONNX Runtime comparison (for models that cannot run "
                         "on random inputs)")
    convert.set_defaults(handler=_convert_mmdeploy)

    info = commands.add_parser("info", help="versions and the native libraries found")
    info.set_defaults(handler=_info)

    _add_triton_parser(commands)
    return parser


def _add_triton_parser(commands: Any) -> None:
    triton = commands.add_parser("triton", help="write a Triton model repository for an .onnx "
                                 "model (ONNX Runtime backend, optionally TensorRT)")
    triton.add_argument("model", type=Path)
    triton.add_argument("-o", "--output", type=Path, required=True, help="repository folder")
    triton.add_argument("--name", help="model name (default: the file name)")
    triton.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                        help="ONNX Runtime instance kind")
    triton.add_argument("--instances", type=int, default=1, help="instances per model")
    triton.add_argument("--max-batch-size", type=int, default=0,
                        help="Triton batching (only for models that allow it)")
    triton.add_argument("--tensorrt", action="store_true",
                        help="also write the TensorRT model (NAME_trt)")
    triton.add_argument("--engine", type=Path,
                        help="plan from `roipool build` (else built here: needs TensorRT)")
    triton.add_argument("--shape", action="append", default=[], metavar="NAME=MIN:OPT:MAX",
                        help="optimisation profile when building the plan, as for `build`")
    triton.add_argument("--op-library", help="libroipool_ort.so path on the server "
                        "(default: this installation's)")
    triton.add_argument("--plugin-library", help="libroipool_trt.so path on the server "
                        "(default: this installation's)")
    triton.add_argument("--no-onnxruntime", action="store_true",
                        help="write only the TensorRT model")
    triton.set_defaults(handler=_triton)


def _add_detector_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--pooled", type=int, default=4)
    parser.add_argument("--height", type=int, default=64, help="image height (multiple of 32)")
    parser.add_argument("--width", type=int, default=96, help="image width (multiple of 32)")
    parser.add_argument("--rois", type=int, default=16, help="number of RoIs")


def _add_variants_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS),
                        metavar="VARIANT", help=f"subset of {', '.join(VARIANTS)}")


def _config(args: argparse.Namespace, variant: str) -> DetectorConfig:
    return DetectorConfig(variant=variant, channels=args.channels, pooled=args.pooled)


# ----------------------------------------------------------------------------- commands

def _demo(args: argparse.Namespace) -> int:
    from roipool.demo import quantisation_demo
    from roipool.export.verify import verify_variant

    quantisation_demo()
    print()
    print(f"Detector per RoI variant: {'TorchScript' if args.torchscript else 'dynamo'} "
          f"export -> ONNX Runtime (libroipool_ort) vs eager float64, "
          f"images {args.height}x{args.width}, {args.rois} RoIs")
    print(f"{'variant':24s} {'max abs error':>14s} {'tolerance':>10s} {'median ms':>10s}  status")
    failures = 0
    for variant in args.variants:
        try:
            result = verify_variant(_config(args, variant), dynamo=not args.torchscript,
                                    repeats=args.repeats, height=args.height, width=args.width,
                                    num_rois=args.rois)
        except Exception as error:
            failures += 1
            print(f"{variant:24s} ERROR {type(error).__name__}: {_first_line(error)}")
            continue
        failures += not result.passed
        print(f"{variant:24s} {result.max_abs_error:14.3e} {result.tolerance:10.1e} "
              f"{result.median_ms:10.3f}  {'ok' if result.passed else 'FAIL'}")
    if failures:
        print(f"{failures} variant(s) failed: error above the SPEC tolerance or did not run",
              file=sys.stderr)
    if not args.no_torchvision:
        failures += _torchvision_demo(args.torchscript)
    return 1 if failures else 0


def _torchvision_demo(torchscript: bool) -> int:
    """Export torchvision's fasterrcnn_resnet50_fpn whole, run it in ORT and compare with
    eager torchvision; 1 on a mismatch, 0 otherwise (also when torchvision is absent)."""
    import importlib.util

    print()
    if importlib.util.find_spec("torchvision") is None:
        print("torchvision is not installed: skipping the whole-detector export")
        return 0
    from roipool.export.detector_parity import detector_demo

    return 0 if detector_demo("fasterrcnn_resnet50_fpn", dynamo=not torchscript) else 1


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[-1][:160] if lines else ""


def _export(args: argparse.Namespace) -> int:
    import onnx

    from roipool.export.verify import export_detector

    _, proto = export_detector(_config(args, args.variant), dynamo=not args.torchscript,
                               standard_ops=args.standard_ops, seed=args.seed)
    onnx.save(proto, args.output)
    ops = sorted({f"{n.domain or 'ai.onnx'}::{n.op_type}" for n in proto.graph.node
                  if n.domain == "roipool" or n.op_type in ("RoiAlign", "MaxRoiPool")})
    print(f"wrote {args.output} ({', '.join(ops)})")
    return 0


def _run(args: argparse.Namespace) -> int:
    from roipool._timing import median_latency_ms
    from roipool.runtime.ort import create_session

    session = create_session(args.model)
    given = dict(_key_value(item, "--input") for item in args.input)
    dims = {name: int(size) for name, size in (_key_value(d, "--dim") for d in args.dim)}
    feeds = {}
    for spec in session.get_inputs():
        if spec.name in given:
            feeds[spec.name] = np.load(given.pop(spec.name))
        else:
            feeds[spec.name] = _random_input(spec, dims, feeds)
    if given:
        raise ValueError(f"the model has no input(s) {sorted(given)}")
    outputs = session.run(None, feeds)
    for spec, value in zip(session.get_outputs(), outputs, strict=True):
        print(f"{spec.name}: shape {list(value.shape)} dtype {value.dtype}")
    print(f"median latency {median_latency_ms(lambda: session.run(None, feeds), args.repeats):.3f}"
          " ms")
    if args.save:
        names = [spec.name for spec in session.get_outputs()]
        np.savez(args.save, **dict(zip(names, outputs, strict=True)))
    return 0


def _shapes(args: argparse.Namespace) -> int:
    import onnx

    from roipool.export import DOMAIN, symbolic_shape_infer

    model = onnx.load(args.model)
    if args.onnx:
        try:
            inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        except onnx.shape_inference.InferenceError as error:
            raise ValueError(str(error).strip()) from error
    else:
        inferred = symbolic_shape_infer(model)
    onnx.save(inferred, args.output)
    values = {v.name: v for v in [*inferred.graph.value_info, *inferred.graph.output]}
    for node in inferred.graph.node:
        if node.domain == DOMAIN:
            value = values.get(node.output[0])
            dims = value.type.tensor_type.shape.dim if value is not None else []
            shape = [d.dim_value if d.HasField("dim_value") else d.dim_param or "?" for d in dims]
            print(f"{node.op_type} {node.output[0]}: {shape}")
    print(f"wrote {args.output}")
    return 0


def _key_value(item: str, option: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name:
        raise ValueError(f"{option} expects NAME=VALUE, got {item!r}")
    return name, value


_NUMPY_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
                "tensor(double)": np.float64}


def _random_input(spec: Any, dims: dict[str, int], feeds: dict[str, np.ndarray]) -> np.ndarray:
    """A random input for `spec`; an input named ``rois`` gets valid boxes inside the
    first 4-D input (``[K, 5]``, or ``[K, 6]`` rotated)."""
    if spec.type not in _NUMPY_TYPES:
        raise ValueError(f"cannot make a random {spec.type} input {spec.name!r}; pass --input")
    shape = [d if isinstance(d, int) else dims.get(str(d), _default_dim(str(d)))
             for d in spec.shape]
    rng = np.random.default_rng(0)
    dtype = _NUMPY_TYPES[spec.type]
    if spec.name != "rois" or len(shape) != 2:
        return rng.standard_normal(shape).astype(dtype)
    images = next((v for v in feeds.values() if v.ndim == 4), None)
    batch, height, width = ((images.shape[0], images.shape[2], images.shape[3])
                            if images is not None else (1, 64, 64))
    k = shape[0]
    x = np.sort(rng.uniform(0, width, (k, 2)), axis=1)
    y = np.sort(rng.uniform(0, height, (k, 2)), axis=1)
    index = rng.integers(0, batch, (k, 1)).astype(np.float64)
    if shape[1] == 6:
        theta = rng.uniform(-1.5, 1.5, (k, 1))
        boxes = np.concatenate([x.mean(1, keepdims=True), y.mean(1, keepdims=True),
                                x[:, 1:] - x[:, :1] + 1, y[:, 1:] - y[:, :1] + 1, theta], 1)
    else:
        boxes = np.concatenate([x[:, :1], y[:, :1], x[:, 1:], y[:, 1:]], 1)
    return np.concatenate([index, boxes], 1).astype(dtype)


def _default_dim(name: str) -> int:
    return {"K": 8, "B": 2}.get(name, 64)


def _convert_mmdeploy(args: argparse.Namespace) -> int:
    import onnx

    from roipool.export.mmdeploy import convert_mmdeploy
    from roipool.runtime.ort import create_session

    model = onnx.load(args.input)
    original = model.SerializeToString()
    converted = convert_mmdeploy(model)
    for node in converted:
        print(f"{node.name or '(unnamed)'}: {node.source} -> {node.target}")
    if not converted:
        print("no mmdeploy / mmcv RoI nodes found")
    onnx.save(model, args.output)
    print(f"wrote {args.output}")
    if args.no_check or not converted:
        return 0
    dims = {name: int(size) for name, size in (_key_value(d, "--dim") for d in args.dim)}
    before, after = create_session(original), create_session(model.SerializeToString())
    feeds: dict[str, np.ndarray] = {}
    for spec in before.get_inputs():
        feeds[spec.name] = _random_input(spec, dims, feeds)
    for spec, old, new in zip(before.get_outputs(), before.run(None, feeds),
                              after.run(None, feeds), strict=True):
        if old.shape != new.shape or not np.array_equal(old, new, equal_nan=True):
            raise RuntimeError(f"output {spec.name!r} differs after conversion")
    print(f"ONNX Runtime: all {len(before.get_outputs())} outputs identical before and after")
    return 0


def _build(args: argparse.Namespace) -> int:
    from roipool.runtime.trt import build_engine

    shapes = _profile_shapes(args.shape)
    try:
        import tensorrt  # noqa: F401
    except ImportError as error:
        raise ImportError("`roipool build` needs the TensorRT Python package "
                          "(pip install tensorrt) and a CUDA GPU") from error
    path = build_engine(args.model, args.output, shapes=shapes or None,
                        workspace_mib=args.workspace_mib, verbose=args.verbose)
    print(f"wrote {path}")
    return 0


def _triton(args: argparse.Namespace) -> int:
    from roipool.serving.triton import write_repository

    written = write_repository(
        args.model, args.output, name=args.name, device=args.device, instances=args.instances,
        max_batch_size=args.max_batch_size, onnxruntime=not args.no_onnxruntime,
        tensorrt=args.tensorrt, engine=args.engine, shapes=_profile_shapes(args.shape) or None,
        op_library=args.op_library, plugin_library=args.plugin_library)
    for path in written:
        print(f"wrote {path}")
    return 0


def _profile_shapes(items: Sequence[str]) -> dict[str, tuple[tuple[int, ...], ...]]:
    """``--shape NAME=MIN:OPT:MAX`` options (shapes as 1x3x64x64) as a dict."""
    shapes = {}
    for item in items:
        name, value = _key_value(item, "--shape")
        parts = value.split(":")
        if len(parts) != 3:
            raise ValueError(f"--shape expects NAME=MIN:OPT:MAX, got {item!r}")
        shapes[name] = tuple(tuple(int(d) for d in p.split("x")) for p in parts)
    return shapes


def _bench(args: argparse.Namespace) -> int:
    if args.script:
        script = _REPO_BENCH_DIR / f"{args.script}.py"
        if not script.is_file():
            raise FileNotFoundError(f"no bench script {script}")
        extra = [a for a in args.script_args if a != "--"]
        return subprocess.call([sys.executable, str(script), *extra])
    from roipool.export.verify import verify_variant

    print(f"{'variant':24s} {'ORT median ms':>14s}  (images {args.height}x{args.width}, "
          f"{args.rois} RoIs)")
    for variant in args.variants:
        result = verify_variant(_config(args, variant), repeats=args.repeats,
                                height=args.height, width=args.width, num_rois=args.rois)
        print(f"{variant:24s} {result.median_ms:14.3f}")
    return 0


def _info(args: argparse.Namespace) -> int:
    import roipool
    from roipool._libs import CORE_LIBRARY, ORT_LIBRARY, TORCH_LIBRARY, TRT_LIBRARY, find_library

    print(f"roipool {roipool.__version__}")
    try:  # optional (roipool[torch]): the runtime and `run` work without it
        import torch
    except ImportError:
        print("torch not installed")
    else:
        print(f"torch {torch.__version__} (CUDA available: {torch.cuda.is_available()})")
        from roipool.ops import _library

        print("torch.ops.roipool kernels: " + (
            f"C++ ({_library.TORCH_LIBRARY_PATH})" if _library.TORCH_LIBRARY_PATH
            else "Python (ctypes binding / reference)"))
    for module in ("onnx", "onnxruntime", "tensorrt", "torchvision"):
        print(f"{module} {_module_version(module)}")
    for name in (CORE_LIBRARY, ORT_LIBRARY, TRT_LIBRARY, TORCH_LIBRARY):
        path = find_library(name)
        print(f"{name}: {path if path is not None else 'not found'}")
    print(f"CUDA kernels compiled: {_cuda_compiled()}")
    return 0


def _module_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cuda_compiled() -> str:
    import ctypes

    from roipool._libs import CORE_LIBRARY, find_library

    path = find_library(CORE_LIBRARY)
    if path is None:
        return "unknown (core library not found)"
    return "yes" if ctypes.CDLL(str(path)).roipool_cuda_compiled() else "no"
