"""libroipool_torch.so: the torch.ops.roipool kernels registered in C++ (torch stable ABI).

These tests fail when the library is built but its kernels do not serve the ops: the
dispatcher must name torch_ops.cpp for every op's CPU and CUDA kernel, and the ops must
work with the ctypes binding broken. Skipped only where the library was not built.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest
import torch
from conftest import child_pythonpath
from roipool import _native
from roipool._libs import TORCH_LIBRARY, find_library
from roipool.ops import _library, reference
from roipool.ops import functional as F
from test_ops_training import _all_ops, _inputs, _raw_calls

pytestmark = pytest.mark.skipif(find_library(TORCH_LIBRARY) is None,
                                reason=f"{TORCH_LIBRARY} was not built")

OPS = ["roi_pool", "roi_align", "roi_warp", "ps_roi_pool", "ps_roi_align", "deform_roi_pool",
       "multi_scale_roi_align", "roi_align_rotated", "prroi_pool"]


def test_library_is_loaded() -> None:
    assert str(find_library(TORCH_LIBRARY)) == _library.TORCH_LIBRARY_PATH


@pytest.mark.parametrize("name", OPS + [f"{op}_backward" for op in OPS])
@pytest.mark.parametrize("key", ["CPU", "CUDA"])
def test_kernel_comes_from_the_library(name: str, key: str) -> None:
    dump = torch._C._dispatch_dump(f"roipool::{name}")
    line = next((s for s in dump.splitlines() if s.startswith(f"{key}:")), "")
    assert "plugins/torch/torch_ops.cpp" in line, dump


def _forward_and_grads(inputs: dict) -> list[torch.Tensor]:
    leaves = [t for name in ("x", "xps", "offset", "mask") for t in [inputs[name]]]
    leaves += inputs["levels"] + [inputs["rois"]]
    for t in leaves:
        t.requires_grad_()
    outs = _all_ops(**inputs)
    grads = torch.autograd.grad(sum(o.sum() for o in outs), leaves, allow_unused=True)
    return outs + [g for g in grads if g is not None]


def test_ops_run_without_the_ctypes_binding(monkeypatch: pytest.MonkeyPatch,
                                            generator: torch.Generator) -> None:
    """Forward and backward of all nine ops, first through the Python implementations
    (ctypes), then with the ctypes entry points raising: the C++ kernels run the same core,
    so the results are identical."""
    state = generator.get_state()
    expected = _python_path_results(_inputs(5, generator))

    def broken(*args: object, **kwargs: object) -> None:
        raise AssertionError("the ctypes binding was called")

    monkeypatch.setattr(_native, "forward", broken)
    monkeypatch.setattr(_native, "backward", broken)
    generator.set_state(state)
    actual = _forward_and_grads(_inputs(5, generator))
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        assert torch.equal(a, e)


def _python_path_results(inputs: dict) -> list[torch.Tensor]:
    """_forward_and_grads with the C++ CPU kernel of every op and backward overridden by
    its Python fallback (the ctypes path); the C++ kernels are back afterwards."""
    lib = torch.library.Library("roipool", "IMPL")
    try:
        with warnings.catch_warnings():  # "overriding a previously registered kernel"
            warnings.simplefilter("ignore")
            for name in OPS:
                for op in (name, f"{name}_backward"):
                    fallback = getattr(torch.ops.roipool, f"_{op}_fallback").default
                    lib.impl(op, lambda *args, f=fallback: f(*args), "CPU")
        return _forward_and_grads(inputs)
    finally:
        lib._destroy()


def test_other_dtypes_and_disable_native_use_the_python_path(
        monkeypatch: pytest.MonkeyPatch, generator: torch.Generator) -> None:
    x = torch.randn(1, 3, 10, 10, generator=generator, dtype=torch.float64)
    rois = torch.tensor([[0, 1.0, 1.0, 8.0, 7.0]], dtype=torch.float64)
    expected = reference.roi_align_reference(x, rois, 2, 2, 1.0, 2, True, "avg")
    assert torch.equal(F.roi_align(x, rois, 2, 1.0, 2, aligned=True), expected)
    x.requires_grad_()
    assert torch.autograd.gradcheck(lambda t: F.roi_align(t, rois, 2, 1.0, 2, aligned=True), x)

    calls = []
    monkeypatch.setattr(reference, "roi_align_reference",
                        lambda *a: calls.append(a) or expected.float())
    monkeypatch.setenv("ROIPOOL_DISABLE_NATIVE", "1")
    F.roi_align(x.detach().float(), rois.float(), 2, 1.0, 2, aligned=True)
    assert len(calls) == 1


def test_core_errors_name_the_attribute() -> None:
    x, rois = torch.zeros(1, 1, 4, 4), torch.tensor([[0, 0.0, 0.0, 2.0, 2.0]])
    with pytest.raises(RuntimeError, match="RoIAlign: attribute 'pooled_h' must be in"):
        torch.ops.roipool.roi_align(x, rois, 0, 2, 1.0, 2, False, "avg")
    with pytest.raises(RuntimeError, match="must be divisible by pooled_h"):
        torch.ops.roipool.ps_roi_pool(torch.zeros(1, 3, 4, 4), rois, 2, 2, 1.0)


def test_results_do_not_depend_on_torch_threads(generator: torch.Generator) -> None:
    """The CPU loops run on torch's intra-op threads: any count gives the same bits."""
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            results.append(_forward_and_grads(_inputs(9, generator.manual_seed(3))))
    finally:
        torch.set_num_threads(before)
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)


def _backward_calls(inputs: dict) -> list[tuple]:
    """(backward op, args) for each forward call of _raw_calls."""
    calls = []
    for op, args in _raw_calls(inputs):
        out = op(*args)
        backward = getattr(torch.ops.roipool, f"{op._qualified_op_name.split('::')[1]}_backward")
        calls.append((backward, (torch.randn_like(out), *args)))
    return calls


@pytest.mark.parametrize("index", range(10))
def test_opcheck_backward_ops(index: int, generator: torch.Generator) -> None:
    op, args = _backward_calls(_inputs(4, generator))[index]
    torch.library.opcheck(op, args)


def test_disable_switch_keeps_it_unloaded() -> None:
    """ROIPOOL_DISABLE_TORCH_LIBRARY=1: the ops are the Python implementations alone."""
    code = ("import torch, roipool.ops as ops\n"
            "from roipool.ops import _library\n"
            "dump = torch._C._dispatch_dump('roipool::roi_align')\n"
            "print(_library.TORCH_LIBRARY_PATH, 'torch_ops.cpp' in dump)\n")
    env = {**os.environ, "ROIPOOL_DISABLE_TORCH_LIBRARY": "1", "PYTHONPATH": child_pythonpath()}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["None", "False"]
