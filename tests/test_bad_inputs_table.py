"""Generates and checks docs/bad_inputs.md: what each class of bad input gets (the error
text, or SPEC's defined result) from each backend, by running every case here.

Run with ``ROIPOOL_UPDATE_DOCS=1`` to rewrite the table after a deliberate change; the
test fails while the checked-in table differs from what the backends do."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from roipool import _native
from roipool.ops import functional as F

ort = pytest.importorskip("onnxruntime")
from roipool.runtime.ort import create_session  # noqa: E402
from test_ort_ops import ORT_ERRORS, make_model, run  # noqa: E402

pytestmark = pytest.mark.skipif(not _native.available(torch.device("cpu")),
                                reason="libroipool_core was not built")
TABLE = Path(__file__).resolve().parents[1] / "docs" / "bad_inputs.md"
ops = torch.ops.roipool

X = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8) / 100
GOOD = torch.tensor([[0, 1.0, 1.0, 6.0, 6.0]])
ALIGN = {"pooled_h": 2, "pooled_w": 2, "spatial_scale": 1.0, "sampling_ratio": -1,
         "aligned": 0, "mode": "avg"}


def rois_with(column: int, value: float) -> torch.Tensor:
    rois = GOOD.clone()
    rois[0, column] = value
    return rois


# A case: name, then one call per backend (None: not applicable). Each call returns a
# tensor or raises. The ONNX Runtime call gets (attributes, input, rois).
Call = Callable[[], torch.Tensor] | None


def ort_align(attrs: dict[str, Any], x: torch.Tensor, rois: torch.Tensor,
              op: str = "RoIAlign") -> torch.Tensor:
    specs = [("input", torch.float32, ["B", "C", "H", "W"]),
             ("rois", torch.float32, ["K", "R"])]
    session = create_session(make_model(op, specs, torch.float32, **attrs))
    return run(session, {"input": x, "rois": rois}, torch.float32)


def raw_align(x: torch.Tensor, rois: torch.Tensor, **overrides: Any) -> torch.Tensor:
    a = {**ALIGN, **overrides}
    return ops.roi_align(x, rois, a["pooled_h"], a["pooled_w"], a["spatial_scale"],
                         a["sampling_ratio"], bool(a["aligned"]), a["mode"])


class Reference:
    """Runs a raw torch op through the eager reference instead of the native core."""

    def __init__(self, call: Callable[[], torch.Tensor]) -> None:
        self.call = call

    def __call__(self) -> torch.Tensor:
        os.environ["ROIPOOL_DISABLE_NATIVE"] = "1"
        try:
            return self.call()
        finally:
            os.environ.pop("ROIPOOL_DISABLE_NATIVE", None)


def case(api: Call, raw: Call, ort_call: Call, reference: bool = True
         ) -> tuple[Call, Call, Call, Call]:
    return api, raw, Reference(raw) if (raw and reference) else None, ort_call


NAN = math.nan
CASES: dict[str, tuple[Call, Call, Call, Call]] = {
    "NaN box coordinate (x1)": case(
        lambda: F.roi_align(X, rois_with(1, NAN), 2), lambda: raw_align(X, rois_with(1, NAN)),
        lambda: ort_align(ALIGN, X, rois_with(1, NAN))),
    "NaN box extent (x2), aligned=0 clamp": case(
        lambda: F.roi_align(X, rois_with(3, NAN), 2), lambda: raw_align(X, rois_with(3, NAN)),
        lambda: ort_align(ALIGN, X, rois_with(3, NAN))),
    "NaN box extent, RoIPool": case(
        lambda: F.roi_pool(X, rois_with(4, NAN), 2),
        lambda: ops.roi_pool(X, rois_with(4, NAN), 2, 2, 1.0),
        lambda: ort_align({"pooled_h": 2, "pooled_w": 2}, X, rois_with(4, NAN), "RoIPool")),
    "batch index -1 / 2 (= B) / 0.5 / NaN": case(
        lambda: F.roi_align(X, rois_with(0, 0.5), 2), lambda: raw_align(X, rois_with(0, 0.5)),
        lambda: ort_align(ALIGN, X, rois_with(0, 2.0))),
    "K = 0": case(
        lambda: F.roi_align(X, GOOD[:0], 2), lambda: raw_align(X, GOOD[:0]),
        lambda: ort_align(ALIGN, X, GOOD[:0])),
    "C = 0": case(
        lambda: F.roi_align(X[:, :0], GOOD, 2), lambda: raw_align(X[:, :0], GOOD),
        lambda: ort_align(ALIGN, X[:, :0].contiguous(), GOOD)),
    "huge box (1e30 wide), adaptive sampling": case(
        lambda: F.roi_align(X, rois_with(3, 1e30), 2), lambda: raw_align(X, rois_with(3, 1e30)),
        lambda: ort_align(ALIGN, X, rois_with(3, 1e30))),
    "output size 0": case(
        lambda: F.roi_align(X, GOOD, 0), lambda: raw_align(X, GOOD, pooled_h=0),
        lambda: ort_align({**ALIGN, "pooled_h": 0}, X, GOOD)),
    "output size 7.0 (float)": case(lambda: F.roi_align(X, GOOD, 7.0), None, None),
    "output size 2**63": case(lambda: F.roi_align(X, GOOD, 2**63), None, None),
    "sampling_ratio 1025": case(
        lambda: F.roi_align(X, GOOD, 2, sampling_ratio=1025),
        lambda: raw_align(X, GOOD, sampling_ratio=1025),
        lambda: ort_align({**ALIGN, "sampling_ratio": 1025}, X, GOOD)),
    "spatial_scale NaN": case(
        lambda: F.roi_align(X, GOOD, 2, spatial_scale=NAN),
        lambda: raw_align(X, GOOD, spatial_scale=NAN),
        lambda: ort_align({**ALIGN, "spatial_scale": NAN}, X, GOOD)),
    "mode 'median'": case(
        lambda: F.roi_align(X, GOOD, 2, mode="median"), lambda: raw_align(X, GOOD, mode="median"),
        lambda: ort_align({**ALIGN, "mode": "median"}, X, GOOD)),
    "mode of non-UTF-8 bytes": case(
        None, None, lambda: ort_align({**ALIGN, "mode": b"\xff\xfe"}, X, GOOD)),
    "attribute of another op (gamma on RoIAlign)": case(
        None, None, lambda: ort_align({**ALIGN, "gamma": 0.5}, X, GOOD)),
    "rois [K, 4]": case(
        lambda: F.roi_align(X, GOOD[:, :4], 2), lambda: raw_align(X, GOOD[:, :4]),
        lambda: ort_align(ALIGN, X, GOOD[:, :4].contiguous())),
    "integer rois": case(
        lambda: F.roi_align(X, GOOD.long(), 2), lambda: raw_align(X, GOOD.long()), None),
    "input [C, H, W] (3-d)": case(
        lambda: F.roi_align(X[0], GOOD, 2), lambda: raw_align(X[0], GOOD),
        lambda: ort_align(ALIGN, X[0].contiguous(), GOOD)),
    "PS channels not divisible by ph * pw": case(
        lambda: F.ps_roi_pool(X, GOOD, 2), lambda: ops.ps_roi_pool(X, GOOD, 2, 2, 1.0),
        lambda: ort_align({"pooled_h": 2, "pooled_w": 2}, X, GOOD, "PSRoIPool")),
    "meta rois among CPU tensors": case(
        None, lambda: raw_align(X, GOOD.to("meta")), None, reference=False),
    "integer DeformRoIPool offset": case(
        lambda: F.deform_roi_pool(X, GOOD, torch.zeros(1, 2, 2, 2, dtype=torch.long), 2),
        lambda: ops.deform_roi_pool(X, GOOD, torch.zeros(1, 2, 2, 2, dtype=torch.long), None,
                                    2, 2, 1.0, 2, 0.1), None),
    "MultiScaleRoIAlign with no feature maps": case(
        lambda: F.multi_scale_roi_align([], GOOD, 2, []),
        lambda: ops.multi_scale_roi_align(GOOD, [], 2, 2, 2, False, [], "torchvision", 0.0, 4,
                                          1.0), None),
    "canonical_level 4.5": case(
        lambda: F.multi_scale_roi_align([X], GOOD, 2, [1.0], canonical_level=4.5), None, None),
}
BACKENDS = ["roipool.ops (public API)", "torch.ops.roipool (native core)",
            "torch.ops.roipool (eager reference)", "ONNX Runtime"]


def outcome(call: Call) -> str:
    """One table cell: the error class and text, or what the result is."""
    if call is None:
        return "n/a"
    try:
        out = call()
    except ORT_ERRORS as e:
        message = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", str(e)).splitlines()[0]
        message = re.sub(r"^.*?(?=(RoI|PSRoI|Deform|MultiScale|PrRoI)\w*: )", "", message)
        return f"error: {message}"
    except (ValueError, TypeError, RuntimeError) as e:
        return f"{type(e).__name__}: {str(e).splitlines()[0]}"
    if out.numel() == 0:
        return f"empty {list(out.shape)}"
    if torch.count_nonzero(out[0]) == 0:
        return f"zeros {list(out.shape)}"
    return f"values {list(out.shape)}"


def render() -> str:
    lines = [
        "# What bad inputs get, per backend",
        "",
        "Generated by `tests/test_bad_inputs_table.py` (run it with `ROIPOOL_UPDATE_DOCS=1`",
        "to refresh); the test fails while this page differs from what the backends do.",
        "Cases use RoIAlign (`avg`, `aligned=0`, adaptive sampling, 2 x 2 output) on a",
        "`[2, 3, 8, 8]` float32 map unless the row names another op. \"zeros\" / \"values\"",
        "describe the first RoI's output; \"n/a\": the backend has no such input. The",
        "TensorRT plugins share the core's attribute parsing and validation (same messages",
        "as ONNX Runtime for attributes, logged through TensorRT's logger); their shape",
        "checks and malformed field collections are covered by `tests/cpp/trt_plugin_harness.cpp`",
        "and the sanitizer fuzz job (`scripts/fuzz.sh`). The `torch.ops.roipool` columns are",
        "the ops as served by libroipool_torch.so's C++ kernels: torch's stable ABI carries",
        "no exception type, so their errors are RuntimeErrors with the message (a Python",
        "error's type in front); without that library they keep the Python type.",
        "",
        "| bad input | " + " | ".join(BACKENDS) + " |",
        "|---" * (len(BACKENDS) + 1) + "|",
    ]
    for name, calls in CASES.items():
        cells = [outcome(c).replace("|", "\\|") for c in calls]
        lines.append(f"| {name} | " + " | ".join(f"`{c}`" for c in cells) + " |")
    return "\n".join(lines) + "\n"


def test_bad_inputs_table_is_current() -> None:
    text = render()
    if os.environ.get("ROIPOOL_UPDATE_DOCS") == "1":
        TABLE.write_text(text)
    assert TABLE.read_text() == text, "docs/bad_inputs.md is stale: rerun, ROIPOOL_UPDATE_DOCS=1"


def test_table_rows_hold_spec_results() -> None:
    """The defined results the table claims are SPEC's (not merely whatever happened)."""
    rows = {name: [outcome(c) for c in calls] for name, calls in CASES.items()}
    for name in ("NaN box coordinate (x1)", "NaN box extent (x2), aligned=0 clamp",
                 "NaN box extent, RoIPool"):
        assert all(cell.startswith("zeros") for cell in rows[name]), (name, rows[name])
    assert rows["batch index -1 / 2 (= B) / 0.5 / NaN"][0].startswith("ValueError: boxes row 0")
    assert all(c.startswith("zeros") for c in rows["batch index -1 / 2 (= B) / 0.5 / NaN"][1:])
    assert all(c == "empty [0, 3, 2, 2]" for c in rows["K = 0"])
    assert all(c == "empty [1, 0, 2, 2]" for c in rows["C = 0"])
    for name, cells in rows.items():
        if name not in ("NaN box coordinate (x1)", "K = 0", "C = 0", "huge box (1e30 wide), "
                        "adaptive sampling") and not name.startswith(("NaN", "batch")):
            assert all(c == "n/a" or not c.startswith(("values", "zeros", "empty"))
                       for c in cells), (name, cells)
