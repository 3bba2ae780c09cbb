#!/usr/bin/env python3
"""Rotated RoI head (oriented detection, e.g. aerial images) -> ONNX with a roipool
RoIAlignRotated node.

Backbone convs to stride 8, RoIAlignRotated on (batch, cx, cy, w, h, theta) proposals
(theta in radians, mmcv convention), then FC layers predicting class scores and rotated
box deltas (5 per class). Random weights; the proposals are an input.
"""

from __future__ import annotations

import sys

import torch
from _recipe import export_and_check, parser
from roipool import ops
from torch import Tensor, nn


class RotatedRoIHead(nn.Module):
    """(images [B,3,H,W], rois [K,6]) -> (scores [K,classes], deltas [K,5*classes])."""

    def __init__(self, classes: int, clockwise: bool) -> None:
        super().__init__()
        self.clockwise = clockwise
        self.backbone = nn.Sequential(
            nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, 2, 1), nn.ReLU())
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU())
        self.scores = nn.Linear(128, classes)
        self.deltas = nn.Linear(128, 5 * classes)

    def forward(self, images: Tensor, rois: Tensor) -> tuple[Tensor, Tensor]:
        pooled = ops.roi_align_rotated(self.backbone(images), rois, 7, 1 / 8, 2, aligned=True,
                                       clockwise=self.clockwise)
        hidden = self.fc(pooled)
        return self.scores(hidden), self.deltas(hidden)


def main() -> int:
    p = parser(__doc__.splitlines()[0], "rotated_roi_head.onnx")
    p.add_argument("--classes", type=int, default=16)
    p.add_argument("--clockwise", action="store_true")
    args = p.parse_args()
    torch.manual_seed(0)
    images = torch.rand(2, 3, 128, 128)
    rois = torch.tensor([[0, 64.0, 60.0, 50.0, 20.0, 0.5], [1, 30.0, 90.0, 40.0, 30.0, -1.0]])
    return export_and_check(args, RotatedRoIHead(args.classes, args.clockwise), (images, rois),
                            ["images", "rois"], ["scores", "deltas"],
                            {"images": {0: "B", 2: "H", 3: "W"}, "rois": {0: "K"}})


if __name__ == "__main__":
    sys.exit(main())
