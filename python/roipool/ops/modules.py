"""``nn.Module`` wrappers mirroring torchvision (and mmcv for the mmcv-only ops)."""


from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from roipool.ops import functional as F
from roipool.ops.functional import BoxesLike, OutputSize

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
]


class _Pooler(nn.Module):
    """Holds output_size and spatial_scale and prints them."""

    def __init__(self, output_size: OutputSize, spatial_scale: float) -> None:
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale

    def extra_repr(self) -> str:
        fields = {k: v for k, v in vars(self).items() if not k.startswith("_") and k != "training"}
        return ", ".join(f"{k}={v!r}" for k, v in fields.items())


class RoIPool(_Pooler):
    """See :func:`roipool.ops.roi_pool`."""

    def forward(self, input: Tensor, boxes: BoxesLike) -> Tensor:
        return F.roi_pool(input, boxes, self.output_size, self.spatial_scale)


class RoIAlign(_Pooler):
    """See :func:`roipool.ops.roi_align`."""

    def __init__(self, output_size: OutputSize, spatial_scale: float = 1.0,
                 sampling_ratio: int = -1, aligned: bool = False, mode: str = "avg") -> None:
        super().__init__(output_size, spatial_scale)
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned
        self.mode = mode

    def forward(self, input: Tensor, boxes: BoxesLike) -> Tensor:
        return F.roi_align(input, boxes, self.output_size, self.spatial_scale,
                           self.sampling_ratio, self.aligned, self.mode)


class RoIWarp(RoIAlign):
    """See :func:`roipool.ops.roi_warp`."""

    def forward(self, input: Tensor, boxes: BoxesLike) -> Tensor:
        return F.roi_warp(input, boxes, self.output_size, self.spatial_scale,
                          self.sampling_ratio, self.aligned, self.mode)


class PSRoIPool(_Pooler):
    """See :func:`roipool.ops.ps_roi_pool`."""

    def forward(self, input: Tensor, boxes: BoxesLike) -> Tensor:
        return F.ps_roi_pool(input, boxes, self.output_size, self.spatial_scale)


class PSRoIAlign(_Pooler):
    """See :func:`roipool.ops.ps_roi_align`."""

    def __init__(self, output_size: OutputSize, spatial_scale: float = 1.0,
                 sampling_ratio: int = -1) -> None:
        super().__init__(output_size, spatial_scale)
        self.sampling_ratio = sampling_ratio

    def forward(self, input: Tensor, boxes: BoxesLike) -> Tensor:
        return F.ps_roi_align(input, boxes, self.output_size, self.spatial_scale,
                              self.sampling_ratio)


class DeformRoIPool(_Pooler):
    """See :func:`roipool.ops.deform_roi_pool` (mmcv argument order)."""

    def __init__(self, output_size: OutputSize, spatial_scale: float = 1.0,
                 sampling_ratio: int = 0, gamma: float = 0.1) -> None:
        super().__init__(output_size, spatial_scale)
        self.sampling_ratio = sampling_ratio
        self.gamma = gamma

    def forward(self, input: Tensor, boxes: BoxesLike, offset: Tensor | None = None,
                mask: Tensor | None = None) -> Tensor:
        return F.deform_roi_pool(input, boxes, offset, self.output_size, self.spatial_scale,
                                 self.sampling_ratio, self.gamma, mask)


class RoIAlignRotated(_Pooler):
    """See :func:`roipool.ops.roi_align_rotated`."""

    def __init__(self, output_size: OutputSize, spatial_scale: float = 1.0,
                 sampling_ratio: int = 0, aligned: bool = True, clockwise: bool = False) -> None:
        super().__init__(output_size, spatial_scale)
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned
        self.clockwise = clockwise

    def forward(self, input: Tensor, boxes: BoxesLike) -> Tensor:
        return F.roi_align_rotated(input, boxes, self.output_size, self.spatial_scale,
                                   self.sampling_ratio, self.aligned, self.clockwise)


class PrRoIPool(_Pooler):
    """See :func:`roipool.ops.prroi_pool`."""

    def forward(self, input: Tensor, boxes: BoxesLike) -> Tensor:
        return F.prroi_pool(input, boxes, self.output_size, self.spatial_scale)


def infer_scale(feature_size: Sequence[int], image_size: Sequence[int]) -> float:
    """torchvision's rule: the power of two nearest (float32 log2, rounded half to even)
    to feature height / image height; the width is not consulted, as in torchvision."""
    return _power_of_two(_size_hint(feature_size[-2]) / _size_hint(image_size[-2]))


def _power_of_two(ratio: float) -> float:
    """The power of two nearest to `ratio` (float32 log2, rounded half to even)."""
    return 2.0 ** float(torch.tensor(ratio).log2().round())


def _size_hint(size: int | torch.SymInt) -> float:
    """A size's value; for a symbolic size while exporting, its example value without
    installing a guard (a pyramid's scales are attributes of the exported node)."""
    if isinstance(size, torch.SymInt):
        from torch.fx.experimental import symbolic_shapes

        # optimization_hint (torch >= 2.14) replaced hint_int; neither adds a guard.
        hint = getattr(symbolic_shapes, "optimization_hint", None) or symbolic_shapes.hint_int
        return float(hint(size))
    return float(size)


