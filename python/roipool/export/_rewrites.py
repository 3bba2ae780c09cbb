"""Export-time rewrites of torchvision's detection code (active only inside
:func:`detector_rewrites`, like mmdeploy's function rewriter; torchvision is not edited).

``torch.export`` cannot trace what torchvision decides in Python on sizes and data:
``min``/``max`` of image sizes in the transform, ``boxes.numel() == 0`` in batched NMS,
``min(k, n)`` before ``topk``, ``box_sum > 0`` in box decoding, ``numel() == 0`` in
eval-mode BatchNorm (the v2 heads). Each rewrite
computes the same values with symbolic-size arithmetic or tensor ops, and batched NMS
becomes one ``roipool::batched_nms`` op written as ONNX ``NonMaxSuppression`` with one
class per category (torchvision's per-category NMS, exactly).
"""

from __future__ import annotations

import contextlib
import functools
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

#: ``max_output_boxes_per_class`` written into ``NonMaxSuppression`` (no limit).
_NO_LIMIT = 2**31 - 1

_LIB = torch.library.Library("roipool", "FRAGMENT")
_LIB.define("batched_nms(Tensor boxes, Tensor scores, Tensor idxs, float iou_threshold) -> Tensor")


def _batched_nms_eager(boxes: Tensor, scores: Tensor, idxs: Tensor,
                       iou_threshold: float) -> Tensor:
    from torchvision.ops import boxes as box_ops

    return box_ops._batched_nms_vanilla(boxes, scores, idxs, iou_threshold)


def _batched_nms_fake(boxes: Tensor, scores: Tensor, idxs: Tensor,
                      iou_threshold: float) -> Tensor:
    kept = torch.library.get_ctx().new_dynamic_size()
    return boxes.new_empty((kept,), dtype=torch.int64)


_LIB.impl("batched_nms", _batched_nms_eager, "CompositeExplicitAutograd")
torch.library.register_fake("roipool::batched_nms", _batched_nms_fake, lib=_LIB)


class _Graph:
    """The few ONNX ops the NMS subgraph needs, over either exporter's graph builder."""

    def __init__(self, op: Callable[..., Any], const: Callable[[Tensor], Any]) -> None:
        self.op = op
        self.const = const


def _nms_subgraph(g: _Graph, boxes: Any, scores: Any, idxs: Any, iou_threshold: float) -> Any:
    """Indices kept by per-category NMS, sorted by decreasing score (torchvision's
    ``_batched_nms_vanilla``): one NonMaxSuppression class per category, scores of the
    other categories set below ``score_threshold``."""
    axis0 = g.const(torch.tensor([0]))
    num_classes = g.op("Add", g.op("ReduceMax", g.op("Concat", idxs, g.const(torch.tensor([-1])),
                                                     axis=0), keepdims=1),
                       g.const(torch.tensor([1])))
    classes = g.op("Range", g.const(torch.tensor(0)), g.op("Squeeze", num_classes, axis0),
                   g.const(torch.tensor(1)))
    member = g.op("Equal", g.op("Unsqueeze", classes, g.const(torch.tensor([1]))),
                  g.op("Unsqueeze", idxs, axis0))
    lowest = g.const(torch.tensor(-math.inf))
    class_scores = g.op("Where", member, g.op("Unsqueeze", scores, axis0), lowest)
    selected = g.op("NonMaxSuppression", g.op("Unsqueeze", boxes, axis0),
                    g.op("Unsqueeze", class_scores, axis0),
                    g.const(torch.tensor([_NO_LIMIT])), g.const(torch.tensor([iou_threshold])),
                    g.const(torch.tensor([-3.0e38])))
    kept = g.op("Gather", selected, g.const(torch.tensor(2)), axis=1)
    kept_scores = g.op("Gather", scores, kept, axis=0)
    count = g.op("Shape", kept)
    _, order = g.op("TopK", kept_scores, count, axis=0, largest=1, sorted=1, outputs=2)
    return g.op("Gather", kept, order, axis=0)


