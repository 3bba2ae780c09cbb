"""The roipool ONNX schemas: registered with onnx.defs by importing roipool.export, one
definition from the node contract (names, types, defaults checked against the kernel
core); onnx.checker validates attributes; onnx.shape_inference and ONNX Runtime's
symbolic shape inference give every roipool output (and what follows it) its shape on
models whose value_info was stripped; onnxsim's static-shape override then gives a static
K; the ``roipool shapes`` command."""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterator, Sequence
from pathlib import Path

import onnx
import pytest
from _export_cases import CASES, Case, exported_case
from onnx import TensorProto, helper
from roipool._libs import CORE_LIBRARY, find_library
from roipool.cli import main
from roipool.export import (
    ATTRIBUTE_TYPES,
    CONTRACTS,
    DOMAIN,
    OPSET_VERSION,
    onnx_schema,
    symbolic_shape_infer,
)
from roipool.export._contract import ATTRIBUTE_DEFAULTS, OpContract
from roipool.export._schemas import BY_OP_TYPE, register_schemas

EXPORTERS = [pytest.param(True, id="dynamo"), pytest.param(False, id="torchscript")]
SCHEMA_ATTR_TYPES = {"int": onnx.defs.OpSchema.AttrType.INT,
                     "float": onnx.defs.OpSchema.AttrType.FLOAT,
                     "string": onnx.defs.OpSchema.AttrType.STRING,
                     "floats": onnx.defs.OpSchema.AttrType.FLOATS}
Shape = Sequence[int | str]


@contextlib.contextmanager
def schemas_unregistered() -> Iterator[None]:
    """The roipool schemas removed from onnx.defs within the block (as in a process that
    never imported roipool.export)."""
    for op_type in BY_OP_TYPE:
        onnx.defs.deregister_schema(op_type, OPSET_VERSION, DOMAIN)
    try:
        yield
    finally:
        register_schemas()


