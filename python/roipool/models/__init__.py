"""Small models defined in the repo (random weights, nothing downloaded) for demos,
export tests and benchmarks."""

from __future__ import annotations

from roipool.models.detector import (
    VARIANTS,
    DetectorConfig,
    TwoStageDetector,
    example_inputs,
)

__all__ = ["VARIANTS", "DetectorConfig", "TwoStageDetector", "example_inputs"]
