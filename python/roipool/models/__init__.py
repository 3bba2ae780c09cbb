"""Small models defined in the repo (random weights, nothing downloaded) for demos,
export tests and benchmarks. ``VARIANTS`` and ``DetectorConfig`` import without torch;
the model itself imports torch when first used."""

from __future__ import annotations

from typing import Any

from roipool.models.config import VARIANTS, DetectorConfig

__all__ = ["VARIANTS", "DetectorConfig", "TwoStageDetector", "example_inputs"]


def __getattr__(name: str) -> Any:
    if name in ("TwoStageDetector", "example_inputs"):
        from roipool.models import detector

        return getattr(detector, name)
    raise AttributeError(f"module 'roipool.models' has no attribute {name!r}")
