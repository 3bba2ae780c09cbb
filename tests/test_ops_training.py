"""Training through the public API: ``torch.library.opcheck`` on every op,
``torch.compile`` (inductor, ``fullgraph=True``, dynamic K) forward and backward, K = 0
forward and backward, and no channels-last gradients leaking out of ``<op>_backward``.
"""

from __future__ import annotations

import pytest
import torch
from conftest import random_rois
from roipool import _native
from roipool.ops import functional as F

pytestmark = pytest.mark.skipif(
    not _native.available(torch.device("cpu")), reason="libroipool_core.so not built"
)

PH, PW = 2, 3
SCALES = [0.25, 0.125]


def _inputs(k: int, generator: torch.Generator, channels_last: bool = False) -> dict:
    """One input set for all nine ops with K = k RoIs."""
    layout = torch.channels_last if channels_last else torch.contiguous_format

    def leaf(*shape: int) -> torch.Tensor:
        t = torch.randn(*shape, generator=generator)
        return t.contiguous(memory_format=layout) if t.dim() == 4 else t

    rois = random_rois(k, 2, 12, 14, generator=generator, spatial_scale=0.5)
    centre, size = (rois[:, 1:3] + rois[:, 3:5]) / 2, rois[:, 3:5] - rois[:, 1:3]
    ms_rois = random_rois(k, 2, 128, 128, generator=generator)
    ms_rois[:1, 1:] = torch.tensor([0.0, 0, 127, 127])  # side >= 112: the coarser level
    return {
        "x": leaf(2, 4, 12, 14), "xps": leaf(2, 2 * PH * PW, 12, 14),
        "levels": [leaf(2, 4, 32, 32), leaf(2, 4, 16, 16)],
        "rois": rois, "rotated": torch.cat([rois[:, :1], centre, size, rois[:, 1:2] / 10], 1),
        "ms_rois": ms_rois,
        "offset": leaf(k, 2, PH, PW), "mask": torch.rand(k, 1, PH, PW, generator=generator),
    }


def _all_ops(x, xps, levels, rois, rotated, ms_rois, offset, mask) -> list[torch.Tensor]:
    """Every op once (the max variants too), through the functional API."""
    return [
        F.roi_pool(x, rois, (PH, PW), 0.5),
        F.roi_align(x, rois, (PH, PW), 0.5, 2, aligned=True),
        F.roi_align(x, rois, (PH, PW), 0.5, 2, mode="max"),
        F.roi_warp(x, rois, (PH, PW), 0.5, 2),
        F.ps_roi_pool(xps, rois, (PH, PW), 0.5),
        F.ps_roi_align(xps, rois, (PH, PW), 0.5, 2),
        F.deform_roi_pool(x, rois, offset, (PH, PW), 0.5, 2, 0.1, mask=mask),
        F.multi_scale_roi_align(levels, ms_rois, (PH, PW), SCALES, sampling_ratio=2),
        F.roi_align_rotated(x, rotated, (PH, PW), 0.5, 2),
        F.prroi_pool(x, rois, (PH, PW), 0.5),
    ]


# Inputs without a gradient (no op differentiates these boxes).
_NO_GRAD = ("rotated", "ms_rois")


def _loss_and_grads(fn, inputs: dict) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    leaves = {n: ([t.detach().clone().requires_grad_() for t in v] if isinstance(v, list)
                  else v.detach().clone().requires_grad_(n not in _NO_GRAD))
              for n, v in inputs.items()}
    outs = fn(**leaves)
    weights = [torch.linspace(-1, 1, o.numel()).view(o.shape) for o in outs]
    sum(((o * w).sum() for o, w in zip(outs, weights, strict=True)), torch.zeros(())).backward()
    flat = [t for n, v in leaves.items() if n not in _NO_GRAD
            for t in (v if isinstance(v, list) else [v])]
    grads = [t.grad for t in flat]
    return [o.detach() for o in outs], grads


def test_inductor_forward_and_backward_dynamic_k(generator: torch.Generator) -> None:
    """One fullgraph inductor compile of all nine ops (channels-last inputs, whose
    gradients come back contiguous), run at two values of K without recompiling."""
    from torch._dynamo.testing import CompileCounterWithBackend

    torch._dynamo.reset()
    counter = CompileCounterWithBackend("inductor")
    compiled = torch.compile(_all_ops, backend=counter, fullgraph=True, dynamic=True)
    frames = []
    for k in (7, 9):  # not 2, 3, 5 or 6: duck sizing would tie K to other dims
        inputs = _inputs(k, generator, channels_last=True)
        eager_out, eager_grads = _loss_and_grads(_all_ops, inputs)
        out, grads = _loss_and_grads(compiled, inputs)
        for a, b in zip(out, eager_out, strict=True):
            assert a.shape[0] == k and torch.allclose(a, b, atol=1e-5)
        for a, b in zip(grads, eager_grads, strict=True):
            assert torch.count_nonzero(b) > 0
            assert torch.allclose(a, b, atol=1e-5)
        frames.append(counter.frame_count)
    assert frames[0] > 0 and frames[1] == frames[0]  # K stayed symbolic: no recompile


def test_k0_forward_and_backward(generator: torch.Generator) -> None:
    """K = 0: empty outputs, and gradients that are zeros of the inputs' shapes."""
    inputs = _inputs(0, generator)
    out, grads = _loss_and_grads(_all_ops, inputs)
    assert all(o.shape[0] == 0 for o in out)
    flat = [t for n, v in inputs.items() if n not in _NO_GRAD
            for t in (v if isinstance(v, list) else [v])]
    for g, t in zip(grads, flat, strict=True):
        assert g.shape == t.shape and torch.all(g == 0)


def _raw_calls(inputs: dict) -> list[tuple]:
    """(op, args) of every torch.ops.roipool op, for opcheck."""
    x, xps, rois = inputs["x"], inputs["xps"], inputs["rois"]
    ops = torch.ops.roipool
    return [
        (ops.roi_pool, (x, rois, PH, PW, 0.5)),
        (ops.roi_align, (x, rois, PH, PW, 0.5, 2, True, "avg")),
        (ops.roi_align, (x, rois, PH, PW, 0.5, 2, False, "max")),
        (ops.roi_warp, (x, rois, PH, PW, 0.5, 2, False, "avg")),
        (ops.ps_roi_pool, (xps, rois, PH, PW, 0.5)),
        (ops.ps_roi_align, (xps, rois, PH, PW, 0.5, 2)),
        (ops.deform_roi_pool, (x, rois, inputs["offset"], inputs["mask"], PH, PW, 0.5, 2, 0.1)),
        (ops.multi_scale_roi_align, (inputs["ms_rois"], inputs["levels"], PH, PW, 2, False,
                                     SCALES, "torchvision", 224.0, 4, 1.0)),
        (ops.roi_align_rotated, (x, inputs["rotated"], PH, PW, 0.5, 2, True, False)),
        (ops.prroi_pool, (x, rois, PH, PW, 0.5)),
    ]


@pytest.mark.parametrize("index", range(10))
def test_opcheck(index: int, generator: torch.Generator) -> None:
    inputs = _inputs(4, generator)
    for name in ("x", "xps", "offset", "mask"):
        inputs[name].requires_grad_()
    for t in inputs["levels"]:
        t.requires_grad_()
    op, args = _raw_calls(inputs)[index]
    torch.library.opcheck(op, args)
