"""Public functional API: torchvision-style signatures over the ``torch.ops.roipool`` ops.

``boxes`` is either a ``[K, 5]`` tensor of ``(batch_index, x1, y1, x2, y2)`` rows
(rotated: ``[K, 6]`` with ``(batch_index, cx, cy, w, h, theta)``) or a list with one
``[L_i, 4]`` (rotated ``[L_i, 5]``) tensor per image. Arguments are validated with
``ValueError``/``TypeError`` naming the argument; the batch-index check reads the data,
so it runs only on CPU tensors (or with ``ROIPOOL_DEBUG_CHECKS=1``), never while
tracing, exporting, compiling or on fake/meta tensors.

Every function compiles with ``torch.jit.script`` (as torchvision's ops do): under
TorchScript it converts the boxes and calls the ``torch.ops.roipool`` op directly,
whose native kernel validates the arguments; the Python checks run only in eager mode.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torch.jit.annotations import BroadcastingList2

from roipool.ops import _library, reference

__all__ = [
    "deform_roi_pool",
    "multi_scale_roi_align",
    "prroi_pool",
    "ps_roi_align",
    "ps_roi_pool",
    "roi_align",
    "roi_align_rotated",
    "roi_pool",
    "roi_warp",
]

# Sequence in eager use; TorchScript spells it list (its only sequence of tensors).
BoxesLike = Tensor | list[Tensor]
OutputSize = int | Sequence[int]


# The kernel core's bound on pooled_h / pooled_w.
_MAX_POOLED = 65535


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _pair(output_size: BroadcastingList2[int]) -> tuple[int, int]:
    if _is_int(output_size):
        size = (output_size, output_size)
    elif isinstance(output_size, (list, tuple)):
        size = tuple(output_size)
    else:
        size = ()
    if len(size) != 2 or not all(_is_int(s) for s in size):
        raise TypeError(f"output_size must be an int or a pair of ints, got {output_size!r}")
    if not all(1 <= s <= _MAX_POOLED for s in size):
        raise ValueError(f"output_size must be in [1, {_MAX_POOLED}], got {output_size!r}")
    return size[0], size[1]


def _check_int(value: object, name: str, low: int, high: int) -> None:
    """An int (not a bool or float) in [low, high], else TypeError / ValueError naming it."""
    if not _is_int(value):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if not low <= value <= high:
        # An int64 lower bound is the schema's, not the op's: name it only when broken.
        if low == -(2**63) and value >= low:
            raise ValueError(f"{name} must be <= {high}, got {value!r}")
        raise ValueError(f"{name} must be in [{low}, {high}], got {value!r}")


def _is_symbolic(*tensors: Tensor) -> bool:
    """True while tracing/exporting/compiling or for fake/meta tensors (no data to read).

    Cheap for plain eager tensors (this runs on every call): the TorchScript-based ONNX
    exporter traces with torch.jit (is_tracing), the dynamo one with fake tensors, and
    fake tensors are a Tensor subclass, so only subclass instances need is_fake."""
    if torch.jit.is_tracing() or torch.compiler.is_compiling():
        return True
    for t in tensors:
        if t.is_meta:
            return True
        if type(t) is not Tensor:
            from torch._subclasses.fake_tensor import is_fake

            if is_fake(t):
                return True
    return False


def _checks_batch_index(rois: Tensor, like: Tensor) -> bool:
    """Whether to check batch indices here: reading them back costs a device-to-host sync
    on accelerators (and breaks CUDA graph capture), so only for CPU tensors, or anywhere
    with ROIPOOL_DEBUG_CHECKS=1; the kernels give such RoIs zeros (SPEC 2) regardless."""
    if _is_symbolic(rois, like):
        return False
    return rois.device.type == "cpu" or os.environ.get("ROIPOOL_DEBUG_CHECKS") == "1"


def _check_feature(input: Tensor, name: str = "input") -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(input).__name__}")
    if input.dim() != 4:
        raise ValueError(f"{name} must be [B, C, H, W], got shape {tuple(input.shape)}")
    if not input.is_floating_point():
        raise TypeError(f"{name} must be floating point, got {input.dtype}")
    if input.shape[2] < 1 or input.shape[3] < 1:
        raise ValueError(f"{name} must have H, W >= 1, got shape {tuple(input.shape)}")


def _rois(boxes: BoxesLike, like: Tensor, columns: int) -> Tensor:
    """[K, columns] rois from a tensor or a per-image list of [L_i, columns - 1] boxes."""
    if isinstance(boxes, Tensor):
        rois = boxes
        if rois.dim() != 2 or rois.shape[1] != columns:
            raise ValueError(f"boxes must be [K, {columns}], got shape {tuple(rois.shape)}")
    elif isinstance(boxes, (list, tuple)):
        for i, b in enumerate(boxes):
            if not isinstance(b, Tensor) or b.dim() != 2 or b.shape[1] != columns - 1:
                shape = tuple(b.shape) if isinstance(b, Tensor) else type(b).__name__
                raise ValueError(f"boxes[{i}] must be [L, {columns - 1}], got {shape}")
        if not boxes:
            return like.new_zeros((0, columns))
        rois = _boxes_to_rois(list(boxes))
    else:
        raise TypeError(f"boxes must be a tensor or a list of tensors, got {type(boxes).__name__}")
    if not rois.is_floating_point():
        raise TypeError(f"boxes must be floating point, got {rois.dtype}")
    if rois.device != like.device:
        raise ValueError(f"boxes are on {rois.device} but the input is on {like.device}")
    if _checks_batch_index(rois, like) and rois.shape[0] > 0:
        row = _first_invalid_row(rois, like.shape[0])
        if row >= 0:
            value = float(rois[row, 0].detach())
            raise ValueError(f"boxes row {row}: batch index {value} is not an integer in "
                             f"[0, {like.shape[0]})")
    return rois


def _boxes_to_rois(boxes: BoxesLike) -> Tensor:
    """The rois tensor of `boxes` (eager after the checks of _rois, and under TorchScript):
    per-image boxes get their image index as column 0, in the first list entry's dtype.
    Like torchvision's convert_boxes_to_roi_format, full_like keeps every L_i (so K)
    symbolic in traced and exported graphs, where len(b) would bake it in."""
    if isinstance(boxes, Tensor):
        return boxes
    dtype = boxes[0].dtype
    index = [torch.full_like(b[:, :1], float(i), dtype=dtype) for i, b in enumerate(boxes)]
    return torch.cat([torch.cat(index), torch.cat(boxes).to(dtype)], dim=1)


def _first_invalid_row(rois: Tensor, batch: int) -> int:
    """First row whose batch index is not an integer in [0, batch), else -1: one call
    into the core for host rois, tensor ops otherwise."""
    native = _library.native_module()
    row = native.first_invalid_batch_index(rois, batch) if native else None
    if row is not None:
        return row
    column = rois[:, 0]
    bad = ~((column >= 0) & (column < batch) & (column == torch.trunc(column)))
    return int(bad.nonzero()[0, 0]) if bool(bad.any()) else -1


def _scale(spatial_scale: float) -> float:
    """spatial_scale as a float; ValueError unless finite (the kernels' rule), checked
    here so the public API names it with a ValueError on every backend."""
    scale = float(spatial_scale)
    if not math.isfinite(scale):
        raise ValueError(f"spatial_scale must be finite, got {spatial_scale!r}")
    return scale


def _check_ps_channels(input: Tensor, pooled: tuple[int, int]) -> None:
    if input.shape[1] % (pooled[0] * pooled[1]) != 0:
        raise ValueError(f"input channels ({input.shape[1]}) must be divisible by "
                         f"output_size[0] * output_size[1] ({pooled[0] * pooled[1]})")


def _check_sampling_ratio(sampling_ratio: int) -> None:
    # <= 0 is adaptive; the lower bound only keeps the value an int64 for the schema.
    _check_int(sampling_ratio, "sampling_ratio", -(2**63), reference.MAX_SAMPLING_GRID)


def _check_mode(mode: str) -> None:
    if mode not in ("avg", "max"):
        raise ValueError(f"mode must be 'avg' or 'max', got {mode!r}")


def roi_pool(input: Tensor, boxes: BoxesLike, output_size: BroadcastingList2[int],
             spatial_scale: float = 1.0) -> Tensor:
    """RoIPool (torchvision.ops.roi_pool): max over quantised bins -> [K, C, ph, pw]."""
    if torch.jit.is_scripting():
        return torch.ops.roipool.roi_pool(input, _boxes_to_rois(boxes), output_size[0],
                                          output_size[1], spatial_scale)
    _check_feature(input)
    ph, pw = _pair(output_size)
    rois = _rois(boxes, input, 5)
    return _library.roi_pool(input, rois, ph, pw, _scale(spatial_scale))


def roi_align(input: Tensor, boxes: BoxesLike, output_size: BroadcastingList2[int],
              spatial_scale: float = 1.0, sampling_ratio: int = -1, aligned: bool = False,
              mode: str = "avg") -> Tensor:
    """RoIAlign (torchvision.ops.roi_align; ``mode="max"`` as mmcv) -> [K, C, ph, pw]."""
    if torch.jit.is_scripting():
        return torch.ops.roipool.roi_align(input, _boxes_to_rois(boxes), output_size[0],
                                           output_size[1], spatial_scale, sampling_ratio, aligned,
                                           mode)
    return _sampled_box_op(_library.roi_align, input, boxes, output_size, spatial_scale,
                           sampling_ratio, aligned, mode)


def roi_warp(input: Tensor, boxes: BoxesLike, output_size: BroadcastingList2[int],
             spatial_scale: float = 1.0, sampling_ratio: int = -1, aligned: bool = False,
             mode: str = "avg") -> Tensor:
    """RoIWarp (SPEC 3.3): RoIAlign on the box rounded to feature-map pixels."""
    if torch.jit.is_scripting():
        return torch.ops.roipool.roi_warp(input, _boxes_to_rois(boxes), output_size[0],
                                          output_size[1], spatial_scale, sampling_ratio, aligned,
                                          mode)
    return _sampled_box_op(_library.roi_warp, input, boxes, output_size, spatial_scale,
                           sampling_ratio, aligned, mode)


def _sampled_box_op(op: Callable[..., Tensor], input: Tensor, boxes: BoxesLike,
                    output_size: OutputSize, spatial_scale: float, sampling_ratio: int,
                    aligned: bool, mode: str) -> Tensor:
    """Shared checks and call of the ops with RoIAlign's arguments (roi_align, roi_warp)."""
    _check_feature(input)
    ph, pw = _pair(output_size)
    _check_sampling_ratio(sampling_ratio)
    _check_mode(mode)
    rois = _rois(boxes, input, 5)
    return op(input, rois, ph, pw, _scale(spatial_scale), sampling_ratio, bool(aligned), mode)


def ps_roi_pool(input: Tensor, boxes: BoxesLike, output_size: BroadcastingList2[int],
                spatial_scale: float = 1.0) -> Tensor:
    """PSRoIPool (torchvision.ops.ps_roi_pool) -> [K, C / (ph*pw), ph, pw]."""
    if torch.jit.is_scripting():
        return torch.ops.roipool.ps_roi_pool(input, _boxes_to_rois(boxes), output_size[0],
                                             output_size[1], spatial_scale)
    _check_feature(input)
    pooled = _pair(output_size)
    _check_ps_channels(input, pooled)
    rois = _rois(boxes, input, 5)
    return _library.ps_roi_pool(input, rois, *pooled, _scale(spatial_scale))


def ps_roi_align(input: Tensor, boxes: BoxesLike, output_size: BroadcastingList2[int],
                 spatial_scale: float = 1.0, sampling_ratio: int = -1) -> Tensor:
    """PSRoIAlign (torchvision.ops.ps_roi_align) -> [K, C / (ph*pw), ph, pw]."""
    if torch.jit.is_scripting():
        return torch.ops.roipool.ps_roi_align(input, _boxes_to_rois(boxes), output_size[0],
                                              output_size[1], spatial_scale, sampling_ratio)
    _check_feature(input)
    pooled = _pair(output_size)
    _check_ps_channels(input, pooled)
    _check_sampling_ratio(sampling_ratio)
    rois = _rois(boxes, input, 5)
    return _library.ps_roi_align(input, rois, *pooled, _scale(spatial_scale), sampling_ratio)


def _check_bin_input(t: Tensor | None, name: str, like: Tensor, shape: tuple[int, ...]) -> None:
    if t is None:
        return
    if not isinstance(t, Tensor) or not t.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor")
    if tuple(t.shape) != shape:
        raise ValueError(f"{name} must have shape {list(shape)}, got {list(t.shape)}")
    if t.device != like.device:
        raise ValueError(f"{name} is on {t.device} but the input is on {like.device}")


def deform_roi_pool(input: Tensor, boxes: BoxesLike, offset: Tensor | None,
                    output_size: BroadcastingList2[int], spatial_scale: float = 1.0,
                    sampling_ratio: int = 0, gamma: float = 0.1,
                    mask: Tensor | None = None) -> Tensor:
    """DeformRoIPool (mmcv): `offset` [K, 2, ph, pw] (x, y) shifts every bin by
    gamma * roi size * offset; `mask` [K, 1, ph, pw] multiplies the result (mmcv's
    ModulatedDeformRoIPoolPack). Without offset it is aligned RoIAlign."""
    if torch.jit.is_scripting():
        return torch.ops.roipool.deform_roi_pool(input, _boxes_to_rois(boxes), offset, mask,
                                                 output_size[0], output_size[1], spatial_scale,
                                                 sampling_ratio, gamma)
    _check_feature(input)
    ph, pw = _pair(output_size)
    _check_sampling_ratio(sampling_ratio)
    rois = _rois(boxes, input, 5)
    _check_bin_input(offset, "offset", input, (rois.shape[0], 2, ph, pw))
    _check_bin_input(mask, "mask", input, (rois.shape[0], 1, ph, pw))
    return _library.deform_roi_pool(input, rois, offset, mask, ph, pw, _scale(spatial_scale),
                                    sampling_ratio, float(gamma))


def multi_scale_roi_align(features: list[Tensor], boxes: BoxesLike,
                          output_size: BroadcastingList2[int], spatial_scales: list[float],
                          sampling_ratio: int = -1, aligned: bool = False,
                          level_mapping: str = "torchvision",
                          canonical_scale: float | None = None, canonical_level: int = 4,
                          roi_scale_factor: float = 1.0) -> Tensor:
    """MultiScaleRoIAlign over `features` (finest first) with one scale per level.

    ``level_mapping="torchvision"`` picks levels like torchvision's MultiScaleRoIAlign
    (``canonical_scale`` default 224), ``"mmdet"`` like mmdet's SingleRoIExtractor
    (``canonical_scale`` = its ``finest_scale``, default 56); ``roi_scale_factor``
    scales each box about its centre after its level is chosen.
    """
    if torch.jit.is_scripting():
        return torch.ops.roipool.multi_scale_roi_align(
            _boxes_to_rois(boxes), features, output_size[0], output_size[1], sampling_ratio,
            aligned, spatial_scales, level_mapping,
            _canonical_scale(level_mapping, canonical_scale), canonical_level, roi_scale_factor)
    scales = _check_multi_scale(features, spatial_scales, level_mapping)
    canonical_scale = _canonical_scale(level_mapping, canonical_scale)
    if not canonical_scale > 0 or not roi_scale_factor > 0:
        raise ValueError("canonical_scale and roi_scale_factor must be > 0")
    ph, pw = _pair(output_size)
    _check_sampling_ratio(sampling_ratio)
    _check_int(canonical_level, "canonical_level", -64, 64)
    rois = _rois(boxes, features[0], 5)
    return _library.multi_scale_roi_align(rois, list(features), ph, pw, sampling_ratio,
                                          bool(aligned), scales, level_mapping,
                                          float(canonical_scale), int(canonical_level),
                                          float(roi_scale_factor))


def _check_multi_scale(features: Sequence[Tensor], spatial_scales: Sequence[float],
                       level_mapping: str) -> list[float]:
    """multi_scale_roi_align's map, scale and mapping checks (eager only: TorchScript
    does not parse them); returns the scales as floats."""
    if not isinstance(features, (list, tuple)) or not features:
        raise TypeError("features must be a non-empty list of [B, C, H, W] tensors")
    for i, f in enumerate(features):
        _check_feature(f, f"features[{i}]")
        if f.shape[:2] != features[0].shape[:2] or f.device != features[0].device:
            raise ValueError(f"features[{i}] must share features[0]'s batch size, channels "
                             "and device")
    scales = [float(s) for s in spatial_scales]
    if len(scales) != len(features) or not all(s > 0 for s in scales):
        raise ValueError(f"spatial_scales must hold one positive scale per feature map, "
                         f"got {scales} for {len(features)} maps")
    if level_mapping not in ("torchvision", "mmdet"):
        raise ValueError(f"level_mapping must be 'torchvision' or 'mmdet', got {level_mapping!r}")
    return scales


def _canonical_scale(level_mapping: str, canonical_scale: float | None) -> float:
    """The mapping's default canonical scale (mmdet's finest_scale 56, torchvision's 224)
    unless one is given."""
    if canonical_scale is not None:
        return canonical_scale
    return 56.0 if level_mapping == "mmdet" else 224.0


def roi_align_rotated(input: Tensor, boxes: BoxesLike, output_size: BroadcastingList2[int],
                      spatial_scale: float = 1.0, sampling_ratio: int = 0, aligned: bool = True,
                      clockwise: bool = False) -> Tensor:
    """RoIAlignRotated (mmcv): boxes (cx, cy, w, h, theta in radians) -> [K, C, ph, pw]."""
    if torch.jit.is_scripting():
        return torch.ops.roipool.roi_align_rotated(input, _boxes_to_rois(boxes), output_size[0],
                                                   output_size[1], spatial_scale,
                                                   sampling_ratio, aligned, clockwise)
    _check_feature(input)
    ph, pw = _pair(output_size)
    _check_sampling_ratio(sampling_ratio)
    rois = _rois(boxes, input, 6)
    return _library.roi_align_rotated(input, rois, ph, pw, _scale(spatial_scale), sampling_ratio,
                                      bool(aligned), bool(clockwise))


def prroi_pool(input: Tensor, boxes: BoxesLike, output_size: BroadcastingList2[int],
               spatial_scale: float = 1.0) -> Tensor:
    """PrRoIPool (mmcv): exact bin integral of the interpolated map -> [K, C, ph, pw];
    differentiable w.r.t. the boxes as well."""
    if torch.jit.is_scripting():
        return torch.ops.roipool.prroi_pool(input, _boxes_to_rois(boxes), output_size[0],
                                            output_size[1], spatial_scale)
    _check_feature(input)
    ph, pw = _pair(output_size)
    rois = _rois(boxes, input, 5)
    return _library.prroi_pool(input, rois, ph, pw, _scale(spatial_scale))


# torch.fx.symbolic_trace keeps these as leaf calls (their argument checks need real
# tensors), as it does torchvision's ops; roipool.ops registers the package's names too.
PUBLIC_OPS = ("roi_pool", "roi_align", "roi_warp", "ps_roi_pool", "ps_roi_align",
              "deform_roi_pool", "multi_scale_roi_align", "roi_align_rotated", "prroi_pool")
for _name in PUBLIC_OPS:
    torch.fx.wrap(_name)
