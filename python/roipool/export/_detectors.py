"""Whole torchvision two-stage detectors (images -> detections) to ONNX in one call.

:func:`export_detector` wraps a torchvision ``GeneralizedRCNN`` (Faster / Mask /
Keypoint R-CNN) as :class:`DetectorGraph` (one image ``[3, H, W]`` in, detection tensors
out) and exports it with either exporter under :func:`~roipool.export.capture_torchvision`
(the RoI poolers become roipool nodes) and :func:`~roipool.export._rewrites.detector_rewrites`
(what ``torch.export`` cannot trace in torchvision). Image height/width and the number of
detections stay dynamic.
"""

from __future__ import annotations

import io
import os
from collections import OrderedDict
from typing import Any

import onnx
import torch
from torch import Tensor, nn

from roipool.export import _rewrites
from roipool.export._contract import DOMAIN, OPSET_VERSION
from roipool.export._dynamo import translation_table
from roipool.export._torchscript import register_torchscript_symbolics
from roipool.export._torchvision import capture_torchvision

__all__ = ["DetectorExportError", "DetectorGraph", "detector_output_names", "export_detector"]

DEFAULT_OPSET = 18


class DetectorExportError(RuntimeError):
    """The model cannot be exported as a whole detector; the message names what blocks it."""


class DetectorGraph(nn.Module):
    """``forward(image [3, H, W])`` -> ``(boxes [N, 4], scores [N], labels [N]
    [, masks [N, 1, M, M]] [, keypoints [N, P, 3], keypoints_scores [N, P]])``.

    The same steps as torchvision's ``GeneralizedRCNN.forward`` in eval mode (transform,
    backbone, RPN, RoI heads, boxes and keypoints mapped back to the input image), except
    that masks stay at RoI resolution (the mask head's ``M x M`` probabilities of the
    predicted class, not pasted into the image: paste them with ``boxes`` if needed).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        _check_supported(model)
        self.model = model

    def forward(self, image: Tensor) -> tuple[Tensor, ...]:
        from torchvision.models.detection import transform as tv_transform

        model = self.model
        original_size = [image.shape[-2], image.shape[-1]]
        images, _ = model.transform([image])
        features = model.backbone(images.tensors)
        if isinstance(features, Tensor):
            features = OrderedDict([("0", features)])
        proposals, _ = model.rpn(images, features)
        detections, _ = model.roi_heads(features, proposals, images.image_sizes)
        result = detections[0]
        size = images.image_sizes[0]
        outputs = [tv_transform.resize_boxes(result["boxes"], size, original_size),
                   result["scores"], result["labels"]]
        if "masks" in result:
            outputs.append(result["masks"])
        if "keypoints" in result:
            outputs.append(tv_transform.resize_keypoints(result["keypoints"], size,
                                                         original_size))
            outputs.append(result["keypoints_scores"])
        return tuple(outputs)


def detector_output_names(model: nn.Module) -> list[str]:
    """Names of :class:`DetectorGraph`'s outputs for `model`."""
    heads = model.roi_heads
    names = ["boxes", "scores", "labels"]
    if heads.has_mask():
        names.append("masks")
    if heads.has_keypoint():
        names += ["keypoints", "keypoints_scores"]
    return names


def _check_supported(model: nn.Module) -> None:
    try:
        from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN
        from torchvision.models.detection.roi_heads import RoIHeads
        from torchvision.models.detection.rpn import RegionProposalNetwork
        from torchvision.models.detection.transform import GeneralizedRCNNTransform
    except ModuleNotFoundError as error:
        raise DetectorExportError("export_detector needs torchvision installed") from error
    if not isinstance(model, GeneralizedRCNN):
        raise DetectorExportError(
            f"export_detector takes a torchvision two-stage detector (GeneralizedRCNN: "
            f"Faster / Mask / Keypoint R-CNN), got {type(model).__name__}")
    parts = (("transform", GeneralizedRCNNTransform), ("rpn", RegionProposalNetwork),
             ("roi_heads", RoIHeads))
    for name, expected in parts:
        part = getattr(model, name)
        if type(part) is not expected:
            raise DetectorExportError(
                f"model.{name} is a {type(part).__name__}, not torchvision's "
                f"{expected.__name__}: export_detector rewrites only torchvision's own "
                f"steps, so a replaced {name} blocks the export")
    if model.transform.fixed_size is not None:
        raise DetectorExportError("model.transform.fixed_size is set: export_detector "
                                  "covers torchvision's min_size / max_size resize only")
    if model.training:
        raise DetectorExportError("the model is in training mode: call model.eval() first")


