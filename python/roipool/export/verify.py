"""Export the demo detector, run it in ONNX Runtime with roipool's library and compare
with eager PyTorch in float64 (SPEC section 4 tolerance). Used by ``roipool demo`` and
``roipool bench``."""

from __future__ import annotations

import contextlib
import copy
import logging
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import torch

from roipool._timing import median_latency_ms
from roipool.export import export_onnx
from roipool.models import DetectorConfig, TwoStageDetector, example_inputs

#: SPEC section 4, float32 row: max abs error <= FLOAT32_TOLERANCE * max(1, magnitude).
FLOAT32_TOLERANCE = 1e-5
INPUT_NAMES = ("images", "rois")
OUTPUT_NAMES = ("scores", "deltas")
DYNAMIC_AXES = {"images": {0: "B", 2: "H", 3: "W"}, "rois": {0: "K"},
                "scores": {0: "K"}, "deltas": {0: "K"}}


@dataclass(frozen=True)
class VariantResult:
    """One variant's round trip: error vs eager float64 and ORT latency."""

    variant: str
    max_abs_error: float
    tolerance: float
    median_ms: float

    @property
    def passed(self) -> bool:
        return self.max_abs_error <= self.tolerance


def export_detector(config: DetectorConfig, *, dynamo: bool = True, standard_ops: bool = False,
                    seed: int = 0, quiet: bool = True) -> tuple[TwoStageDetector, onnx.ModelProto]:
    """The seeded detector for `config` and its ONNX export (dynamic B, H, W, K)."""
    torch.manual_seed(seed)
    model = TwoStageDetector(config).eval()
    inputs = example_inputs(config)
    with _quiet(quiet):
        proto = export_onnx(model, inputs, dynamo=dynamo, input_names=INPUT_NAMES,
                            output_names=OUTPUT_NAMES, dynamic_axes=DYNAMIC_AXES,
                            standard_ops=standard_ops)
    return model, proto


def max_error_vs_eager(model: torch.nn.Module, proto: onnx.ModelProto,
                       inputs: Sequence[torch.Tensor], input_names: Sequence[str],
                       ) -> tuple[float, float, Any]:
    """Run `proto` in ONNX Runtime (with roipool's library) on float32 `inputs` and
    compare with `model` evaluated in float64. Returns (max abs error, SPEC float32
    tolerance for the outputs' magnitude, the session)."""
    from roipool.runtime.ort import create_session

    session = create_session(proto.SerializeToString())
    feeds = {name: t.numpy() for name, t in zip(input_names, inputs, strict=True)}
    outputs = session.run(None, feeds)
    with torch.no_grad():
        expected = copy.deepcopy(model).double()(*(t.double() for t in inputs))
    expected = [expected] if isinstance(expected, torch.Tensor) else list(expected)
    error = max(_max_abs_diff(actual, wanted)
                for actual, wanted in zip(outputs, expected, strict=True))
    magnitude = max(float(t.abs().max()) if t.numel() else 0.0 for t in expected)
    return error, FLOAT32_TOLERANCE * max(1.0, magnitude), session


def verify_variant(config: DetectorConfig, *, dynamo: bool = True, repeats: int = 20,
                   batch: int = 2, height: int = 64, width: int = 96,
                   num_rois: int = 16) -> VariantResult:
    """Export `config`'s detector, run it in ONNX Runtime on inputs of another size than
    the export's and compare with the eager model in float64."""
    model, proto = export_detector(config, dynamo=dynamo)
    inputs = example_inputs(config, batch=batch, height=height, width=width,
                            num_rois=num_rois, generator=torch.Generator().manual_seed(7))
    error, tolerance, session = max_error_vs_eager(model, proto, inputs, INPUT_NAMES)
    feeds = {name: t.numpy() for name, t in zip(INPUT_NAMES, inputs, strict=True)}
    return VariantResult(config.variant, error, tolerance,
                         median_latency_ms(lambda: session.run(None, feeds), repeats))


def _max_abs_diff(actual: np.ndarray, expected: torch.Tensor) -> float:
    if actual.size == 0:
        return 0.0
    return float((torch.from_numpy(actual).double() - expected).abs().max())


@contextlib.contextmanager
def _quiet(enabled: bool) -> Iterator[None]:
    """Silence the exporters' warnings and log chatter when `enabled`."""
    if not enabled:
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            yield
        finally:
            logging.disable(logging.NOTSET)
