"""A small two-stage detector whose RoI head uses any of the nine roipool variants.

Backbone: a few strided convs giving maps at strides 4/8/16/32, merged FPN-style
(lateral 1x1 convs + top-down nearest upsampling). The proposals are an *input*
(``[K, 5]`` boxes, ``[K, 6]`` rotated boxes for ``roi_align_rotated``), so the exported
graph is deterministic. Head: the selected RoI op, then two FC layers and class-score /
box-delta outputs. Weights are random (seeded by the caller).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from roipool import ops
from roipool.models.config import VARIANTS, DetectorConfig

STRIDES = (4, 8, 16, 32)


class _Backbone(nn.Module):
    """Strided convs + FPN merge -> maps at strides 4, 8, 16, 32 with `channels` each."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        widths = (channels, channels * 2, channels * 2, channels * 4)
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, 2, 1), nn.ReLU(),
                                  nn.Conv2d(channels, widths[0], 3, 2, 1), nn.ReLU())
        self.stages = nn.ModuleList(
            nn.Sequential(nn.Conv2d(widths[i - 1], widths[i], 3, 2, 1), nn.ReLU())
            for i in range(1, len(widths)))
        self.laterals = nn.ModuleList(nn.Conv2d(w, channels, 1) for w in widths)

    def forward(self, images: Tensor) -> list[Tensor]:
        features = [self.stem(images)]
        for stage in self.stages:
            features.append(stage(features[-1]))
        merged = [self.laterals[-1](features[-1])]
        pairs = zip(reversed(self.laterals[:-1]), reversed(features[:-1]), strict=True)
        for lateral, feature in pairs:
            top_down = F.interpolate(merged[0], size=feature.shape[-2:], mode="nearest")
            merged.insert(0, lateral(feature) + top_down)
        return merged


class TwoStageDetector(nn.Module):
    """``forward(images [B, 3, H, W], rois) -> (scores [K, classes], deltas [K, 4*classes])``.

    H and W should be multiples of 32. ``rois`` is ``[K, 5]`` ``(batch, x1, y1, x2, y2)``
    in image pixels, ``[K, 6]`` ``(batch, cx, cy, w, h, theta)`` for roi_align_rotated.
    """

    def __init__(self, config: DetectorConfig = DetectorConfig()) -> None:
        super().__init__()
        if config.variant not in VARIANTS:
            raise ValueError(f"unknown RoI variant {config.variant!r}; one of {VARIANTS}")
        self.config = config
        self.backbone = _Backbone(config.channels)
        area = config.pooled * config.pooled
        # Position-sensitive ops pool from a score map with channels * ph * pw channels.
        self.ps_conv = (nn.Conv2d(config.channels, config.channels * area, 1)
                        if config.variant.startswith("ps_") else None)
        # DeformRoIPool predicts per-bin offsets and a modulation mask from a first pooling.
        self.offset_fc = (nn.Linear(config.channels * area, 3 * area)
                          if config.variant == "deform_roi_pool" else None)
        self.fc1 = nn.Linear(config.channels * area, config.hidden)
        self.fc2 = nn.Linear(config.hidden, config.hidden)
        self.scores = nn.Linear(config.hidden, config.num_classes)
        self.deltas = nn.Linear(config.hidden, 4 * config.num_classes)

    def forward(self, images: Tensor, rois: Tensor) -> tuple[Tensor, Tensor]:
        pooled = self.pool(self.backbone(images), rois)
        hidden = F.relu(self.fc2(F.relu(self.fc1(pooled.flatten(1)))))
        return self.scores(hidden), self.deltas(hidden)

    def pool(self, maps: Sequence[Tensor], rois: Tensor) -> Tensor:
        """[K, channels, pooled, pooled] RoI features with the configured variant."""
        c = self.config
        size = (c.pooled, c.pooled)
        level = STRIDES.index(c.stride)
        feature, scale = maps[level], 1.0 / c.stride
        variant = c.variant
        if variant == "multi_scale_roi_align":
            return ops.multi_scale_roi_align(list(maps), rois, size,
                                             [1.0 / s for s in STRIDES], c.sampling_ratio,
                                             aligned=True)
        if variant == "deform_roi_pool":
            return self._deform_pool(feature, rois, scale)
        if variant.startswith("ps_"):
            assert self.ps_conv is not None
            score_map = self.ps_conv(feature)
            if variant == "ps_roi_pool":
                return ops.ps_roi_pool(score_map, rois, size, scale)
            return ops.ps_roi_align(score_map, rois, size, scale, c.sampling_ratio)
        if variant == "roi_pool":
            return ops.roi_pool(feature, rois, size, scale)
        if variant == "prroi_pool":
            return ops.prroi_pool(feature, rois, size, scale)
        if variant == "roi_align_rotated":
            return ops.roi_align_rotated(feature, rois, size, scale, c.sampling_ratio,
                                         aligned=True)
        pool = ops.roi_warp if variant == "roi_warp" else ops.roi_align
        return pool(feature, rois, size, scale, c.sampling_ratio, aligned=True)

    def _deform_pool(self, feature: Tensor, rois: Tensor, scale: float) -> Tensor:
        assert self.offset_fc is not None
        c = self.config
        size = (c.pooled, c.pooled)
        plain = ops.deform_roi_pool(feature, rois, None, size, scale, c.sampling_ratio)
        predicted = self.offset_fc(plain.flatten(1)).view(-1, 3, c.pooled, c.pooled)
        offset, mask = predicted[:, :2], torch.sigmoid(predicted[:, 2:])
        return ops.deform_roi_pool(feature, rois, offset, size, scale, c.sampling_ratio,
                                   mask=mask)


def example_inputs(config: DetectorConfig, *, batch: int = 2, height: int = 64,
                   width: int = 96, num_rois: int = 8,
                   generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Random images and proposals (inside the images) for `config.variant`."""
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    images = torch.rand(batch, 3, height, width, generator=generator)
    index = torch.randint(0, batch, (num_rois, 1), generator=generator).float()
    corners = torch.rand(num_rois, 4, generator=generator) * torch.tensor(
        [width, height, width, height], dtype=torch.float32)
    x1 = torch.minimum(corners[:, 0], corners[:, 2])
    x2 = torch.maximum(corners[:, 0], corners[:, 2]) + 4.0
    y1 = torch.minimum(corners[:, 1], corners[:, 3])
    y2 = torch.maximum(corners[:, 1], corners[:, 3]) + 4.0
    if config.variant == "roi_align_rotated":
        theta = (torch.rand(num_rois, generator=generator) - 0.5) * math.pi
        boxes = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, theta], dim=1)
    else:
        boxes = torch.stack([x1, y1, x2, y2], dim=1)
    return images, torch.cat([index, boxes], dim=1)
