"""Shared test helpers: SPEC section 4 tolerances and random RoI generation."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

# Tests run against the source tree when the package is not installed.
_PYTHON_DIR = Path(__file__).resolve().parents[1] / "python"
if os.environ.get("ROIPOOL_TEST_INSTALLED") != "1" and str(_PYTHON_DIR) not in sys.path:
    sys.path.insert(0, str(_PYTHON_DIR))



def child_pythonpath(*first: str) -> str:
    """PYTHONPATH under which a child interpreter imports the roipool this process tests
    (the source tree, or the installed package under ROIPOOL_TEST_INSTALLED=1), after
    `first` and before the inherited PYTHONPATH."""
    import roipool

    package_root = str(Path(roipool.__file__).resolve().parents[1])
    return os.pathsep.join(p for p in (*first, package_root, os.environ.get("PYTHONPATH")) if p)


def raw_op_error(python_type: type[Exception]) -> type[Exception]:
    """The exception a direct ``torch.ops.roipool`` call raises where the Python
    implementation raises `python_type`: RuntimeError (same message) when the C++ kernels
    of libroipool_torch.so serve the op, as torch's stable ABI passes no exception type."""
    from roipool.ops import _library

    return RuntimeError if _library.TORCH_LIBRARY_PATH else python_type


SPEC_TOLERANCE = {torch.float32: 1e-5, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}

CUDA_AVAILABLE = torch.cuda.is_available()
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)] if CUDA_AVAILABLE else ["cpu"]


def spec_atol(dtype: torch.dtype, input: torch.Tensor | list[torch.Tensor]) -> float:
    """Max abs error SPEC section 4 allows for `dtype` given the input's magnitude."""
    tensors = input if isinstance(input, list) else [input]
    magnitude = max((float(t.detach().abs().max()) for t in tensors if t.numel()), default=0.0)
    return SPEC_TOLERANCE[dtype] * max(1.0, magnitude)


def assert_spec_close(
    actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype,
    input: torch.Tensor | list[torch.Tensor],
) -> None:
    """Assert `actual` (computed in `dtype`) matches the float64 `expected` within SPEC."""
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    if actual.numel() == 0:
        return
    error = (actual.detach().double().cpu() - expected.detach().double().cpu()).abs().max().item()
    atol = spec_atol(dtype, input)
    assert error <= atol, f"max abs error {error:.3g} > {atol:.3g} ({dtype})"


def random_rois(
    num_rois: int, batch: int, height: float, width: float, *, generator: torch.Generator,
    spatial_scale: float = 1.0, min_size: float = 0.0, outside: float = 0.1,
) -> torch.Tensor:
    """[K, 5] float32 rois (batch_index, x1, y1, x2, y2) in image pixels for an H x W map
    at `spatial_scale`; `outside` lets boxes extend past the map by that fraction."""
    img_h, img_w = height / spatial_scale, width / spatial_scale
    lo, hi = -outside, 1.0 + outside
    xy = torch.rand(num_rois, 4, generator=generator) * (hi - lo) + lo
    x1 = torch.minimum(xy[:, 0], xy[:, 2]) * img_w
    x2 = torch.maximum(xy[:, 0], xy[:, 2]) * img_w + min_size
    y1 = torch.minimum(xy[:, 1], xy[:, 3]) * img_h
    y2 = torch.maximum(xy[:, 1], xy[:, 3]) * img_h + min_size
    index = torch.randint(0, batch, (num_rois,), generator=generator).float()
    return torch.stack([index, x1, y1, x2, y2], dim=1)


@pytest.fixture
def generator() -> torch.Generator:
    """A seeded CPU generator, so every test is reproducible."""
    return torch.Generator().manual_seed(0)