def _dynamo_nms(boxes: Any, scores: Any, idxs: Any, iou_threshold: float) -> Any:
    import onnxscript

    opset = onnxscript.opset18

    def op(name: str, *inputs: Any, outputs: int = 1, **attrs: Any) -> Any:
        return getattr(opset, name)(*inputs, **attrs)

    def const(value: Tensor) -> Any:
        return opset.Constant(value=onnxscript.ir.tensor(value.numpy()))

    return _nms_subgraph(_Graph(op, const), boxes, scores, idxs, iou_threshold)


def _torchscript_nms(g: Any, boxes: Any, scores: Any, idxs: Any, iou_threshold: Any) -> Any:
    from torch.onnx import symbolic_helper

    def op(name: str, *inputs: Any, outputs: int = 1, **attrs: Any) -> Any:
        suffixed = {f"{k}_i": v for k, v in attrs.items()}
        return g.op(name, *inputs, outputs=outputs, **suffixed)

    def const(value: Tensor) -> Any:
        return g.op("Constant", value_t=value)

    threshold = symbolic_helper._get_const(iou_threshold, "f", "iou_threshold")
    return _nms_subgraph(_Graph(op, const), boxes, scores, idxs, threshold)


def nms_translation_table() -> dict[Any, Callable[..., Any]]:
    """``custom_translation_table`` entry writing ``roipool::batched_nms`` as ONNX."""
    return {torch.ops.roipool.batched_nms.default: _dynamo_nms}


@functools.cache
def register_nms_symbolic() -> None:
    """TorchScript symbolic of ``roipool::batched_nms`` (the same ONNX subgraph)."""
    torch.onnx.register_custom_op_symbolic("roipool::batched_nms", _torchscript_nms, 11)


# ----------------------------------------------------------------------------- rewrites

def _batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    return torch.ops.roipool.batched_nms(boxes, scores, idxs, float(iou_threshold))


def _topk_min(input: Tensor, orig_kval: int, axis: int) -> int:
    return torch.sym_min(orig_kval, input.size(axis))


