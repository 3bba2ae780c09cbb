"""Every torch.ops.roipool op through both exporters: node contract, onnx.checker, and
onnxruntime (libroipool_ort.so) against the float64 eager reference, including reuse of
one exported model with other B/H/W/K and K = 0."""

from __future__ import annotations

import ctypes
import warnings

import pytest
import torch
from _export_cases import (
    CASE_BY_ID,
    CASES,
    Case,
    assert_node_contract,
    exported_case,
    run_ort,
)
from conftest import assert_spec_close
from roipool._libs import CORE_LIBRARY, ORT_LIBRARY, find_library
from roipool.export import (
    ATTRIBUTE_TYPES,
    CONTRACTS,
    DOMAIN,
    MAX_IR_VERSION,
    export_onnx,
    register_torchscript_symbolics,
)

needs_ort = pytest.mark.skipif(find_library(ORT_LIBRARY) is None,
                               reason=f"{ORT_LIBRARY} was not built")
EXPORTERS = [pytest.param(True, id="dynamo"), pytest.param(False, id="torchscript")]


@pytest.mark.parametrize("dynamo", EXPORTERS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_node_contract(case: Case, dynamo: bool) -> None:
    model = exported_case(case.id, dynamo)
    assert model.ir_version <= MAX_IR_VERSION
    assert_node_contract(model, case)


@needs_ort
@pytest.mark.parametrize("dynamo", EXPORTERS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_onnxruntime_matches_reference(case: Case, dynamo: bool) -> None:
    model = exported_case(case.id, dynamo)
    generator = torch.Generator().manual_seed(2)
    # Export shapes, then other batch / map sizes / RoI counts, then K = 0.
    for shape in ((2, 10, 12, 5), (3, 13, 9, 11), (1, 6, 17, 0)):
        tensors = case.inputs(*shape, generator=generator)
        actual = run_ort(model, case, tensors)
        expected = case.expected(tensors)
        assert actual.dtype == torch.float32
        assert_spec_close(actual, expected, torch.float32, case.features(tensors))
        if case.op == "roi_pool":  # max pooling selects an element: exact in float32
            assert torch.equal(actual, expected.float())


@needs_ort
@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_float16_model_with_float32_rois(dynamo: bool) -> None:
    case = CASE_BY_ID["roi_align"]
    features, rois = case.inputs(2, 10, 12, 5, torch.Generator().manual_seed(6))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = export_onnx(case.module(), (features.half(), rois), dynamo=dynamo,
                            input_names=case.input_names, output_names=["output"],
                            dynamic_axes=case.dynamic_axes())
    actual = run_ort(model, case, [features.half(), rois])
    assert actual.dtype == torch.float16
    expected = case.expected([features.half(), rois])
    assert_spec_close(actual, expected, torch.float16, features.half())


def test_dynamo_below_opset_18_is_refused() -> None:
    case = CASES[1]
    tensors = case.inputs(1, 8, 8, 2, torch.Generator().manual_seed(3))
    with pytest.raises(ValueError, match="opset >= 18"):
        export_onnx(case.module(), tuple(tensors), dynamo=True, opset=17)


def test_register_torchscript_symbolics_is_idempotent() -> None:
    register_torchscript_symbolics()
    register_torchscript_symbolics(opset=17)
    case = CASES[1]
    tensors = case.inputs(1, 8, 8, 2, torch.Generator().manual_seed(3))
    model = export_onnx(case.module(), tuple(tensors), dynamo=False,
                        input_names=case.input_names)
    assert [n.op_type for n in model.graph.node if n.domain == DOMAIN] == ["RoIAlign"]


def test_dynamic_shapes_rejected_by_torchscript() -> None:
    case = CASES[1]
    tensors = case.inputs(1, 8, 8, 2, torch.Generator().manual_seed(3))
    with pytest.raises(ValueError, match="dynamic_shapes needs dynamo"):
        export_onnx(case.module(), tuple(tensors), dynamo=False, dynamic_shapes={})


@pytest.mark.skipif(find_library(CORE_LIBRARY) is None, reason=f"{CORE_LIBRARY} was not built")
def test_attribute_types_match_core() -> None:
    """The exporter's attribute table agrees with op_attributes() of the kernel core."""
    lib = ctypes.CDLL(str(find_library(CORE_LIBRARY)))
    core_types = {0: "int", 1: "float", 2: "string", 4: "floats"}
    for contract in CONTRACTS.values():
        op = ctypes.c_int32()
        assert lib.roipool_op_from_name(contract.op_type.encode(), ctypes.byref(op)) == 0
        for name in contract.attributes:
            kind = ctypes.c_int32()
            assert lib.roipool_attribute_type(op, name.encode(), ctypes.byref(kind)) == 0, name
            assert core_types[kind.value] == ATTRIBUTE_TYPES[name], (contract.op_type, name)
