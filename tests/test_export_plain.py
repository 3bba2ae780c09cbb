"""Plain ``torch.onnx.export`` (no roipool argument), both exporters, on modules that use
roipool ops: the public ``roipool.ops`` modules for all nine ops and direct
``torch.ops.roipool`` calls. The nodes must be those of ``roipool.export.export_onnx``
(node contract, onnx.checker), keep B/H/W/K dynamic, and run in ONNX Runtime with
libroipool_ort.so like the eager module."""

from __future__ import annotations

import functools
import io

import onnx
import pytest
import torch
from _export_cases import (
    CASE_BY_ID,
    CASES,
    Case,
    assert_node_contract,
    export_case,
    export_plain,
    exported_case,
    quiet_export,
    run_ort,
)
from conftest import assert_spec_close
from roipool import ops
from roipool._libs import ORT_LIBRARY, find_library
from roipool.export import DOMAIN, OP_NAMES
from roipool.ops import _onnx_symbolic
from torch import Tensor

needs_ort = pytest.mark.skipif(find_library(ORT_LIBRARY) is None,
                               reason=f"{ORT_LIBRARY} was not built")
needs_symbolic = pytest.mark.skipif(not _onnx_symbolic.has_symbolic_op(),
                                    reason="torch.onnx.ops.symbolic needs torch >= 2.8")
EXPORTERS = [pytest.param(True, id="dynamo", marks=needs_symbolic),
             pytest.param(False, id="torchscript")]


class PublicModule(torch.nn.Module):
    """The case's op through its public ``roipool.ops`` module (tensor inputs in the
    case's ``input_names`` order)."""

    def __init__(self, case: Case) -> None:
        super().__init__()
        self.op = case.op
        a = case.attrs
        size = (a[0], a[1])
        self.optional = case.optional
        builders = {
            "roi_pool": lambda: ops.RoIPool(size, a[2]),
            "roi_align": lambda: ops.RoIAlign(size, a[2], a[3], a[4], a[5]),
            "roi_warp": lambda: ops.RoIWarp(size, a[2], a[3], a[4], a[5]),
            "ps_roi_pool": lambda: ops.PSRoIPool(size, a[2]),
            "ps_roi_align": lambda: ops.PSRoIAlign(size, a[2], a[3]),
            "deform_roi_pool": lambda: ops.DeformRoIPool(size, a[2], a[3], a[4]),
            "multi_scale_roi_align": lambda: ops.MultiScaleRoIAlign(
                ["0", "1"], size, a[2], aligned=a[3], spatial_scales=a[4],
                level_mapping=a[5], canonical_scale=a[6], canonical_level=a[7],
                roi_scale_factor=a[8]),
            "roi_align_rotated": lambda: ops.RoIAlignRotated(size, a[2], a[3], a[4], a[5]),
            "prroi_pool": lambda: ops.PrRoIPool(size, a[2]),
        }
        self.pooler = builders[case.op]()

    def forward(self, *tensors: Tensor) -> Tensor:
        if self.op == "multi_scale_roi_align":
            return self.pooler(list(tensors[1:]), tensors[0])
        if self.op == "deform_roi_pool":
            return self.pooler(tensors[0], tensors[1],
                               **dict(zip(self.optional, tensors[2:], strict=True)))
        return self.pooler(*tensors)


@functools.cache
def exported(case_id: str, dynamo: bool, direct: bool = False) -> onnx.ModelProto:
    case = CASE_BY_ID[case_id]
    return export_plain(case.module() if direct else PublicModule(case), case, dynamo)


def test_registered_ops_are_the_contract() -> None:
    assert _onnx_symbolic.OP_NAMES == OP_NAMES


