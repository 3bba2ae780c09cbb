"""ONNX Runtime custom ops (libroipool_ort.so) against the float64 eager reference.

Models are built by hand with ``onnx.helper`` following the node contract (domain
``roipool`` opset 1, dynamic K/H/W), so these tests depend on neither the exporters nor
torchvision.
"""

from __future__ import annotations

import ctypes
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from conftest import assert_spec_close, random_rois
from roipool._libs import ORT_LIBRARY, find_library
from roipool.runtime.ort import create_session

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state  # noqa: E402

pytestmark = pytest.mark.skipif(
    find_library(ORT_LIBRARY) is None, reason=f"{ORT_LIBRARY} was not built"
)

ORT_ERRORS = (ort_state.Fail, ort_state.InvalidArgument, ort_state.NotImplemented,
              ort_state.RuntimeException, ort_state.InvalidGraph, ort_state.EPFail)
ONNX_TYPE = {torch.float32: TensorProto.FLOAT, torch.float16: TensorProto.FLOAT16,
             torch.bfloat16: TensorProto.BFLOAT16, torch.float64: TensorProto.DOUBLE}
# numpy has no bfloat16: such tensors travel as their raw 16-bit patterns.
NUMPY_CARRIER = {torch.bfloat16: torch.int16}


# ---- model building and running --------------------------------------------------------

def make_model(op_type: str, inputs: Sequence[tuple[str, torch.dtype, list[Any]]],
               output_dtype: torch.dtype, **attributes: Any) -> bytes:
    """One roipool node; `inputs` are (name, dtype, shape with symbolic dims); an empty
    name leaves an optional input out."""
    attributes = {"plugin_namespace": "roipool", **attributes}
    node = helper.make_node(op_type, [name for name, _, _ in inputs], ["output"], name="roi",
                            domain="roipool", **attributes)
    graph = helper.make_graph(
        [node], op_type,
        [helper.make_tensor_value_info(name, ONNX_TYPE[dtype], shape)
         for name, dtype, shape in inputs if name],
        [helper.make_tensor_value_info("output", ONNX_TYPE[output_dtype], None)])
    model = helper.make_model(graph, ir_version=13, opset_imports=[
        helper.make_opsetid("", 17), helper.make_opsetid("roipool", 1)])
    return model.SerializeToString()


def to_ort_value(tensor: torch.Tensor) -> Any:
    carrier = NUMPY_CARRIER.get(tensor.dtype)
    array = (tensor.view(carrier) if carrier else tensor).contiguous().numpy()
    return ort.OrtValue.ortvalue_from_numpy_with_onnx_type(array, ONNX_TYPE[tensor.dtype])


def from_ort_value(value: Any, dtype: torch.dtype) -> torch.Tensor:
    assert value.device_name().lower() == "cpu", value.device_name()  # read through data_ptr
    shape = value.shape()
    nbytes = math.prod(shape) * torch.empty(0, dtype=dtype).element_size()
    if nbytes == 0:
        return torch.empty(shape, dtype=dtype)
    buffer = (ctypes.c_char * nbytes).from_address(value.data_ptr())
    return torch.frombuffer(bytearray(buffer), dtype=dtype).reshape(shape)