def select_features(x: Mapping[str, Tensor], featmap_names: Sequence[str]) -> list[Tensor]:
    """The maps of `x` whose names are in `featmap_names`, in `x`'s order (torchvision's
    rule: names the backbone does not produce are skipped)."""
    names = set(featmap_names)
    features = [value for name, value in x.items() if name in names]
    if not features:
        raise ValueError(f"none of featmap_names {list(featmap_names)} is among the feature "
                         f"maps {list(x)}")
    return features


class MultiScaleRoIAlign(nn.Module):
    """torchvision.ops.MultiScaleRoIAlign drop-in.

    ``forward(x, boxes, image_shapes)`` takes a dict of feature maps (those named in
    ``featmap_names`` and present are used, in the dict's order, finest first),
    per-image boxes and the image sizes, from which each level's scale is inferred like
    torchvision. The simple list form ``forward([f0, f1, ...], boxes)`` uses
    ``spatial_scales`` given here (or infers them when ``image_shapes`` is passed).
    ``level_mapping="mmdet"`` with ``canonical_scale`` = finest_scale (56)
    reproduces mmdet's SingleRoIExtractor.

    Scriptable (``torch.jit.script``) with a dict or a list of maps and image_shapes as
    ``list[tuple[int, int]]``, as torchvision's.
    """

    # Attribute types for TorchScript (None is a valid value of both).
    canonical_scale: float | None
    spatial_scales: list[float] | None

    def __init__(self, featmap_names: Sequence[str], output_size: OutputSize,
                 sampling_ratio: int, *, canonical_scale: float | None = None,
                 canonical_level: int = 4, aligned: bool = False,
                 level_mapping: str = "torchvision", roi_scale_factor: float = 1.0,
                 spatial_scales: Sequence[float] | None = None) -> None:
        super().__init__()
        self.featmap_names = list(featmap_names)
        self.output_size = output_size
        self.sampling_ratio = sampling_ratio
        self.canonical_scale = canonical_scale
        self.canonical_level = canonical_level
        self.aligned = aligned
        self.level_mapping = level_mapping
        self.roi_scale_factor = roi_scale_factor
        self.spatial_scales = list(spatial_scales) if spatial_scales is not None else None

    def forward(self, x: dict[str, Tensor] | list[Tensor], boxes: BoxesLike,
                image_shapes: list[tuple[int, int]] | None = None) -> Tensor:
        if torch.jit.is_scripting():
            return self._script_forward(x, boxes, image_shapes)
        return _multi_scale_forward(
            x, boxes, image_shapes, self.featmap_names, self.spatial_scales, self.output_size,
            self.sampling_ratio, self.aligned, self.level_mapping, self.canonical_scale,
            self.canonical_level, self.roi_scale_factor)


    def _script_forward(self, x: dict[str, Tensor] | list[Tensor], boxes: BoxesLike,
                        image_shapes: list[tuple[int, int]] | None) -> Tensor:
        """forward under TorchScript: the same rules as _multi_scale_forward, in the
        subset of Python TorchScript compiles."""
        features: list[Tensor] = []
        if torch.jit.isinstance(x, dict[str, Tensor]):
            for name, value in x.items():
                if name in self.featmap_names:
                    features.append(value)
        elif torch.jit.isinstance(x, list[Tensor]):
            features = x
        scales = self.spatial_scales
        if image_shapes is not None and len(image_shapes) > 0:
            height = 0
            for shape in image_shapes:
                height = max(height, shape[0])
            scales = [_power_of_two(f.shape[-2] / height) for f in features]
        if scales is None:
            raise ValueError("pass image_shapes or construct with spatial_scales")
        return F.multi_scale_roi_align(
            features, boxes, self.output_size, scales, self.sampling_ratio, self.aligned,
            self.level_mapping, self.canonical_scale, self.canonical_level,
            self.roi_scale_factor)


def _multi_scale_forward(x: Mapping[str, Tensor] | Sequence[Tensor], boxes: BoxesLike,
                         image_shapes: Sequence[Sequence[int]] | None,
                         featmap_names: Sequence[str], spatial_scales: Sequence[float] | None,
                         output_size: OutputSize, sampling_ratio: int, aligned: bool,
                         level_mapping: str, canonical_scale: float | None,
                         canonical_level: int, roi_scale_factor: float) -> Tensor:
    """MultiScaleRoIAlign.forward's body, a module-level function so that torch.fx can
    keep it as one leaf call (it iterates the dict and reads shapes, which a Proxy cannot)."""
    features = (select_features(x, featmap_names) if isinstance(x, Mapping) else list(x))
    if image_shapes:
        image_size = [max(s[0] for s in image_shapes), max(s[1] for s in image_shapes)]
        scales = [infer_scale(f.shape[-2:], image_size) for f in features]
    elif spatial_scales is not None:
        scales = spatial_scales
    else:
        raise ValueError("pass image_shapes or construct with spatial_scales")
    return F.multi_scale_roi_align(
        features, boxes, output_size, scales, sampling_ratio, aligned, level_mapping,
        canonical_scale, canonical_level, roi_scale_factor)


torch.fx.wrap("_multi_scale_forward")