@pytest.mark.parametrize("dynamo", EXPORTERS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_plain_export_writes_the_roipool_node(case: Case, dynamo: bool) -> None:
    model = exported(case.id, dynamo)
    assert_node_contract(model, case)
    output = model.graph.output[0].type.tensor_type
    assert output.shape.dim[0].dim_param, "K must stay symbolic"
    assert [d.dim_value for d in output.shape.dim[2:]] == list(case.attrs[:2])


@pytest.mark.parametrize("dynamo", EXPORTERS)
@pytest.mark.parametrize("case_id", ["roi_align", "deform_roi_pool_mask_only",
                                     "multi_scale_roi_align"])
def test_plain_export_of_direct_op_calls_matches_export_onnx(case_id: str,
                                                               dynamo: bool) -> None:
    """A module calling torch.ops.roipool.* directly gets the very node export_onnx
    writes (same op type, inputs and attributes)."""
    case = CASE_BY_ID[case_id]
    model = exported(case_id, dynamo, direct=True)
    assert_node_contract(model, case)
    reference = exported_case(case_id, dynamo)
    node, = (n for n in model.graph.node if n.domain == DOMAIN)
    expected, = (n for n in reference.graph.node if n.domain == DOMAIN)
    assert node.op_type == expected.op_type
    assert list(node.input) == list(expected.input)
    assert sorted(a.SerializeToString() for a in node.attribute) == \
        sorted(a.SerializeToString() for a in expected.attribute)


@needs_ort
@pytest.mark.parametrize("dynamo", EXPORTERS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_plain_export_runs_in_onnxruntime_like_eager(case: Case, dynamo: bool) -> None:
    model = exported(case.id, dynamo)
    module = PublicModule(case)
    generator = torch.Generator().manual_seed(4)
    # Export shapes, then other batch / map sizes / RoI counts, then K = 0.
    for shape in ((2, 10, 12, 5), (3, 13, 9, 11), (1, 6, 17, 0)):
        tensors = case.inputs(*shape, generator=generator)
        actual = run_ort(model, case, tensors)
        assert_spec_close(actual, module(*tensors), torch.float32, case.features(tensors))
        assert_spec_close(actual, case.expected(tensors), torch.float32, case.features(tensors))


def test_export_onnx_standard_ops_leaves_plain_torchscript_export_alone() -> None:
    """export_onnx's standard_ops applies to its own export only."""
    case = CASE_BY_ID["roi_align"]
    standard = export_case(case, False, standard_ops=True)
    assert "RoiAlign" in [n.op_type for n in standard.graph.node]
    model = export_plain(case.module(), case, False)
    assert [n.op_type for n in model.graph.node if n.domain == DOMAIN] == ["RoIAlign"]


@needs_symbolic
def test_rewrite_declines_outside_onnx_export() -> None:
    """Outside torch.onnx.export the decomposition is the op itself, so other users of
    torch's decomposition table are unaffected: run_decompositions with the whole table
    keeps the op (K dynamic), a plain call computes it, torch.compile(dynamic=True)
    (FakeTensorMode on symbolic shapes) gets the right output."""
    case = CASE_BY_ID["deform_roi_pool"]
    tensors = tuple(case.inputs(2, 8, 8, 3, torch.Generator().manual_seed(5)))
    op = torch.ops.roipool.deform_roi_pool.default
    expected = case.module()(*tensors)
    decomposition = torch._decomp.decomposition_table[op]
    assert torch.equal(decomposition(*case.op_args(tensors)), expected)
    program = torch.export.export(case.module(), tensors, dynamic_shapes=case.dynamic_shapes())
    decomposed = program.run_decompositions(dict(torch._decomp.decomposition_table))
    targets = {n.target for n in decomposed.graph.nodes if n.op == "call_function"}
    assert op in targets
    assert torch.equal(decomposed.module()(*tensors), expected)
    compiled = torch.compile(case.module(), dynamic=True, backend="aot_eager", fullgraph=True)
    for shape in ((2, 8, 8, 3), (1, 9, 7, 6)):
        tensors = tuple(case.inputs(*shape, generator=torch.Generator().manual_seed(6)))
        assert torch.equal(compiled(*tensors), case.module()(*tensors))


@needs_ort
def test_plain_export_without_custom_opsets_declares_roipool_opset() -> None:
    """TorchScript export without custom_opsets still imports roipool version 1, and the
    model loads in ONNX Runtime."""
    case = CASE_BY_ID["prroi_pool"]
    tensors = case.inputs(2, 10, 12, 5, torch.Generator().manual_seed(1))
    buffer = io.BytesIO()
    with quiet_export():
        torch.onnx.export(case.module(), tuple(tensors), buffer, dynamo=False,
                          input_names=case.input_names)
    model = onnx.load_from_string(buffer.getvalue())
    assert [(o.domain, o.version) for o in model.opset_import if o.domain == DOMAIN] == \
        [(DOMAIN, 1)]
    assert_spec_close(run_ort(model, case, tensors), case.expected(tensors), torch.float32,
                      case.features(tensors))


@needs_symbolic
@needs_ort
def test_exported_program_from_torch_export_converts_to_roipool_node() -> None:
    """A user's own torch.export.export program given to torch.onnx.export."""
    case = CASE_BY_ID["ps_roi_align"]
    tensors = tuple(case.inputs(2, 10, 12, 5, torch.Generator().manual_seed(1)))
    program = torch.export.export(case.module(), tensors, dynamic_shapes=case.dynamic_shapes())
    with quiet_export():
        model = torch.onnx.export(program, dynamo=True, verbose=False).model_proto
    assert [n.op_type for n in model.graph.node if n.domain == DOMAIN] == ["PSRoIAlign"]
    for graph_input, name in zip(model.graph.input, case.input_names, strict=True):
        for node in model.graph.node:  # torch.export names them after forward's *tensors
            node.input[:] = [name if i == graph_input.name else i for i in node.input]
        graph_input.name = name
    tensors = tuple(case.inputs(3, 7, 9, 4, torch.Generator().manual_seed(2)))
    actual = run_ort(model, case, tensors)
    assert_spec_close(actual, case.expected(tensors), torch.float32, case.features(tensors))