def run(session: Any, feeds: dict[str, torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
    """Run on CPU tensors of any dtype (bfloat16 included); returns the output as `dtype`."""
    outputs = session.run_with_ort_values(
        None, {name: to_ort_value(t) for name, t in feeds.items()})
    return from_ort_value(outputs[0], dtype)


# ---- op cases ---------------------------------------------------------------------------

FEATURE_SHAPE = ["B", "C", "H", "W"]


@dataclass
class OpCase:
    """One op with attributes, its ONNX input layout and a reference call."""

    op_type: str
    snake: str
    attributes: dict[str, Any]
    channels: int = 3
    rotated: bool = False
    deform_inputs: tuple[str, ...] = ()  # DeformRoIPool: "offset", "mask"
    levels: list[float] = field(default_factory=list)  # MultiScaleRoIAlign spatial_scales

    label: str = ""  # tells cases of one op apart

    @property
    def id(self) -> str:
        return f"{self.op_type}-{self.label}" if self.label else self.op_type

    def input_specs(self, dtype: torch.dtype, rois_dtype: torch.dtype) -> list[tuple]:
        rois = ("rois", rois_dtype, ["K", 6 if self.rotated else 5])
        if self.levels:
            return [rois] + [(f"feature_{i}", dtype, ["B", "C", f"H{i}", f"W{i}"])
                             for i in range(len(self.levels))]
        specs = [("input", dtype, FEATURE_SHAPE), rois]
        ph, pw = self.attributes["pooled_h"], self.attributes["pooled_w"]
        for name, depth in (("offset", 2), ("mask", 1)) if self.deform_inputs else ():
            present = name in self.deform_inputs
            if present or name == "offset":  # a mask without offset leaves the offset slot empty
                specs.append((name if present else "", dtype, ["K", depth, ph, pw]))
        return specs

    def session(self, dtype: torch.dtype, rois_dtype: torch.dtype, **overrides: Any) -> Any:
        attributes = {**self.attributes, **overrides}
        return create_session(make_model(self.op_type, self.input_specs(dtype, rois_dtype),
                                         dtype, **attributes))

    def kernel_session(self, **overrides: Any) -> Any:
        """A float32 session made by onnxruntime itself, without create_session's Python
        attribute check, so that the kernel's own checks answer."""
        model = make_model(self.op_type, self.input_specs(torch.float32, torch.float32),
                           torch.float32, **{**self.attributes, **overrides})
        options = ort.SessionOptions()
        options.register_custom_ops_library(str(find_library(ORT_LIBRARY)))
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def make_inputs(self, num_rois: int, height: int, width: int, generator: torch.Generator,
                    ) -> dict[str, torch.Tensor]:
        """float32 inputs; feature maps of a pyramid halve in size per level."""
        batch = 2
        scale = self.attributes.get("spatial_scale", 1.0)
        feeds: dict[str, torch.Tensor] = {}
        if self.levels:
            for i, level_scale in enumerate(self.levels):
                h = max(1, round(height * level_scale / self.levels[0]))
                w = max(1, round(width * level_scale / self.levels[0]))
                feeds[f"feature_{i}"] = torch.randn(batch, self.channels, h, w, generator=generator)
            scale = self.levels[0]
        else:
            feeds["input"] = torch.randn(batch, self.channels, height, width, generator=generator)
        rois = random_rois(num_rois, batch, height, width, generator=generator,
                           spatial_scale=scale, min_size=1.0)
        if self.rotated:
            centre, size = (rois[:, 1:3] + rois[:, 3:5]) / 2, rois[:, 3:5] - rois[:, 1:3]
            theta = (torch.rand(num_rois, 1, generator=generator) - 0.5) * 2 * math.pi
            rois = torch.cat([rois[:, :1], centre, size, theta], dim=1)
        feeds["rois"] = rois
        ph, pw = self.attributes["pooled_h"], self.attributes["pooled_w"]
        if "offset" in self.deform_inputs:
            feeds["offset"] = torch.randn(num_rois, 2, ph, pw, generator=generator)
        if "mask" in self.deform_inputs:
            feeds["mask"] = torch.rand(num_rois, 1, ph, pw, generator=generator)
        return feeds

    def reference(self, feeds: dict[str, torch.Tensor]) -> torch.Tensor:
        """The eager reference in float64 on exactly the values fed to ONNX Runtime."""
        from roipool.ops import reference

        function: Callable[..., torch.Tensor] = getattr(reference, f"{self.snake}_reference")
        as64 = {name: t.double() for name, t in feeds.items()}
        kwargs = {name: bool(value) if name in ("aligned", "clockwise") else value
                  for name, value in self.attributes.items()}
        if self.levels:
            features = [as64[f"feature_{i}"] for i in range(len(self.levels))]
            return function(as64["rois"], features, **kwargs)
        if self.op_type == "DeformRoIPool":
            return function(as64["input"], as64["rois"], as64.get("offset"), as64.get("mask"),
                            **kwargs)
        return function(as64["input"], as64["rois"], **kwargs)


ALIGN = {"pooled_h": 3, "pooled_w": 2, "spatial_scale": 0.5, "sampling_ratio": 2}
MULTI_SCALE = {"pooled_h": 3, "pooled_w": 3, "sampling_ratio": 2, "aligned": 0,
               "level_mapping": "torchvision", "canonical_scale": 224.0, "canonical_level": 4,
               "roi_scale_factor": 1.0}
CASES = [
    OpCase("RoIPool", "roi_pool", {"pooled_h": 3, "pooled_w": 4, "spatial_scale": 0.5}),
    OpCase("RoIAlign", "roi_align", {**ALIGN, "aligned": 1, "mode": "avg"}, label="avg"),
    OpCase("RoIAlign", "roi_align", {**ALIGN, "sampling_ratio": -1, "aligned": 0, "mode": "max"},
           label="max"),
    OpCase("RoIWarp", "roi_warp", {**ALIGN, "aligned": 0, "mode": "avg"}),
    OpCase("PSRoIPool", "ps_roi_pool", {"pooled_h": 2, "pooled_w": 3, "spatial_scale": 0.5},
           channels=12),
    OpCase("PSRoIAlign", "ps_roi_align", {**ALIGN, "sampling_ratio": -1}, channels=12),
    OpCase("DeformRoIPool", "deform_roi_pool", {**ALIGN, "gamma": 0.1}),
    OpCase("DeformRoIPool", "deform_roi_pool", {**ALIGN, "gamma": 0.1},
           deform_inputs=("offset",), label="offset"),
    OpCase("DeformRoIPool", "deform_roi_pool", {**ALIGN, "gamma": 0.1},
           deform_inputs=("mask",), label="mask"),
    OpCase("DeformRoIPool", "deform_roi_pool", {**ALIGN, "gamma": 0.1},
           deform_inputs=("offset", "mask"), label="offset-mask"),
    OpCase("MultiScaleRoIAlign", "multi_scale_roi_align",
           {**MULTI_SCALE, "spatial_scales": [0.25, 0.125, 0.0625]}, levels=[0.25, 0.125, 0.0625]),
    OpCase("MultiScaleRoIAlign", "multi_scale_roi_align",
           {**MULTI_SCALE, "spatial_scales": [0.5, 0.25], "level_mapping": "mmdet",
            "canonical_scale": 56.0, "aligned": 1, "roi_scale_factor": 1.5}, levels=[0.5, 0.25],
           label="mmdet"),
    OpCase("RoIAlignRotated", "roi_align_rotated",
           {**ALIGN, "aligned": 1, "clockwise": 1}, rotated=True),
    OpCase("PrRoIPool", "prroi_pool", {"pooled_h": 2, "pooled_w": 3, "spatial_scale": 0.5}),
]
CASE_BY_ID = {case.id: case for case in CASES}
# (features dtype, rois dtype): rois may stay float32 under 16-bit features (SPEC section 2).
DTYPES = [(torch.float32, torch.float32), (torch.float16, torch.float16),
          (torch.float16, torch.float32), (torch.bfloat16, torch.bfloat16),
          (torch.bfloat16, torch.float32)]


def check(case: OpCase, session: Any, feeds: dict[str, torch.Tensor], dtype: torch.dtype,
          rois_dtype: torch.dtype) -> torch.Tensor:
    """Run `session` on `feeds` cast to (dtype, rois_dtype), compare with the reference."""
    cast = {name: t.to(rois_dtype if name == "rois" else dtype) for name, t in feeds.items()}
    actual = run(session, cast, dtype)
    assert actual.dtype == dtype
    features = [t for name, t in cast.items() if name == "input" or name.startswith("feature_")]
    assert_spec_close(actual, case.reference(cast), dtype, features)
    return actual


# ---- parity -------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype,rois_dtype", DTYPES, ids=lambda d: str(d).split(".")[-1])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_matches_reference(case: OpCase, dtype: torch.dtype, rois_dtype: torch.dtype,
                           generator: torch.Generator) -> None:
    session = case.session(dtype, rois_dtype)
    check(case, session, case.make_inputs(7, 12, 10, generator), dtype, rois_dtype)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_one_session_many_shapes(case: OpCase, generator: torch.Generator) -> None:
    session = case.session(torch.float32, torch.float32)
    for num_rois, height, width in [(5, 16, 9), (0, 8, 8), (11, 7, 20), (1, 1, 1)]:
        feeds = case.make_inputs(num_rois, height, width, generator)
        actual = check(case, session, feeds, torch.float32, torch.float32)
        assert actual.shape[0] == num_rois


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_zero_rois(case: OpCase, generator: torch.Generator) -> None:
    session = case.session(torch.float16, torch.float32)
    feeds = case.make_inputs(0, 6, 5, generator)
    output = run(session, {n: t.to(torch.float32 if n == "rois" else torch.float16)
                           for n, t in feeds.items()}, torch.float16)
    channels = case.channels // (case.attributes["pooled_h"] * case.attributes["pooled_w"]) \
        if case.op_type.startswith("PS") else case.channels
    assert output.shape == (0, channels, case.attributes["pooled_h"], case.attributes["pooled_w"])


def test_bad_rois_give_zeros(generator: torch.Generator) -> None:
    case = CASE_BY_ID["RoIAlign-avg"]
    feeds = case.make_inputs(5, 8, 8, generator)
    feeds["rois"][1, 0] = 2.0  # B = 2
    feeds["rois"][2, 0] = float("nan")
    feeds["rois"][3, 0] = -1.0
    feeds["rois"][4, 1:] = float("nan")  # every sample of a NaN box is 0 (SPEC section 2)
    output = run(case.session(torch.float32, torch.float32), feeds, torch.float32)
    assert torch.equal(output[1:], torch.zeros_like(output[1:]))
    assert output[0].abs().sum() > 0


def test_tensorrt_lookup_attributes_are_accepted(generator: torch.Generator) -> None:
    case = CASE_BY_ID["RoIAlign-avg"]
    session = case.session(torch.float32, torch.float32, plugin_namespace="elsewhere",
                           plugin_version="1")
    check(case, session, case.make_inputs(3, 8, 8, generator), torch.float32, torch.float32)


@pytest.mark.parametrize("name,value", [
    ("output_height", 3), ("pooled_height", 3), ("spatial_scal", 0.5), ("modee", "max"),
    ("pooled_hh", 2.5), ("spatial_scales", [0.5]), ("featmap_strides", [4.0]),
])
def test_unknown_attribute_is_named(name: str, value: Any) -> None:
    message = rf"RoIAlign: attribute '{name}' is not an attribute of this op"
    with raises_ort(message):  # the kernel's probe
        CASE_BY_ID["RoIAlign-avg"].kernel_session(**{name: value})
    with pytest.raises(ValueError, match=rf"node 'roi': {message}"):  # create_session's check
        CASE_BY_ID["RoIAlign-avg"].session(torch.float32, torch.float32, **{name: value})


def test_create_session_names_any_unknown_attribute() -> None:
    # Outside the kernel's probe set: only the Python check (docs/onnxruntime.md) sees it.
    CASE_BY_ID["RoIAlign-avg"].kernel_session(producer_note="x")
    with pytest.raises(ValueError, match=r"node 'roi': RoIAlign: attribute 'producer_note' "
                       r"is not an attribute of this op"):
        CASE_BY_ID["RoIAlign-avg"].session(torch.float32, torch.float32, producer_note="x")


def test_one_entry_lists_and_scalar_lists_are_accepted(generator: torch.Generator) -> None:
    case = CASE_BY_ID["RoIAlign-avg"]
    session = case.session(torch.float32, torch.float32, pooled_h=[case.attributes["pooled_h"]])
    check(case, session, case.make_inputs(3, 8, 8, generator), torch.float32, torch.float32)
    single_level = OpCase("MultiScaleRoIAlign", "multi_scale_roi_align",
                          {**MULTI_SCALE, "spatial_scales": [0.25]}, levels=[0.25])
    session = single_level.session(torch.float32, torch.float32, spatial_scales=0.25)
    feeds = single_level.make_inputs(3, 8, 8, generator)
    check(single_level, session, feeds, torch.float32, torch.float32)


def test_defaults_apply_when_attributes_are_absent(generator: torch.Generator) -> None:
    model = make_model("RoIAlign", CASE_BY_ID["RoIAlign-avg"].input_specs(
        torch.float32, torch.float32), torch.float32)
    feeds = CASE_BY_ID["RoIAlign-avg"].make_inputs(2, 9, 9, generator)
    output = run(create_session(model), feeds, torch.float32)
    assert output.shape == (2, 3, 7, 7)  # core default output size 7x7


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_output_type_and_shape_are_inferred(case: OpCase) -> None:
    output = case.session(torch.float16, torch.float32).get_outputs()[0]
    ph, pw = case.attributes["pooled_h"], case.attributes["pooled_w"]
    channels = f"C/{ph * pw}" if case.op_type.startswith("PS") else "C"
    assert (output.type, output.shape) == ("tensor(float16)", ["K", channels, ph, pw])


# ---- errors -------------------------------------------------------------------------------

def raises_ort(match: str) -> Any:
    return pytest.raises(ORT_ERRORS, match=match)


def session_without_static_dims(case: OpCase) -> Any:
    """A float32 session whose inputs declare no fixed sizes, so that shape mistakes
    reach the op instead of ONNX Runtime's input check."""
    specs = [(name, dtype, [f"d{i}_{j}" for j in range(len(shape))])
             for i, (name, dtype, shape) in enumerate(case.input_specs(torch.float32,
                                                                        torch.float32))]
    return create_session(make_model(case.op_type, specs, torch.float32, **case.attributes))


@pytest.mark.parametrize("overrides,match", [
    ({"mode": "median"}, r"RoIAlign: attribute 'mode' must be 'avg' or 'max', got 'median'"),
    ({"pooled_h": 0}, r"RoIAlign: attribute 'pooled_h' must be in \[1, 65535\], got 0"),
    ({"aligned": 2}, r"attribute 'aligned' must be 0 or 1"),
    ({"spatial_scale": -1.0}, r"attribute 'spatial_scale' must be > 0"),
    ({"sampling_ratio": 10**6}, r"attribute 'sampling_ratio' must be <= 1024"),
    ({"pooled_w": 2.5}, r"attribute 'pooled_w' must be one int"),
    ({"gamma": 0.5}, r"RoIAlign: attribute 'gamma' is not an attribute of this op"),
])
def test_bad_attribute_fails_session_creation(overrides: dict[str, Any], match: str) -> None:
    with raises_ort(match):
        CASE_BY_ID["RoIAlign-avg"].kernel_session(**overrides)


def test_max_mode_on_ps_roi_align_is_rejected() -> None:
    with raises_ort(r"PSRoIAlign: attribute 'mode' is not an attribute of this op"):
        CASE_BY_ID["PSRoIAlign"].kernel_session(mode="max")


def test_multi_scale_needs_spatial_scales() -> None:
    case = CASE_BY_ID["MultiScaleRoIAlign"]
    attributes = {k: v for k, v in case.attributes.items() if k != "spatial_scales"}
    model = make_model(case.op_type, case.input_specs(torch.float32, torch.float32),
                       torch.float32, **attributes)
    with raises_ort(r"spatial_scales must have 1 to 8 entries"):
        create_session(model)


def test_wrong_rois_width(generator: torch.Generator) -> None:
    case = CASE_BY_ID["RoIAlign-avg"]
    feeds = case.make_inputs(3, 8, 8, generator)
    feeds["rois"] = feeds["rois"][:, :4]
    with raises_ort(r"RoIAlign: rois must be \[K, 5\], got \[3, 4\]"):
        run(session_without_static_dims(case), feeds, torch.float32)


def test_rotated_rois_need_six_columns(generator: torch.Generator) -> None:
    case = CASE_BY_ID["RoIAlignRotated"]
    feeds = case.make_inputs(2, 8, 8, generator)
    feeds["rois"] = feeds["rois"][:, :5]
    with raises_ort(r"RoIAlignRotated: rois must be \[K, 6\], got \[2, 5\]"):
        run(session_without_static_dims(case), feeds, torch.float32)


def test_ps_channels_not_divisible(generator: torch.Generator) -> None:
    case = CASE_BY_ID["PSRoIPool"]
    feeds = case.make_inputs(2, 8, 8, generator)
    feeds["input"] = feeds["input"][:, :10]
    with raises_ort(r"PSRoIPool: input channels \(10\) must be divisible by pooled_h \* "
                    r"pooled_w \(6\)"):
        run(case.session(torch.float32, torch.float32), feeds, torch.float32)


def test_input_must_be_4d(generator: torch.Generator) -> None:
    case = CASE_BY_ID["RoIPool"]
    model = make_model("RoIPool", [("input", torch.float32, ["C", "H", "W"]),
                                   ("rois", torch.float32, ["K", 5])],
                       torch.float32, **case.attributes)
    feeds = {"input": torch.randn(3, 4, 4), "rois": torch.tensor([[0.0, 0, 0, 2, 2]])}
    with raises_ort(r"RoIPool: input must be \[B, C, H, W\], got \[3, 4, 4\]"):
        run(create_session(model), feeds, torch.float32)


def test_deform_offset_shape_is_checked(generator: torch.Generator) -> None:
    case = CASE_BY_ID["DeformRoIPool-offset"]
    feeds = case.make_inputs(3, 8, 8, generator)
    feeds["offset"] = feeds["offset"][:, :, :2]
    with raises_ort(r"DeformRoIPool: offset must be \[3, 2, 3, 2\]"):
        run(session_without_static_dims(case), feeds, torch.float32)


def test_multi_scale_level_count_must_match(generator: torch.Generator) -> None:
    case = CASE_BY_ID["MultiScaleRoIAlign"]
    specs = case.input_specs(torch.float32, torch.float32)[:-1]  # two maps, three scales
    model = make_model(case.op_type, specs, torch.float32, **case.attributes)
    feeds = case.make_inputs(2, 16, 16, generator)
    del feeds["feature_2"]
    with raises_ort(r"MultiScaleRoIAlign: expected 3 feature map\(s\), got 2"):
        run(create_session(model), feeds, torch.float32)


def test_unsupported_element_type_is_refused() -> None:
    model = make_model("RoIAlign", CASE_BY_ID["RoIAlign-avg"].input_specs(
        torch.float64, torch.float64), torch.float64, **CASE_BY_ID["RoIAlign-avg"].attributes)
    with raises_ort("RoIAlign"):
        create_session(model)


# ---- CUDA execution provider ----------------------------------------------------------------

CUDA_EP = "CUDAExecutionProvider" in ort.get_available_providers() and torch.cuda.is_available()


@pytest.mark.cuda
@pytest.mark.skipif(not CUDA_EP, reason="needs onnxruntime-gpu, CUDAExecutionProvider and a GPU")
@pytest.mark.parametrize("dtype,rois_dtype", DTYPES[:3], ids=lambda d: str(d).split(".")[-1])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_cuda_matches_reference(case: OpCase, dtype: torch.dtype, rois_dtype: torch.dtype,
                                generator: torch.Generator) -> None:
    model = make_model(case.op_type, case.input_specs(dtype, rois_dtype), dtype,
                       **case.attributes)
    session = create_session(model, providers=["CUDAExecutionProvider"])
    for num_rois in (6, 0):
        feeds = case.make_inputs(num_rois, 12, 10, generator)
        check(case, session, feeds, dtype, rois_dtype)


# ---- threading: the CPU kernels run on the session's intra-op pool ------------------------

def session_with_threads(case: OpCase, intra_op_num_threads: int) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_num_threads
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    model = make_model(case.op_type, case.input_specs(torch.float32, torch.float32),
                       torch.float32, **case.attributes)
    return create_session(model, session_options=options)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_intra_op_thread_count_does_not_change_results(case: OpCase,
                                                       generator: torch.Generator) -> None:
    feeds = case.make_inputs(37, 12, 10, generator)  # enough RoIs to split across threads
    serial = run(session_with_threads(case, 1), feeds, torch.float32)
    pooled = run(session_with_threads(case, 2), feeds, torch.float32)
    assert torch.equal(serial, pooled)
    assert serial.abs().sum() > 0


def test_one_intra_op_thread_keeps_the_work_on_the_calling_thread(
        generator: torch.Generator) -> None:
    """With intra_op_num_threads = 1 ONNX Runtime has no pool, so every CPU second of a
    run is spent on the calling thread; threads started by the op would add process CPU
    time (finished threads included) that the calling thread's own clock does not see."""
    case = OpCase("RoIAlign", "roi_align", {**ALIGN, "aligned": 1, "mode": "avg"},
                  channels=128)
    session = session_with_threads(case, 1)
    feeds = {name: to_ort_value(t) for name, t in case.make_inputs(512, 48, 48, generator).items()}
    session.run_with_ort_values(None, feeds)  # warm-up: first-run allocations
    thread_start, process_start = time.thread_time(), time.process_time()
    while time.process_time() - process_start < 0.3:
        session.run_with_ort_values(None, feeds)
    thread_cpu = time.thread_time() - thread_start
    process_cpu = time.process_time() - process_start
    assert thread_cpu >= 0.9 * process_cpu, (thread_cpu, process_cpu)
