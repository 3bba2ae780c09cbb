"""The detector's configuration (no torch needed: the CLI reads it to build its options)."""

from __future__ import annotations

from dataclasses import dataclass

#: The RoI variants the head can use (the snake names of the ops).
VARIANTS: tuple[str, ...] = (
    "roi_pool", "roi_align", "roi_warp", "ps_roi_pool", "ps_roi_align", "deform_roi_pool",
    "multi_scale_roi_align", "roi_align_rotated", "prroi_pool",
)


@dataclass(frozen=True)
class DetectorConfig:
    """Sizes of the detector; the defaults are small enough for CPU tests."""

    variant: str = "roi_align"
    channels: int = 16
    pooled: int = 4
    hidden: int = 64
    num_classes: int = 5
    sampling_ratio: int = 2
    #: Stride of the single map that every op but multi_scale_roi_align pools from.
    stride: int = 8
