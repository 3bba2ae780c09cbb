#!/usr/bin/env python3
"""Whole torchvision detectors through roipool.export.export_detector: per detector x
exporter, the export time, ONNX Runtime (with libroipool_ort) latency vs eager
torchvision (medians, interleaved), detection-count match and max errors.

Random weights (roipool.export.detector_parity.random_detector: min_size 256,
max_size 384, calibrated box_score_thresh,
renormalised MobileNet-v3 backbones), smooth random images of three sizes other
than the traced one. Prints a table and writes bench/results/detectors.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch
from common import RESULTS_DIR
from roipool.export.detector_parity import (
    DETECTORS,
    quiet_export,
    random_detector,
    run_parity,
    smooth_images,
)

IMAGE_SIZES = [(300, 260), (200, 400), (333, 251)]


def measure(name: str, dynamo: bool, repeats: int) -> dict[str, object]:
    """One detector x exporter: export, then parity and latency on every image."""
    model = random_detector(name)
    start = time.perf_counter()
    proto = quiet_export(model, dynamo=dynamo)
    export_s = time.perf_counter() - start
    results = run_parity(model, proto, smooth_images(IMAGE_SIZES), repeats=repeats)
    errors: dict[str, float] = {}
    for r in results:
        for key, value in r.errors.items():
            errors[key] = max(errors.get(key, 0.0), value)
    return {"detector": name, "exporter": "dynamo" if dynamo else "torchscript",
            "export_s": export_s,
            "counts": [[r.eager_count, r.ort_count] for r in results],
            "proposals": [r.proposals for r in results],
            "counts_match": all(r.eager_count == r.ort_count for r in results),
            "passed": all(r.passed for r in results), "max_errors": errors,
            "eager_ms": float(np.median([r.eager_ms for r in results])),
            "ort_ms": float(np.median([r.ort_ms for r in results]))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--detectors", nargs="+", default=list(DETECTORS), choices=DETECTORS)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    rows = []
    header = ("| detector | exporter | export s | eager ms | ORT ms | ORT / eager | "
              "counts eager/ORT | max box err | max score err | other | status |")
    print(header)
    print("|---|---|---:|---:|---:|---:|---|---:|---:|---|---|")
    for name in args.detectors:
        for dynamo in (True, False):
            row = measure(name, dynamo, args.repeats)
            rows.append(row)
            errors = row["max_errors"]
            other = ", ".join(f"{k} {v:.1e}" for k, v in errors.items()
                              if k not in ("boxes", "scores", "labels"))
            counts = " ".join(f"{a}/{b}" for a, b in row["counts"])
            print(f"| {name} | {row['exporter']} | {row['export_s']:.1f} | "
                  f"{row['eager_ms']:.1f} | {row['ort_ms']:.1f} | "
                  f"{row['ort_ms'] / row['eager_ms']:.2f}x | {counts} | "
                  f"{errors['boxes']:.1e} | {errors['scores']:.1e} | {other or '-'} | "
                  f"{'ok' if row['passed'] else 'FAIL'} |", flush=True)
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / "detectors.json"
    out.write_text(json.dumps({"machine": platform.platform(), "torch": torch.__version__,
                               "threads": torch.get_num_threads(), "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
