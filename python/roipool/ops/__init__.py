"""roipool operators: torchvision-style functions and modules over ``torch.ops.roipool``.

Importing this package registers the ``torch.ops.roipool.*`` custom ops (native kernels
when built, the pure-PyTorch :mod:`roipool.ops.reference` otherwise).
"""

from __future__ import annotations

from roipool.ops import _library, _onnx_symbolic, reference
from roipool.ops.functional import (
    deform_roi_pool,
    multi_scale_roi_align,
    prroi_pool,
    ps_roi_align,
    ps_roi_pool,
    roi_align,
    roi_align_rotated,
    roi_pool,
    roi_warp,
)
from roipool.ops.modules import (
    DeformRoIPool,
    MultiScaleRoIAlign,
    PrRoIPool,
    PSRoIAlign,
    PSRoIPool,
    RoIAlign,
    RoIAlignRotated,
    RoIPool,
    RoIWarp,
)

_onnx_symbolic.register()

__all__ = [
    "DeformRoIPool",
    "MultiScaleRoIAlign",
    "PSRoIAlign",
    "PSRoIPool",
    "PrRoIPool",
    "RoIAlign",
    "RoIAlignRotated",
    "RoIPool",
    "RoIWarp",
    "_library",
    "deform_roi_pool",
    "multi_scale_roi_align",
    "prroi_pool",
    "ps_roi_align",
    "ps_roi_pool",
    "reference",
    "roi_align",
    "roi_align_rotated",
    "roi_pool",
    "roi_warp",
]
