"""Wall-clock latency of a callable (used by ``roipool run`` / ``demo``; no torch)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

__all__ = ["median_latency_ms"]


def median_latency_ms(run: Callable[[], Any], repeats: int, warmup: int = 2) -> float:
    """Median wall time of `run()` in milliseconds."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(max(repeats, 1)):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)
