"""Issue 10 regression tests through ONNX Runtime: the same defined results and errors as
the native core and the eager reference (tests/test_hardening.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import child_pythonpath
from roipool.ops import reference
from roipool.runtime.ort import create_session
from test_ort_ops import CASE_BY_ID, ORT_ERRORS, OpCase, make_model, run

ROOT = Path(__file__).resolve().parents[1]

# (case, attribute overrides): the variants whose extent clamp the NaN rule concerns.
NAN_VARIANTS = [
    ("RoIPool", {}),
    ("RoIAlign-max", {}),
    ("RoIAlign-avg", {"aligned": 0, "sampling_ratio": -1}),
    ("RoIWarp", {"sampling_ratio": -1}),
    ("PSRoIPool", {}),
    ("PSRoIAlign", {}),
    ("DeformRoIPool", {"sampling_ratio": -1}),
    ("MultiScaleRoIAlign", {"sampling_ratio": -1}),
    ("RoIAlignRotated", {"aligned": 0, "sampling_ratio": -1}),
    ("PrRoIPool", {}),
]


def _feeds(case: OpCase, generator: torch.Generator, channels: int | None = None
           ) -> dict[str, torch.Tensor]:
    feeds = case.make_inputs(3, 12, 12, generator)
    if channels is not None:
        for name, t in feeds.items():
            if name.startswith(("input", "feature")):
                feeds[name] = t[:, :channels].contiguous()
    return feeds


@pytest.mark.parametrize("case_id,overrides", NAN_VARIANTS, ids=[v[0] for v in NAN_VARIANTS])
def test_nan_extent_pools_to_zero(case_id: str, overrides: dict, generator: torch.Generator
                                  ) -> None:
    case = CASE_BY_ID[case_id]
    session = case.session(torch.float32, torch.float32, **overrides)
    for column in (3, 4) if not case.rotated else (3, 4, 5):
        feeds = _feeds(case, generator)
        feeds["rois"][0, column] = float("nan")
        output = run(session, feeds, torch.float32)
        assert torch.count_nonzero(output[0]) == 0, (case_id, column, output[0])
        assert torch.count_nonzero(output[1:]) > 0


@pytest.mark.parametrize("case_id", ["RoIPool", "RoIAlign-avg", "PSRoIPool", "MultiScaleRoIAlign",
                                     "DeformRoIPool-offset-mask", "PrRoIPool"])
def test_zero_channels_give_an_empty_output(case_id: str, generator: torch.Generator) -> None:
    case = CASE_BY_ID[case_id]
    feeds = _feeds(case, generator, channels=0)
    output = run(case.session(torch.float32, torch.float32), feeds, torch.float32)
    assert output.shape == (3, 0, case.attributes["pooled_h"], case.attributes["pooled_w"])


def test_ps_divisibility_message_does_not_overflow(generator: torch.Generator) -> None:
    case = CASE_BY_ID["PSRoIPool"]
    session = case.session(torch.float32, torch.float32, pooled_h=65535, pooled_w=65535)
    with pytest.raises(ORT_ERRORS, match=r"pooled_h \* pooled_w \(4294836225\)"):
        run(session, _feeds(case, generator), torch.float32)


@pytest.mark.parametrize("case_id,attribute", [("RoIAlign-avg", "mode"),
                                               ("MultiScaleRoIAlign", "level_mapping")])
def test_non_utf8_string_attribute_is_escaped(case_id: str, attribute: str) -> None:
    case = CASE_BY_ID[case_id]
    model = make_model(case.op_type, case.input_specs(torch.float32, torch.float32),
                       torch.float32, **{**case.attributes, attribute: b"\xff\xfeavg\\"})
    with pytest.raises(ORT_ERRORS) as caught:
        create_session(model)
    assert f"attribute '{attribute}' must be" in str(caught.value)
    assert r"got '\xff\xfeavg\x5c'" in str(caught.value)


_BOUND_SCRIPT = r"""
import sys, torch
sys.path.insert(0, sys.argv[1])
from test_ort_ops import CASE_BY_ID, run
from roipool.ops import reference
case = CASE_BY_ID["RoIAlign-avg"]
session = case.session(torch.float32, torch.float32, sampling_ratio=-1, aligned=0)
x = torch.randn(2, 3, 40, 40, generator=torch.Generator().manual_seed(0))
rois = torch.tensor([[0, 0.0, 0.0, 1e30, 60.0], [1, -1e30, 3.0, 70.0, 1e30]])
output = run(session, {"input": x, "rois": rois}, torch.float32)
expected = reference.roi_align_reference(x.double(), rois, 3, 2, 0.5, -1, False, "avg")
print(float((output - expected).abs().max()))
"""


def test_sample_bound_setting_applies_to_onnxruntime() -> None:
    """ROIPOOL_ADAPTIVE_SAMPLE_LIMIT caps ONNX Runtime's adaptive grid as the reference's."""
    result = subprocess.run(
        [sys.executable, "-c", _BOUND_SCRIPT, str(ROOT / "tests")], capture_output=True,
        text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": child_pythonpath(), "ROIPOOL_ADAPTIVE_SAMPLE_LIMIT": "10"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert float(result.stdout) <= 1e-5
    assert reference.adaptive_sample_limit() == reference.DEFAULT_ADAPTIVE_SAMPLE_LIMIT
