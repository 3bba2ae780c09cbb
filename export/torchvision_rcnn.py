#!/usr/bin/env python3
"""torchvision Faster R-CNN / Mask R-CNN second stage -> ONNX with roipool nodes,
through capture_torchvision() (no change to torchvision's code).

Exports backbone + FPN + the RoI heads for given proposals: the box branch
(MultiScaleRoIAlign 7x7 -> TwoMLPHead -> FastRCNNPredictor) and, for Mask R-CNN, the
mask branch (MultiScaleRoIAlign 14x14 -> mask head -> predictor). Proposals are an input
([K, 5] rows (batch, x1, y1, x2, y2) at the network's input size), so RPN and NMS stay
outside the graph. Images are taken already resized and normalised; their size is fixed
at export (torchvision infers the pyramid scales from it), the batch and K are dynamic.
Needs torchvision; random weights unless --weights is given (nothing is downloaded).
"""

from __future__ import annotations

import sys

import torch
from _recipe import export_and_check, parser
from roipool.export import capture_torchvision
from torch import Tensor, nn


class RoIStage(nn.Module):
    """(images [B,3,H,W], rois [K,5]) -> box scores, box regression (+ mask logits)."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.backbone = detector.backbone
        self.heads = detector.roi_heads

    def forward(self, images: Tensor, rois: Tensor) -> tuple[Tensor, ...]:
        features = self.backbone(images)
        image_shapes = [tuple(images.shape[-2:])] * images.shape[0]
        # Under capture_torchvision the poolers take the [K, 5] rois tensor directly.
        pooled = self.heads.box_roi_pool(features, rois, image_shapes)
        scores, deltas = self.heads.box_predictor(self.heads.box_head(pooled))
        if not self.heads.has_mask():
            return scores, deltas
        masks = self.heads.mask_roi_pool(features, rois, image_shapes)
        return scores, deltas, self.heads.mask_predictor(self.heads.mask_head(masks))


def main() -> int:
    p = parser(__doc__.splitlines()[0], "torchvision_rcnn.onnx")
    p.add_argument("--model", choices=("faster", "mask"), default="faster")
    p.add_argument("--weights", help="a local state_dict file for the detector")
    p.add_argument("--size", type=int, nargs=2, default=(320, 320), metavar=("H", "W"))
    args = p.parse_args()
    try:
        from torchvision.models import detection
    except ImportError:
        print("this recipe needs torchvision (pip install torchvision)", file=sys.stderr)
        return 1
    build = (detection.maskrcnn_resnet50_fpn if args.model == "mask"
             else detection.fasterrcnn_resnet50_fpn)
    torch.manual_seed(0)
    detector = build(weights=None, weights_backbone=None)
    if args.weights:
        detector.load_state_dict(torch.load(args.weights, map_location="cpu"))
    height, width = args.size
    images = torch.rand(1, 3, height, width)
    rois = torch.tensor([[0, 10.0, 20.0, 120.0, 200.0], [0, 50.0, 40.0, 300.0, 310.0],
                         [0, 100.0, 100.0, 140.0, 130.0]])
    outputs = ["scores", "deltas", "masks"] if args.model == "mask" else ["scores", "deltas"]
    axes = {"images": {0: "B"}, "rois": {0: "K"}}
    with capture_torchvision():
        return export_and_check(args, RoIStage(detector), (images, rois), ["images", "rois"],
                                outputs, axes)


if __name__ == "__main__":
    sys.exit(main())
