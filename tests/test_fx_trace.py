"""torch.fx.symbolic_trace of the functional API and the modules: every op is kept as
one leaf call (like torchvision's ops) and the traced graph computes the eager result;
torch.export keeps every op as its roipool:: node."""

from __future__ import annotations

import pytest
import roipool.ops
import torch
import torch.fx
from roipool.ops import functional as F


def _inputs() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    boxes = torch.tensor([[0, 1.0, 2.0, 12.0, 14.0], [1, 0.5, 0.5, 9.0, 7.0]])
    rotated = torch.tensor([[0, 6.0, 7.0, 8.0, 5.0, 0.3], [1, 5.0, 4.0, 6.0, 6.0, -0.5]])
    return {"x": torch.randn(2, 8, 16, 16, generator=g),
            "ps": torch.randn(2, 18, 16, 16, generator=g),
            "boxes": boxes, "rotated": rotated,
            "offset": 0.1 * torch.randn(2, 2, 3, 3, generator=g)}


# name -> (module, function of (module-or-namespace, inputs) returning the call's args)
CASES = {
    "roi_pool": (roipool.ops.RoIPool(3, 0.5), lambda t: (t["x"], t["boxes"])),
    "roi_align": (roipool.ops.RoIAlign(3, 0.5, 2, aligned=True), lambda t: (t["x"], t["boxes"])),
    "roi_warp": (roipool.ops.RoIWarp(3, 0.5, 2), lambda t: (t["x"], t["boxes"])),
    "ps_roi_pool": (roipool.ops.PSRoIPool(3, 0.5), lambda t: (t["ps"], t["boxes"])),
    "ps_roi_align": (roipool.ops.PSRoIAlign(3, 0.5, 2), lambda t: (t["ps"], t["boxes"])),
    "deform_roi_pool": (roipool.ops.DeformRoIPool(3, 0.5, 2),
                        lambda t: (t["x"], t["boxes"], t["offset"])),
    "roi_align_rotated": (roipool.ops.RoIAlignRotated(3, 0.5, 2),
                          lambda t: (t["x"], t["rotated"])),
    "prroi_pool": (roipool.ops.PrRoIPool(3, 0.5), lambda t: (t["x"], t["boxes"])),
}


def _leaf_targets(graph_module: torch.fx.GraphModule) -> list[str]:
    return [n.target.__name__ for n in graph_module.graph.nodes if n.op == "call_function"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_module_trace_keeps_one_leaf_call(name: str) -> None:
    module, args = CASES[name]
    t = _inputs()
    traced = torch.fx.symbolic_trace(module)
    assert _leaf_targets(traced) == [name]
    torch.testing.assert_close(traced(*args(t)), module(*args(t)), rtol=0, atol=0)


@pytest.mark.parametrize("namespace", [roipool.ops, F], ids=["roipool.ops", "functional"])
def test_functional_trace(namespace: object) -> None:
    def fn(x: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        return namespace.roi_align(x, boxes, 3, 0.5, 2) + namespace.roi_pool(x, boxes, 3, 0.5)

    t = _inputs()
    traced = torch.fx.symbolic_trace(fn)
    assert _leaf_targets(traced) == ["roi_align", "roi_pool", "add"]
    torch.testing.assert_close(traced(t["x"], t["boxes"]), fn(t["x"], t["boxes"]),
                               rtol=0, atol=0)


def test_multi_scale_module_trace_with_dict_and_image_shapes() -> None:
    g = torch.Generator().manual_seed(1)
    features = {"p2": torch.randn(1, 4, 32, 32, generator=g),
                "p3": torch.randn(1, 4, 16, 16, generator=g), "unused": torch.zeros(1)}
    boxes = [torch.tensor([[4.0, 4.0, 60.0, 40.0], [0.0, 0.0, 127.0, 127.0]])]
    module = roipool.ops.MultiScaleRoIAlign(["p2", "p3"], 3, 2)
    traced = torch.fx.symbolic_trace(module)
    assert _leaf_targets(traced) == ["_multi_scale_forward"]
    expected = module(features, boxes, [(128, 128)])
    torch.testing.assert_close(traced(features, boxes, [(128, 128)]), expected, rtol=0, atol=0)
    # the traced graph still raises the module's error, naming what is missing
    with pytest.raises(ValueError, match="image_shapes"):
        traced(features, boxes, None)


@pytest.mark.parametrize("name", sorted(CASES))
def test_torch_export_keeps_the_op(name: str) -> None:
    """torch.export (strict=False) keeps roipool::<op> as one node of the exported graph."""
    module, args = CASES[name]
    t = _inputs()
    exported = torch.export.export(module, args(t), strict=False)
    targets = [str(n.target) for n in exported.graph.nodes if n.op == "call_function"]
    assert f"roipool.{name}.default" in targets
    torch.testing.assert_close(exported.module()(*args(t)), module(*args(t)), rtol=0, atol=0)