def _check_keypoint_loop_exportable() -> None:
    """Keypoint R-CNN through dynamo needs the exporter to write ``while_loop`` as ONNX
    ``Loop`` (the keypoint rewrite); otherwise a clear error naming the cause."""
    blocker = _rewrites.while_loop_export_blocker()
    if blocker is not None:
        raise DetectorExportError(
            f"keypoint decoding blocks the dynamo export: torchvision's "
            f"roi_heads.heatmaps_to_keypoints resizes each detection's heatmaps to its own "
            f"box size (data-dependent shapes), which roipool exports as a while_loop, but "
            f"{blocker}; export Keypoint R-CNN with dynamo=False")


def export_detector(model: nn.Module, path: str | os.PathLike[str] | None = None, *,
                    dynamo: bool = True, example_size: tuple[int, int] = (480, 640),
                    opset: int = DEFAULT_OPSET) -> onnx.ModelProto:
    """Export a torchvision Faster / Mask / Keypoint R-CNN (eval mode) whole: input
    ``image`` ``[3, height, width]`` float in [0, 1], outputs as :class:`DetectorGraph`
    (named by :func:`detector_output_names`), height, width and the number of detections
    ``N`` dynamic. Returns the model and writes it to `path` when given.

    `example_size` is the (height, width) of the example image traced; the pyramid
    scales of the RoI poolers are taken from it (torchvision's rule), which holds for
    every image the transform resizes to about the same size. Raises
    :class:`DetectorExportError` naming what blocks a model it cannot export.
    """
    graph = DetectorGraph(model).eval()
    if dynamo and model.roi_heads.has_keypoint():
        _check_keypoint_loop_exportable()
    generator = torch.Generator().manual_seed(0)
    device = next(model.parameters()).device
    image = torch.rand((3, *example_size), generator=generator).to(device)
    output_names = detector_output_names(model)
    with capture_torchvision(), _rewrites.detector_rewrites(dynamo=dynamo):
        proto = (_export_dynamo(graph, image, output_names, opset) if dynamo
                 else _export_torchscript(graph, image, output_names, opset))
    from roipool.export import _finalize

    proto = _finalize(proto)
    if path is not None:
        onnx.save(proto, os.fspath(path))
    return proto


def _export_dynamo(graph: DetectorGraph, image: Tensor, output_names: list[str],
                   opset: int) -> onnx.ModelProto:
    height, width = torch.export.Dim("height", min=32), torch.export.Dim("width", min=32)
    table: dict[Any, Any] = translation_table(opset=opset)
    table.update(_rewrites.nms_translation_table())
    program = torch.onnx.export(graph, (image,), dynamo=True, opset_version=opset,
                                custom_translation_table=table, input_names=["image"],
                                output_names=output_names,
                                dynamic_shapes=({1: height, 2: width},), verbose=False)
    return program.model_proto


def _export_torchscript(graph: DetectorGraph, image: Tensor, output_names: list[str],
                        opset: int) -> onnx.ModelProto:
    register_torchscript_symbolics(opset=opset)
    _rewrites.register_nms_symbolic()
    axes: dict[str, dict[int, str]] = {"image": {1: "height", 2: "width"}}
    axes.update({name: {0: "N"} for name in output_names})
    buffer = io.BytesIO()
    torch.onnx.export(graph, (image,), buffer, dynamo=False, opset_version=opset,
                      custom_opsets={DOMAIN: OPSET_VERSION}, input_names=["image"],
                      output_names=output_names, dynamic_axes=axes)
    return onnx.load_from_string(buffer.getvalue())