def stripped(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` without value_info or output shapes, plus a Flatten after the roipool output
    as a second graph output (is a shape inferred *after* the node too?)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    del model.graph.value_info[:]
    for output in model.graph.output:
        output.type.tensor_type.ClearField("shape")
    node = next(n for n in model.graph.node if n.domain == DOMAIN)
    model.graph.node.append(helper.make_node("Flatten", [node.output[0]], ["flat"], axis=1))
    model.graph.output.append(helper.make_tensor_value_info("flat", TensorProto.FLOAT, None))
    model.graph.output[-1].type.tensor_type.ClearField("shape")
    return model


def shape_of(model: onnx.ModelProto, name: str) -> tuple[int, list[int | str | None]]:
    """(elem_type, dims) that `model` records for value `name`."""
    values = [*model.graph.value_info, *model.graph.output, *model.graph.input]
    value = next(v for v in values if v.name == name)
    tensor = value.type.tensor_type
    assert tensor.HasField("shape"), f"{name} has no shape"
    return tensor.elem_type, [d.dim_value if d.HasField("dim_value") else d.dim_param or None
                              for d in tensor.shape.dim]


def expected_dims(case: Case, rois_dim: int | str) -> list[int | str]:
    ph, pw = case.attrs[0], case.attrs[1]
    channels = case.channels // (ph * pw) if case.op.startswith("ps_") else case.channels
    return [rois_dim, channels, ph, pw]


def roipool_output(model: onnx.ModelProto) -> str:
    return next(n for n in model.graph.node if n.domain == DOMAIN).output[0]


# ----------------------------------------------------------------------------- schemas

@pytest.mark.parametrize("contract", CONTRACTS.values(), ids=lambda c: c.op_type)
def test_registered_schema_is_the_contract(contract: OpContract) -> None:
    schema = onnx.defs.get_schema(contract.op_type, OPSET_VERSION, DOMAIN)
    assert schema.since_version == OPSET_VERSION and schema.domain == DOMAIN
    assert schema.has_type_and_shape_inference_function
    assert set(schema.attributes) == {*contract.attributes, "plugin_namespace"}
    for name in contract.attributes:
        attribute = schema.attributes[name]
        assert attribute.type == SCHEMA_ATTR_TYPES[ATTRIBUTE_TYPES[name]], name
        if name in ATTRIBUTE_DEFAULTS:
            assert not attribute.required
            default = helper.get_attribute_value(attribute.default_value)
            expected = ATTRIBUTE_DEFAULTS[name]
            assert default == (expected.encode() if isinstance(expected, str)
                               else pytest.approx(expected)), name
        else:
            assert attribute.required, name
    # The schema onnxscript calls the node through is the one registered.
    assert onnx_schema(contract.op_type).attributes.keys() == schema.attributes.keys()


@pytest.mark.skipif(find_library(CORE_LIBRARY) is None, reason=f"{CORE_LIBRARY} was not built")
def test_defaults_and_rois_columns_match_core() -> None:
    """ATTRIBUTE_DEFAULTS = default_attrs() and rois_columns = roipool_rois_columns() of the
    kernel core, for every op."""
    from roipool import _native

    lib = ctypes.CDLL(str(find_library(CORE_LIBRARY)))
    lib.roipool_default_attrs.argtypes = [ctypes.c_int32, ctypes.POINTER(_native._OpAttrs)]
    strings = {"mode": ("avg", "max"), "level_mapping": ("torchvision", "mmdet")}
    for contract in CONTRACTS.values():
        op = ctypes.c_int32()
        assert lib.roipool_op_from_name(contract.op_type.encode(), ctypes.byref(op)) == 0
        assert lib.roipool_rois_columns(op) == contract.rois_columns, contract.op_type
        attrs = _native._OpAttrs()
        assert lib.roipool_default_attrs(op, ctypes.byref(attrs)) == 0
        for name, default in ATTRIBUTE_DEFAULTS.items():
            core = getattr(attrs, name)
            if name in strings:
                core = strings[name][core]
            assert core == pytest.approx(default), (contract.op_type, name)


def single_node_model(op_type: str, feature: Shape, rois: Shape,
                      elem_type: int = TensorProto.FLOAT, **attrs: object) -> onnx.ModelProto:
    """One roipool node on graph inputs (MultiScaleRoIAlign: two maps, the second half
    size); `attrs` are written as given (defaults otherwise); the output has no shape."""
    contract = BY_OP_TYPE[op_type]
    inputs = [helper.make_tensor_value_info("rois", TensorProto.FLOAT, rois)]
    if "features" in contract.tensor_args:
        half = [*feature[:2], *(d // 2 if isinstance(d, int) else f"{d}_2" for d in feature[2:])]
        inputs += [helper.make_tensor_value_info("f0", elem_type, feature),
                   helper.make_tensor_value_info("f1", elem_type, half)]
        names = ["rois", "f0", "f1"]
        attrs.setdefault("spatial_scales", [0.25, 0.125])
    else:
        inputs.insert(0, helper.make_tensor_value_info("input", elem_type, feature))
        names = ["input", "rois"]
    node = helper.make_node(op_type, names, ["out"], domain=DOMAIN, **attrs)
    graph = helper.make_graph([node], "g", inputs,
                              [helper.make_tensor_value_info("out", elem_type, None)])
    graph.output[0].type.tensor_type.ClearField("shape")  # left to inference
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18),
                                                   helper.make_opsetid(DOMAIN, OPSET_VERSION)])


@pytest.mark.parametrize(("op_type", "attrs", "message"), [
    ("RoIAlign", {"spatial_scal": 0.5}, "Unrecognized attribute: spatial_scal"),
    ("RoIAlign", {"output_height": 3}, "Unrecognized attribute: output_height"),
    ("RoIPool", {"pooled_height": 3}, "Unrecognized attribute: pooled_height"),
    ("RoIAlign", {"pooled_h": 3.0}, "pooled_h"),
    ("RoIAlign", {"mode": 1}, "mode"),
    ("MultiScaleRoIAlign", {"spatial_scales": 0.25}, "spatial_scales"),
])
def test_checker_rejects_unknown_or_mistyped_attributes(op_type: str, attrs: dict,
                                                        message: str) -> None:
    model = checkable(single_node_model(op_type, ["B", 98, "H", "W"], ["K", 5], **attrs))
    with pytest.raises(onnx.checker.ValidationError, match=message):
        onnx.checker.check_model(model)


def test_checker_requires_spatial_scales() -> None:
    model = checkable(single_node_model("MultiScaleRoIAlign", ["B", 8, 32, 32], ["K", 5]))
    onnx.checker.check_model(model)
    del model.graph.node[0].attribute[:]
    with pytest.raises(onnx.checker.ValidationError, match="spatial_scales"):
        onnx.checker.check_model(model)


def checkable(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` with its output declared (the checker requires graph outputs' shapes)."""
    model.graph.output[0].CopyFrom(
        helper.make_tensor_value_info("out", TensorProto.FLOAT, ["K", None, 7, 7]))
    return model


# ----------------------------------------------------------------------------- onnx inference

@pytest.mark.parametrize("dynamo", EXPORTERS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_onnx_shape_inference_on_stripped_model(case: Case, dynamo: bool) -> None:
    model = stripped(exported_case(case.id, dynamo))
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    onnx.checker.check_model(inferred, full_check=True)
    elem_type, dims = shape_of(inferred, roipool_output(inferred))
    assert elem_type == TensorProto.FLOAT
    assert dims == expected_dims(case, "K")
    ph, pw = case.attrs[0], case.attrs[1]
    assert shape_of(inferred, "flat")[1] == ["K", dims[1] * ph * pw]


@pytest.mark.parametrize("op_type", BY_OP_TYPE)
@pytest.mark.parametrize("elem_type", [TensorProto.FLOAT16, TensorProto.BFLOAT16])
def test_onnx_inference_keeps_feature_dtype_and_symbols(op_type: str, elem_type: int) -> None:
    """Output dtype = feature dtype (rois float32); K and C symbolic as given (a
    position-sensitive C_out of a symbolic C is unknown); absent attributes use their
    defaults (7x7)."""
    columns = BY_OP_TYPE[op_type].rois_columns
    for channels in (98, "C"):
        model = single_node_model(op_type, ["B", channels, "H", "W"], ["num_rois", columns],
                                  elem_type)
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        got_type, dims = shape_of(inferred, "out")
        assert got_type == elem_type
        ps = op_type.startswith("PS")
        if ps and channels == "C":  # unknown: onnx names it with a fresh symbol
            assert dims[1] is None or dims[1].startswith("unk__"), dims
            dims[1] = None
        expected_channels = (2 if ps else 98) if channels == 98 else (None if ps else "C")
        assert dims == ["num_rois", expected_channels, 7, 7]


@pytest.mark.parametrize(("op_type", "feature", "rois", "attrs", "message"), [
    ("RoIAlign", ["B", 4, "H", "W"], ["K", 4], {}, r"RoIAlign: rois must be \[K, 5\]"),
    ("RoIAlignRotated", ["B", 4, "H", "W"], ["K", 5], {}, r"rois must be \[K, 6\]"),
    ("RoIPool", ["B", 4, "H"], ["K", 5], {}, "feature maps must be"),
    ("PSRoIPool", ["B", 50, "H", "W"], ["K", 5], {}, "divisible by pooled_h"),
    ("PrRoIPool", ["B", 4, "H", "W"], ["K", 5], {"pooled_h": 0}, "pooled_h and pooled_w"),
])
def test_strict_onnx_inference_names_the_bad_input(op_type: str, feature: Shape, rois: Shape,
                                                   attrs: dict, message: str) -> None:
    model = single_node_model(op_type, feature, rois, **attrs)
    with pytest.raises(onnx.shape_inference.InferenceError, match=message):
        onnx.shape_inference.infer_shapes(model, strict_mode=True)


# ----------------------------------------------------------------------------- ORT's tool

@pytest.mark.parametrize("dynamo", EXPORTERS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_ort_symbolic_shape_inference_on_stripped_model(
        case: Case, dynamo: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """roipool's rules in ONNX Runtime's tool, also where the onnx schemas are unknown (a
    process that never imported roipool.export: the tool's onnx fallback fails there)."""
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    monkeypatch.chdir(tmp_path)  # the failing tool writes sym_shape_infer_temp.onnx here

    model = stripped(exported_case(case.id, dynamo))
    ph, pw = case.attrs[0], case.attrs[1]
    with schemas_unregistered():
        with pytest.raises(Exception, match="Incomplete symbolic shape inference"):
            SymbolicShapeInference.infer_shapes(model)
        inferred = symbolic_shape_infer(model)
    elem_type, dims = shape_of(inferred, roipool_output(inferred))
    assert elem_type == TensorProto.FLOAT
    assert dims == expected_dims(case, "K")
    assert shape_of(inferred, "flat")[1] == ["K", dims[1] * ph * pw]


def test_ort_symbolic_inference_of_position_sensitive_symbolic_channels() -> None:
    model = single_node_model("PSRoIAlign", ["B", "C", "H", "W"], ["K", 5], pooled_h=3,
                              pooled_w=2)
    inferred = symbolic_shape_infer(model)
    assert shape_of(inferred, "out")[1] == ["K", "floor(C/6)", 3, 2]


def test_ort_symbolic_inference_error_names_the_bad_input() -> None:
    model = single_node_model("RoIAlign", ["B", 4, "H", "W"], ["K", 4])
    with pytest.raises(ValueError, match=r"rois must be \[K, 5\]"):
        symbolic_shape_infer(model)


# ----------------------------------------------------------------------------- onnxsim

@pytest.mark.parametrize("case_id", ["roi_align", "ps_roi_align", "multi_scale_roi_align"])
def test_onnxsim_static_shapes_give_static_k(case_id: str) -> None:
    """onnxsim bridges Python-registered schemas into its own registry: with the roipool
    schemas its static-shape override reaches K; without them K stays stale."""
    onnxsim = pytest.importorskip("onnxsim")
    case = next(c for c in CASES if c.id == case_id)
    model = onnx.ModelProto.FromString(exported_case(case_id, True).SerializeToString())
    del model.graph.value_info[:]  # the output keeps the exporter's ["K", ...]
    feature = [2, case.channels, 10, 12]
    shapes = {"input": feature, "feature_0": feature, "feature_1": [2, case.channels, 5, 6],
              "rois": [7, 5]}
    shapes = {name: shapes[name] for name in case.input_names}
    simplified, ok = onnxsim.simplify(model, overwrite_input_shapes=shapes)
    assert ok
    assert shape_of(simplified, "output")[1] == expected_dims(case, 7)


# ----------------------------------------------------------------------------- CLI

@pytest.mark.parametrize("flag", [[], ["--onnx"]], ids=["ort", "onnx"])
def test_shapes_command(tmp_path: object, flag: list[str],
                        capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.onnx"  # type: ignore[operator]
    target = tmp_path / "out.onnx"  # type: ignore[operator]
    onnx.save(stripped(exported_case("roi_warp", True)), source)
    assert main(["shapes", str(source), "-o", str(target), *flag]) == 0
    assert "RoIWarp output: ['K', 4, 3, 2]" in capsys.readouterr().out
    assert shape_of(onnx.load(target), "flat")[1] == ["K", 24]
    bad = single_node_model("RoIAlign", ["B", 4, "H", "W"], ["K", 4])
    onnx.save(bad, source)
    assert main(["shapes", str(source), "-o", str(target), *flag]) == 1
    assert "rois must be [K, 5]" in capsys.readouterr().err
