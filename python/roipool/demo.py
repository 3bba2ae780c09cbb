"""Quantisation demo: the Mask R-CNN paper's RoIPool / RoIWarp / RoIAlign example.

A 512x512 image, a stride-32 feature map (16x16) and the RoI at x=296, y=192, 200 wide,
145 tall, pooled to 3x3. On the feature map the box starts at (9.25, 6) and is
6.25 x 4.53 cells; RoIPool rounds it (and its bins) to whole cells, RoIWarp rounds the
box only, RoIAlign keeps it exact. Pooling a coordinate ramp (channel 0 = x, channel
1 = y) turns each output into the position it sampled, so the difference to RoIAlign
is the quantisation error in feature-map cells (x32 for image pixels).
"""

from __future__ import annotations

import torch

from roipool import ops
from roipool.ops import reference

__all__ = ["PAPER_BOX", "quantisation_demo", "quantisation_errors"]

IMAGE_SIZE, STRIDE = 512, 32
# (batch, x1, y1, x2, y2) in image pixels: x=296, y=192, 200 wide, 145 tall.
PAPER_BOX = (0.0, 296.0, 192.0, 496.0, 337.0)


def _coordinate_ramp() -> torch.Tensor:
    size = IMAGE_SIZE // STRIDE
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    return torch.stack([xs, ys]).to(torch.float64).unsqueeze(0)


def quantisation_errors() -> dict[str, float]:
    """Max |sampled position - RoIAlign's| over the 3x3 bins, in feature-map cells, for
    RoIPool and RoIWarp (average of the bins' positions for RoIPool: its max picks the
    largest coordinate, i.e. the bin's far edge, which is what it pools)."""
    ramp, rois = _coordinate_ramp(), torch.tensor([PAPER_BOX], dtype=torch.float64)
    scale = 1.0 / STRIDE
    align = reference.roi_align_reference(ramp, rois, 3, 3, scale, 2, False, "avg")
    warp = reference.roi_warp_reference(ramp, rois, 3, 3, scale, 2, False, "avg")
    pool = reference.roi_pool_reference(ramp, rois, 3, 3, scale)
    align_max = reference.roi_align_reference(ramp, rois, 3, 3, scale, 2, False, "max")
    return {
        "RoIWarp": float((warp - align).abs().max()),
        "RoIPool": float((pool - align_max).abs().max()),
    }


def quantisation_demo() -> None:
    """Print every variant's output shape and the RoIPool/RoIWarp quantisation error."""
    x1, y1, x2, y2 = (c / STRIDE for c in PAPER_BOX[1:])
    print(f"RoI on the {IMAGE_SIZE // STRIDE}x{IMAGE_SIZE // STRIDE} map (stride {STRIDE}): "
          f"start ({x1:.2f}, {y1:.2f}), size {x2 - x1:.2f} x {y2 - y1:.2f} cells -> 3x3 bins")
    for name, error in quantisation_errors().items():
        print(f"  {name:8s} vs RoIAlign: max position error {error:.3f} cells "
              f"= {error * STRIDE:.1f} image pixels")

    generator = torch.Generator().manual_seed(0)
    size = IMAGE_SIZE // STRIDE
    feature = torch.randn(1, 18, size, size, generator=generator)
    boxes = torch.tensor([PAPER_BOX])
    rotated = torch.tensor([[0.0, 396.0, 264.5, 200.0, 145.0, 0.3]])
    offset = torch.zeros(1, 2, 3, 3)
    scale = 1.0 / STRIDE
    outputs = {
        "RoIPool": ops.roi_pool(feature, boxes, 3, scale),
        "RoIAlign": ops.roi_align(feature, boxes, 3, scale, 2),
        "RoIAlign (max)": ops.roi_align(feature, boxes, 3, scale, 2, mode="max"),
        "RoIWarp": ops.roi_warp(feature, boxes, 3, scale, 2),
        "PSRoIPool": ops.ps_roi_pool(feature, boxes, 3, scale),
        "PSRoIAlign": ops.ps_roi_align(feature, boxes, 3, scale, 2),
        "DeformRoIPool": ops.deform_roi_pool(feature, boxes, offset, 3, scale, 2),
        "MultiScaleRoIAlign": ops.multi_scale_roi_align(
            [feature, feature[:, :, ::2, ::2]], boxes, 3, [scale, scale / 2], 2),
        "RoIAlignRotated": ops.roi_align_rotated(feature, rotated, 3, scale, 2),
        "PrRoIPool": ops.prroi_pool(feature, boxes, 3, scale),
    }
    print(f"Every variant on a {tuple(feature.shape)} feature map, one RoI:")
    for name, out in outputs.items():
        print(f"  {name:20s} -> {tuple(out.shape)}")
