#!/usr/bin/env python3
"""A whole torchvision two-stage detector (image -> detections) -> ONNX, in one call:
``roipool.export.export_detector(model, path, dynamo=...)``.

Input ``image`` [3, height, width] float in [0, 1]; outputs ``boxes`` [N, 4], ``scores``
[N], ``labels`` [N] (+ ``masks`` [N, 1, 28, 28] at RoI resolution, + ``keypoints``
[N, 17, 3] and ``keypoints_scores`` [N, 17]); height, width and N dynamic. RoI poolers
become roipool ``MultiScaleRoIAlign`` nodes, NMS becomes ONNX ``NonMaxSuppression``.
Random weights (nothing is downloaded) unless --weights is given; --check runs the model
in ONNX Runtime with roipool on images of other sizes and compares with eager torchvision.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

MODELS = ("fasterrcnn_resnet50_fpn", "fasterrcnn_resnet50_fpn_v2", "maskrcnn_resnet50_fpn",
          "maskrcnn_resnet50_fpn_v2", "keypointrcnn_resnet50_fpn",
          "fasterrcnn_mobilenet_v3_large_fpn", "fasterrcnn_mobilenet_v3_large_320_fpn")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=MODELS, default=MODELS[0])
    p.add_argument("-o", "--output", type=Path)
    p.add_argument("--torchscript", action="store_true",
                   help="TorchScript exporter (default: dynamo)")
    p.add_argument("--weights", help="a local state_dict file for the detector")
    p.add_argument("--check", action="store_true",
                   help="run in ONNX Runtime with roipool and compare with eager torchvision")
    args = p.parse_args()
    try:
        import torchvision  # noqa: F401
    except ImportError:
        print("this recipe needs torchvision (pip install torchvision)", file=sys.stderr)
        return 1
    from roipool.export import export_detector
    from roipool.export.detector_parity import random_detector, run_parity, smooth_images

    model = random_detector(args.model)
    if args.weights:
        model.load_state_dict(torch.load(args.weights, map_location="cpu"))
    output = args.output or Path(f"{args.model}.onnx")
    proto = export_detector(model, output, dynamo=not args.torchscript)
    print(f"wrote {output}: outputs {[o.name for o in proto.graph.output]}")
    if not args.check:
        return 0
    failed = 0
    for result in run_parity(model, proto, smooth_images([(300, 260), (200, 400)])):
        failed += not result.passed
        print(f"{result.size}: {result.eager_count} eager / {result.ort_count} ORT "
              f"detections, max errors {result.errors}, {'ok' if result.passed else 'FAIL'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