def _decode(self: Any, rel_codes: Tensor, boxes: list[Tensor]) -> Tensor:
    """``BoxCoder.decode`` without its ``box_sum > 0`` branch: both callers pass codes
    already ``[sum of boxes, 4 * classes]``, so the reshapes need no -1."""
    box_sum = sum(b.shape[0] for b in boxes)
    codes = rel_codes.reshape(box_sum, rel_codes.shape[-1])
    pred_boxes = self.decode_single(codes, torch.cat(boxes, dim=0))
    return pred_boxes.reshape(box_sum, pred_boxes.shape[-1] // 4, 4)


def _batch_norm(self: Any, input: Tensor) -> Tensor:
    """Eval-mode BatchNorm as its affine map: ``aten.batch_norm`` guards on
    ``input.numel() == 0``, which the v2 heads' inputs (K RoIs, data-dependent) cannot
    answer. Training mode or no running statistics: the module's own forward."""
    if self.training or self.running_mean is None:
        return _BATCH_NORM_FORWARD(self, input)
    scale = self.running_var.add(self.eps).rsqrt()
    if self.weight is not None:
        scale = scale * self.weight
    shift = -self.running_mean * scale
    if self.bias is not None:
        shift = shift + self.bias
    shape = (1, -1) + (1,) * (input.dim() - 2)
    return input * scale.reshape(shape) + shift.reshape(shape)


_BATCH_NORM_FORWARD = torch.nn.modules.batchnorm._BatchNorm.forward


def _resize_image_and_masks(image: Tensor, self_min_size: int, self_max_size: int,
                            target: dict[str, Tensor] | None = None,
                            fixed_size: tuple[int, int] | None = None,
                            ) -> tuple[Tensor, dict[str, Tensor] | None]:
    """torchvision's eager resize (scale = min(min_size / short side, max_size / long
    side), output size floor(side * scale) in double) on symbolic sizes, no guards."""
    if target is not None or fixed_size is not None:
        raise NotImplementedError("export covers inference without fixed_size")
    height, width = image.shape[-2:]
    scale = torch.sym_min(self_min_size / torch.sym_min(height, width),
                          self_max_size / torch.sym_max(height, width))
    size = [math.floor(torch.sym_float(height) * scale),
            math.floor(torch.sym_float(width) * scale)]
    resized = F.interpolate(image[None], size=size, mode="bilinear", align_corners=False)
    return resized[0], None


def _batch_images(self: Any, images: list[Tensor], size_divisible: int = 32) -> Tensor:
    """Zero-pad every image to the batch's largest size rounded up to `size_divisible`."""
    height = functools.reduce(torch.sym_max, [img.shape[-2] for img in images])
    width = functools.reduce(torch.sym_max, [img.shape[-1] for img in images])
    height = (height + size_divisible - 1) // size_divisible * size_divisible
    width = (width + size_divisible - 1) // size_divisible * size_divisible
    return torch.stack([F.pad(img, (0, width - img.shape[-1], 0, height - img.shape[-2]))
                        for img in images])


def _ratios(new_size: Sequence[int], original_size: Sequence[int]) -> tuple[Any, Any]:
    return tuple(torch.sym_float(s) / torch.sym_float(o)
                 for s, o in zip(new_size, original_size, strict=True))


def _resize_boxes(boxes: Tensor, original_size: list[int], new_size: list[int]) -> Tensor:
    ratio_height, ratio_width = _ratios(new_size, original_size)
    xmin, ymin, xmax, ymax = boxes.unbind(1)
    return torch.stack((xmin * ratio_width, ymin * ratio_height, xmax * ratio_width,
                        ymax * ratio_height), dim=1)


def _resize_keypoints(keypoints: Tensor, original_size: list[int],
                      new_size: list[int]) -> Tensor:
    ratio_height, ratio_width = _ratios(new_size, original_size)
    return torch.stack((keypoints[..., 0] * ratio_width, keypoints[..., 1] * ratio_height,
                        keypoints[..., 2]), dim=-1)


def _keypoint_params(rois: Tensor) -> Tensor:
    """``[K, 6]``: offset x, offset y, width, height (clamped to >= 1) and their ceilings,
    as torchvision's ``heatmaps_to_keypoints`` derives them from the boxes. One fresh
    tensor: the loop body may not capture several views of ``rois`` (aliased inputs)."""
    widths = (rois[:, 2] - rois[:, 0]).clamp(min=1)
    heights = (rois[:, 3] - rois[:, 1]).clamp(min=1)
    return torch.stack([rois[:, 0], rois[:, 1], widths, heights, widths.ceil(),
                        heights.ceil()], dim=1)


def _keypoints_of(maps: Tensor, params: Tensor, index: Tensor) -> tuple[Tensor, Tensor]:
    """Keypoints ``[1, P, 3]`` and scores ``[1, P]`` of detection `index` (``[1]``):
    torchvision's eager math, its heatmaps bicubic-resized to the ceiled box size (read
    as data-dependent ints), argmax, the pixel centre scaled back into the box."""
    offset_x, offset_y, width, height, width_ceil, height_ceil = (
        params.index_select(0, index).unbind(1))
    size = (int(height_ceil.item()), int(width_ceil.item()))
    torch._check(size[0] >= 1)
    torch._check(size[1] >= 1)
    num_keypoints = maps.shape[1]
    roi_map = F.interpolate(maps.index_select(0, index)[0][:, None], size=size,
                            mode="bicubic", align_corners=False)[:, 0].reshape(num_keypoints, -1)
    pos = roi_map.argmax(dim=1)
    # Tensor, not SymInt, divisor: the ONNX exporter cannot write `remainder` by a SymInt.
    map_width = width_ceil.to(torch.int64)
    x_int = torch.remainder(pos, map_width)
    y_int = torch.div(pos - x_int, map_width, rounding_mode="floor")
    x = (x_int.float() + 0.5) * (width / width_ceil) + offset_x
    y = (y_int.float() + 0.5) * (height / height_ceil) + offset_y
    keypoints = torch.stack([x, y, torch.ones_like(x)], dim=1)
    return keypoints[None], roi_map.gather(1, pos[:, None])[:, 0][None]


def _heatmaps_to_keypoints(maps: Tensor, rois: Tensor) -> tuple[Tensor, Tensor]:
    """torchvision's ``heatmaps_to_keypoints`` (``[K, P, 3]`` keypoints, ``[K, P]`` scores)
    as a ``while_loop`` over the K detections, which the ONNX exporter writes as one ONNX
    ``Loop``: each detection's heatmaps resize to its own box size inside the loop body,
    so K and the sizes stay dynamic and the math stays torchvision's."""
    from torch._higher_order_ops.while_loop import while_loop

    params = _keypoint_params(rois)
    count, num_keypoints = maps.shape[0], maps.shape[1]

    def more(i: Tensor, keypoints: Tensor, scores: Tensor) -> Tensor:
        return i < count

    def step(i: Tensor, keypoints: Tensor, scores: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        index = i.reshape(1)
        keypoints_i, scores_i = _keypoints_of(maps, params, index)
        return (i + 1, keypoints.index_copy(0, index, keypoints_i),
                scores.index_copy(0, index, scores_i))

    start = torch.zeros((), dtype=torch.int64, device=maps.device)
    keypoints = torch.zeros((count, num_keypoints, 3), dtype=torch.float32, device=maps.device)
    scores = torch.zeros((count, num_keypoints), dtype=torch.float32, device=maps.device)
    _, keypoints, scores = while_loop(more, step, (start, keypoints, scores))
    return keypoints, scores


def while_loop_export_blocker() -> str | None:
    """Why the dynamo ONNX exporter of the torch in use cannot write the keypoint loop
    (``torch.ops.higher_order.while_loop`` -> ONNX ``Loop``), or None when it can."""
    try:
        from torch._higher_order_ops.while_loop import while_loop  # noqa: F401
        from torch.onnx._internal.exporter._torchlib import _torchlib_registry
    except ImportError as error:
        return f"this torch has no while_loop higher-order op to export ({error})"
    target = torch.ops.higher_order.while_loop
    if not any(meta.fx_target is target for meta in _torchlib_registry.get_torchlib_ops()):
        return ("this torch's ONNX exporter has no translation of "
                "torch.ops.higher_order.while_loop to ONNX Loop")
    return None


#: (module, attribute, replacement) applied by :func:`detector_rewrites`; the dynamo-only
#: ones follow the NMS rewrite, which both exporters take.
_NMS_REWRITES = (("torchvision.ops.boxes", "batched_nms", _batched_nms),)
_DYNAMO_REWRITES = (
    ("torchvision.models.detection._utils", "_topk_min", _topk_min),
    ("torchvision.models.detection.transform", "_resize_image_and_masks",
     _resize_image_and_masks),
    ("torchvision.models.detection.transform", "resize_boxes", _resize_boxes),
    ("torchvision.models.detection.transform", "resize_keypoints", _resize_keypoints),
    ("torchvision.models.detection.roi_heads", "heatmaps_to_keypoints", _heatmaps_to_keypoints),
)


@contextlib.contextmanager
def detector_rewrites(*, dynamo: bool) -> Iterator[None]:
    """Within the block torchvision's detectors trace to export-friendly graphs: batched
    NMS as ``roipool::batched_nms``; for ``dynamo`` also the transform, ``topk`` bound
    and box decoding rewrites. Everything is restored on exit."""
    import torchvision.models.detection  # noqa: F401  (imports every patched module)
    from torchvision.models.detection import _utils as det_utils
    from torchvision.models.detection import transform

    rewrites: list[tuple[Any, str, Any]] = [
        (sys.modules[name], attr, new) for name, attr, new in _NMS_REWRITES]
    if dynamo:
        rewrites += [(sys.modules[name], attr, new) for name, attr, new in _DYNAMO_REWRITES]
        rewrites.append((transform.GeneralizedRCNNTransform, "batch_images", _batch_images))
        rewrites.append((det_utils.BoxCoder, "decode", _decode))
        rewrites.append((torch.nn.modules.batchnorm._BatchNorm, "forward", _batch_norm))
    saved = [(owner, attr, getattr(owner, attr)) for owner, attr, _ in rewrites]
    try:
        for owner, attr, new in rewrites:
            setattr(owner, attr, new)
        yield
    finally:
        for owner, attr, original in reversed(saved):
            setattr(owner, attr, original)
