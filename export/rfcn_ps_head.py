#!/usr/bin/env python3
"""R-FCN-style position-sensitive head -> ONNX with roipool PSRoIPool / PSRoIAlign nodes.

A few backbone convs give a stride-16 map; 1x1 convs turn it into position-sensitive
score maps (classes x k x k channels) and box maps (4 x k x k); each RoI is pooled
position-sensitively and the k x k bins vote by averaging (R-FCN, Dai et al. 2016).
Random weights; the proposals are an input.
"""

from __future__ import annotations

import sys

import torch
from _recipe import export_and_check, parser
from roipool import ops
from torch import Tensor, nn


class RFCNHead(nn.Module):
    """(images [B,3,H,W], rois [K,5]) -> (class scores [K,classes], boxes [K,4])."""

    def __init__(self, classes: int, k: int, align: bool) -> None:
        super().__init__()
        self.k, self.align = k, align
        self.backbone = nn.Sequential(*(layer for i in range(4) for layer in (
            nn.Conv2d(3 if i == 0 else 32, 32, 3, 2, 1), nn.ReLU())))
        self.scores = nn.Conv2d(32, classes * k * k, 1)
        self.boxes = nn.Conv2d(32, 4 * k * k, 1)

    def forward(self, images: Tensor, rois: Tensor) -> tuple[Tensor, Tensor]:
        feature = self.backbone(images)
        return self._vote(self.scores(feature), rois), self._vote(self.boxes(feature), rois)

    def _vote(self, maps: Tensor, rois: Tensor) -> Tensor:
        if self.align:
            pooled = ops.ps_roi_align(maps, rois, self.k, 1 / 16, 2)
        else:
            pooled = ops.ps_roi_pool(maps, rois, self.k, 1 / 16)
        return pooled.mean(dim=(2, 3))


def main() -> int:
    p = parser(__doc__.splitlines()[0], "rfcn_ps_head.onnx")
    p.add_argument("--align", action="store_true", help="PSRoIAlign instead of PSRoIPool")
    p.add_argument("--classes", type=int, default=21)
    p.add_argument("-k", type=int, default=3, help="bins per side")
    args = p.parse_args()
    torch.manual_seed(0)
    images = torch.rand(1, 3, 128, 160)
    rois = torch.tensor([[0, 10.0, 12.0, 90.0, 100.0], [0, 40.0, 8.0, 150.0, 60.0]])
    return export_and_check(args, RFCNHead(args.classes, args.k, args.align), (images, rois),
                            ["images", "rois"], ["scores", "boxes"],
                            {"images": {0: "B", 2: "H", 3: "W"}, "rois": {0: "K"}})


if __name__ == "__main__":
    sys.exit(main())
