"""standard_ops=True: RoIAlign avg -> ONNX RoiAlign, RoIPool -> MaxRoiPool, checked with
onnxruntime's built-in kernels (no roipool library); max mode never becomes RoiAlign."""

from __future__ import annotations

import onnx
import onnxruntime
import pytest
import torch
from _export_cases import Case, export_case
from conftest import assert_spec_close
from roipool.export import DOMAIN

EXPORTERS = [pytest.param(True, id="dynamo"), pytest.param(False, id="torchscript")]
ALIGN_AVG = [Case("aligned", "roi_align", (3, 2, 0.5, 2, True, "avg")),
             Case("unaligned_adaptive", "roi_align", (2, 3, 0.5, -1, False, "avg"))]
ROI_POOL = Case("roi_pool", "roi_pool", (3, 2, 0.5))


def export(case: Case, dynamo: bool, opset: int = 18) -> onnx.ModelProto:
    return export_case(case, dynamo, standard_ops=True, opset=opset)


def run_builtin(model: onnx.ModelProto, case: Case, tensors: list[torch.Tensor]) -> torch.Tensor:
    session = onnxruntime.InferenceSession(model.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    feeds = {name: t.numpy() for name, t in zip(case.input_names, tensors, strict=True)}
    return torch.from_numpy(session.run(None, feeds)[0])


def node_types(model: onnx.ModelProto) -> list[tuple[str, str]]:
    return [(n.domain, n.op_type) for n in model.graph.node]


@pytest.mark.parametrize("dynamo", EXPORTERS)
@pytest.mark.parametrize("case", ALIGN_AVG, ids=lambda c: c.id)
def test_roi_align_avg_becomes_standard_roi_align(case: Case, dynamo: bool) -> None:
    model = export(case, dynamo)
    onnx.checker.check_model(model)
    assert all(domain != DOMAIN for domain, _ in node_types(model))
    (node,) = [n for n in model.graph.node if n.op_type == "RoiAlign"]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    aligned = case.attrs[4]
    assert attrs["coordinate_transformation_mode"] == (
        b"half_pixel" if aligned else b"output_half_pixel")
    assert attrs["sampling_ratio"] == max(case.attrs[3], 0)
    generator = torch.Generator().manual_seed(4)
    for shape in ((2, 10, 12, 5), (3, 7, 15, 9), (1, 5, 5, 0)):
        tensors = case.inputs(*shape, generator=generator)
        assert_spec_close(run_builtin(model, case, tensors), case.expected(tensors),
                          torch.float32, tensors[0])


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_roi_pool_becomes_max_roi_pool_exactly(dynamo: bool) -> None:
    model = export(ROI_POOL, dynamo)
    onnx.checker.check_model(model)
    assert ("", "MaxRoiPool") in node_types(model)
    assert all(domain != DOMAIN for domain, _ in node_types(model))
    generator = torch.Generator().manual_seed(5)
    for shape in ((2, 10, 12, 5), (3, 9, 14, 8)):
        tensors = ROI_POOL.inputs(*shape, generator=generator)
        actual = run_builtin(model, ROI_POOL, tensors)
        # Max pooling selects an element: float32 results are exactly the reference's.
        assert torch.equal(actual, ROI_POOL.expected(tensors).float())


@pytest.mark.parametrize("dynamo", EXPORTERS)
def test_max_mode_keeps_roipool_node(dynamo: bool) -> None:
    case = Case("max", "roi_align", (2, 2, 0.5, 2, True, "max"))
    model = export(case, dynamo)
    assert node_types(model) == [(DOMAIN, "RoIAlign")]


@pytest.mark.parametrize("case", [Case("roi_warp", "roi_warp", (2, 2, 0.5, 2, False, "avg")),
                                  Case("ps", "ps_roi_align", (2, 2, 0.5, 2), channels=8)],
                         ids=lambda c: c.id)
def test_ops_without_standard_form_stay_roipool(case: Case) -> None:
    model = export(case, dynamo=False)
    assert [t for d, t in node_types(model) if d == DOMAIN] == [case.contract.op_type]


def test_roi_align_below_opset_16_stays_roipool() -> None:
    model = export(ALIGN_AVG[0], dynamo=False, opset=15)
    assert node_types(model) == [(DOMAIN, "RoIAlign")]
