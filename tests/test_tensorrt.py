"""TensorRT engines with roipool's plugins against the float64 eager reference.

Models are built by hand with ``onnx.helper`` following the node contract (domain
``roipool`` opset 1, ``plugin_namespace="roipool"``, dynamic K), parsed by TensorRT's
ONNX parser into strongly typed engines and run through ``EngineRunner``. Needs an
importable ``tensorrt``, a CUDA device and a CUDA build of libroipool_trt.so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import assert_spec_close, random_rois
from roipool._libs import TRT_LIBRARY, find_library

trt = pytest.importorskip("tensorrt")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

pytestmark = [
    pytest.mark.tensorrt,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="TensorRT needs a CUDA device"),
    pytest.mark.skipif(find_library(TRT_LIBRARY) is None, reason=f"{TRT_LIBRARY} was not built"),
]

ONNX_TYPE = {torch.float32: TensorProto.FLOAT, torch.float16: TensorProto.FLOAT16,
             torch.bfloat16: TensorProto.BFLOAT16}
DTYPES = [torch.float32, torch.float16, torch.bfloat16]
MAX_ROIS = 64
InputSpec = tuple[str, torch.dtype, list[Any]]  # name, dtype, shape ("K" = number of rois)
POOLED = (3, 2)


@dataclass
class Case:
    """One op: ONNX attributes and a float64 reference taking (inputs, attributes)."""

    op_type: str
    attributes: dict[str, Any]
    reference: Callable[..., torch.Tensor]
    channels: int = 4
    rotated: bool = False
    extras: Sequence[str] = field(default_factory=tuple)  # DeformRoIPool: offset, mask
    levels: Sequence[float] = ()  # MultiScaleRoIAlign: spatial_scales


def _reference(name: str) -> Callable[..., Any]:
    from roipool.ops import reference

    return getattr(reference, f"{name}_reference")


def _single(name: str, *keys: str) -> Callable[..., torch.Tensor]:
    """Reference of a single-feature op whose torch arguments follow (input, rois)."""
    def run(inputs: dict[str, torch.Tensor], attrs: dict[str, Any]) -> torch.Tensor:
        values = [bool(attrs[k]) if k in ("aligned", "clockwise") else attrs[k] for k in keys]
        return _reference(name)(inputs["input"], inputs["rois"], *values)
    return run


def _deform(inputs: dict[str, torch.Tensor], attrs: dict[str, Any]) -> torch.Tensor:
    return _reference("deform_roi_pool")(
        inputs["input"], inputs["rois"], inputs.get("offset"), inputs.get("mask"),
        attrs["pooled_h"], attrs["pooled_w"], attrs["spatial_scale"], attrs["sampling_ratio"],
        attrs["gamma"])


def _multi_scale(inputs: dict[str, torch.Tensor], attrs: dict[str, Any]) -> torch.Tensor:
    features = [inputs[f"feature_{i}"] for i in range(len(attrs["spatial_scales"]))]
    return _reference("multi_scale_roi_align")(
        inputs["rois"], features, attrs["pooled_h"], attrs["pooled_w"], attrs["sampling_ratio"],
        bool(attrs["aligned"]), attrs["spatial_scales"], attrs["level_mapping"],
        attrs["canonical_scale"], attrs["canonical_level"], attrs["roi_scale_factor"])


BASE = {"pooled_h": POOLED[0], "pooled_w": POOLED[1], "spatial_scale": 0.5}
ALIGN = {**BASE, "sampling_ratio": 2, "aligned": 1}
CASES = [
    Case("RoIPool", BASE, _single("roi_pool", "pooled_h", "pooled_w", "spatial_scale")),
    Case("RoIAlign", {**ALIGN, "mode": "avg"}, _single(
        "roi_align", "pooled_h", "pooled_w", "spatial_scale", "sampling_ratio", "aligned", "mode")),
    Case("RoIAlign", {**ALIGN, "sampling_ratio": 0, "aligned": 0, "mode": "max"}, _single(
        "roi_align", "pooled_h", "pooled_w", "spatial_scale", "sampling_ratio", "aligned", "mode")),
    Case("RoIWarp", {**ALIGN, "aligned": 0, "mode": "avg"}, _single(
        "roi_warp", "pooled_h", "pooled_w", "spatial_scale", "sampling_ratio", "aligned", "mode")),
    Case("PSRoIPool", BASE, _single("ps_roi_pool", "pooled_h", "pooled_w", "spatial_scale"),
         channels=12),
    Case("PSRoIAlign", {**BASE, "sampling_ratio": 2}, _single(
        "ps_roi_align", "pooled_h", "pooled_w", "spatial_scale", "sampling_ratio"), channels=12),
    Case("DeformRoIPool", {**BASE, "sampling_ratio": 2, "gamma": 0.1}, _deform,
         extras=("offset", "mask")),
    Case("DeformRoIPool", {**BASE, "sampling_ratio": 2, "gamma": 0.1}, _deform),
    Case("MultiScaleRoIAlign", {
        "pooled_h": POOLED[0], "pooled_w": POOLED[1], "sampling_ratio": 2, "aligned": 0,
        "spatial_scales": [0.25, 0.125], "level_mapping": "torchvision", "canonical_scale": 224.0,
        "canonical_level": 4, "roi_scale_factor": 1.0}, _multi_scale, levels=(0.25, 0.125)),
    Case("RoIAlignRotated", {**ALIGN, "clockwise": 1}, _single(
        "roi_align_rotated", "pooled_h", "pooled_w", "spatial_scale", "sampling_ratio", "aligned",
        "clockwise"), rotated=True),
    Case("PrRoIPool", BASE, _single("prroi_pool", "pooled_h", "pooled_w", "spatial_scale")),
]
FEATURE = (2, 16, 20)  # B, H, W of the (finest) feature map


def _input_specs(case: Case, dtype: torch.dtype) -> list[InputSpec]:
    b, h, w = FEATURE
    rois = ("rois", torch.float32, ["K", 6 if case.rotated else 5])
    if case.levels:
        return [rois] + [(f"feature_{i}", dtype, [b, case.channels, h >> i, w >> i])
                         for i in range(len(case.levels))]
    extras = {"offset": ("offset", dtype, ["K", 2, *POOLED]),
              "mask": ("mask", dtype, ["K", 1, *POOLED])}
    return [("input", dtype, [b, case.channels, h, w]), rois] + [extras[e] for e in case.extras]


def _onnx_model(case: Case, dtype: torch.dtype, path: Path) -> list[InputSpec]:
    specs = _input_specs(case, dtype)
    node = helper.make_node(case.op_type, [name for name, _, _ in specs], ["output"],
                            domain="roipool", plugin_namespace="roipool", **case.attributes)
    graph = helper.make_graph(
        [node], case.op_type,
        [helper.make_tensor_value_info(n, ONNX_TYPE[t], s) for n, t, s in specs],
        [helper.make_tensor_value_info("output", ONNX_TYPE[dtype], None)])
    model = helper.make_model(graph, ir_version=13, opset_imports=[
        helper.make_opsetid("", 17), helper.make_opsetid("roipool", 1)])
    path.write_bytes(model.SerializeToString())
    return specs


def _profile(specs: list[InputSpec]) -> dict[str, tuple[list[int], ...]]:
    """One profile: K from 0 to MAX_ROIS, every other dimension as declared."""
    shapes = {}
    for name, _, shape in specs:
        if "K" in shape:
            shapes[name] = tuple([k if d == "K" else d for d in shape] for k in (0, 8, MAX_ROIS))
    return shapes


def _rois(case: Case, k: int, generator: torch.Generator) -> torch.Tensor:
    b, h, w = FEATURE
    scale = case.levels[0] if case.levels else case.attributes["spatial_scale"]
    boxes = random_rois(k, b, h, w, generator=generator, spatial_scale=scale)
    if not case.rotated:
        return boxes
    centre = (boxes[:, 1:3] + boxes[:, 3:5]) / 2
    size = boxes[:, 3:5] - boxes[:, 1:3]
    theta = (torch.rand(k, 1, generator=generator) - 0.5) * math.pi
    return torch.cat([boxes[:, :1], centre, size, theta], dim=1)


def _inputs(case: Case, specs: list[InputSpec], k: int,
            generator: torch.Generator) -> dict[str, torch.Tensor]:
    inputs = {}
    for name, dtype, shape in specs:
        if name == "rois":
            inputs[name] = _rois(case, k, generator)
            continue
        concrete = [k if d == "K" else d for d in shape]
        values = torch.rand(concrete, generator=generator) * 2 - 1
        inputs[name] = (values.abs() if name == "mask" else values).to(dtype)
    return inputs


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.op_type}-{c.attributes}-{len(c.extras)}")
def test_engine_matches_eager(case: Case, dtype: torch.dtype, tmp_path: Path,
                              generator: torch.Generator) -> None:
    from roipool.runtime.trt import EngineRunner, build_engine

    specs = _onnx_model(case, dtype, tmp_path / "model.onnx")
    runner = EngineRunner(build_engine(tmp_path / "model.onnx", tmp_path / "model.engine",
                                       shapes=_profile(specs)))
    assert runner.input_names == [name for name, _, _ in specs]
    for k in (0, 1, 13, MAX_ROIS):  # dynamic K, including no RoIs at all
        inputs = _inputs(case, specs, k, generator)
        output = runner({n: t.cuda() for n, t in inputs.items()})["output"]
        torch.cuda.current_stream().synchronize()
        assert output.dtype == dtype
        expected = case.reference({n: t.double() for n, t in inputs.items()}, case.attributes)
        features = [t for n, t in inputs.items() if n not in ("rois", "offset", "mask")]
        assert_spec_close(output.cpu(), expected, dtype, features)


def test_invalid_attribute_fails_the_build(tmp_path: Path) -> None:
    from roipool.runtime.trt import build_engine

    case = Case("RoIAlign", {**ALIGN, "mode": "median"}, _single("roi_align"))
    specs = _onnx_model(case, torch.float32, tmp_path / "bad.onnx")
    with pytest.raises(RuntimeError):
        build_engine(tmp_path / "bad.onnx", tmp_path / "bad.engine", shapes=_profile(specs))


def test_runner_rejects_wrong_dtype(tmp_path: Path, generator: torch.Generator) -> None:
    from roipool.runtime.trt import EngineRunner, build_engine

    case = CASES[0]
    specs = _onnx_model(case, torch.float16, tmp_path / "model.onnx")
    runner = EngineRunner(build_engine(tmp_path / "model.onnx", tmp_path / "model.engine",
                                       shapes=_profile(specs)))
    inputs = _inputs(case, specs, 4, generator)
    inputs["input"] = inputs["input"].float()
    with pytest.raises(TypeError):
        runner({n: t.cuda() for n, t in inputs.items()})


def test_plugins_are_registered() -> None:
    from roipool.runtime.trt import PLUGIN_NAMES, load_plugins

    load_plugins()
    registry = trt.get_plugin_registry()
    for name in PLUGIN_NAMES:
        assert registry.get_creator(name, "1", "roipool") is not None, name


def test_runner_takes_numpy_and_device_pointers(tmp_path: Path,
                                                generator: torch.Generator) -> None:
    """Without torch in the call: numpy in / numpy out through cuda-python, and
    DeviceArray pointers, both equal to the torch path."""
    pytest.importorskip("cuda.bindings.runtime")
    from roipool.runtime.trt import DeviceArray, EngineRunner, build_engine

    case = CASES[0]
    specs = _onnx_model(case, torch.float32, tmp_path / "model.onnx")
    runner = EngineRunner(build_engine(tmp_path / "model.onnx", tmp_path / "model.engine",
                                       shapes=_profile(specs)))
    for k in (0, 7, MAX_ROIS):
        inputs = _inputs(case, specs, k, generator)
        cuda_inputs = {n: t.cuda() for n, t in inputs.items()}
        expected = runner(cuda_inputs)["output"].cpu()
        from_numpy = runner({n: t.numpy() for n, t in inputs.items()})["output"]
        assert isinstance(from_numpy, np.ndarray)
        assert torch.equal(torch.from_numpy(from_numpy), expected)
        pointers = {n: DeviceArray(t.data_ptr(), tuple(t.shape), np.dtype(np.float32))
                    for n, t in cuda_inputs.items()}
        out = runner(pointers, stream=torch.cuda.current_stream().cuda_stream)["output"]
        torch.cuda.current_stream().synchronize()
        copied = np.empty(out.shape, out.dtype)
        from cuda.bindings import runtime as cudart

        cudart.cudaMemcpy(copied.ctypes.data, out.ptr, out.nbytes,
                          cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost)
        assert torch.equal(torch.from_numpy(copied), expected)
    with pytest.raises(TypeError, match="must be float32"):
        runner({n: t.numpy().astype(np.float64) for n, t in inputs.items()})
    runner.close()
