"""The roipool command: info, export + run round trip, demo on a tiny config, errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import child_pythonpath
from roipool._libs import ORT_LIBRARY, find_library
from roipool.cli import main

needs_ort = pytest.mark.skipif(find_library(ORT_LIBRARY) is None,
                               reason=f"{ORT_LIBRARY} was not built")
TINY = ["--channels", "4", "--pooled", "2", "--height", "32", "--width", "64", "--rois", "3"]


def test_info_lists_versions_and_libraries(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("roipool ")
    for item in ("torch ", "onnxruntime ", "libroipool_core.so:", "libroipool_ort.so:",
                 "libroipool_trt.so:", "CUDA kernels compiled:"):
        assert item in out


def test_python_dash_m_runs_the_cli() -> None:
    env = {**os.environ, "PYTHONPATH": child_pythonpath()}
    result = subprocess.run([sys.executable, "-m", "roipool", "--help"], capture_output=True,
                            text=True, check=False, env=env)
    assert result.returncode == 0
    for command in ("demo", "export", "run", "build", "bench", "info"):
        assert command in result.stdout


@needs_ort
def test_export_then_run_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model_path = tmp_path / "detector.onnx"
    assert main(["export", "--variant", "roi_align_rotated", "--torchscript", "-o",
                 str(model_path), *TINY]) == 0
    model = onnx.load(model_path)
    assert [n.op_type for n in model.graph.node if n.domain == "roipool"] == ["RoIAlignRotated"]
    outputs = tmp_path / "out.npz"
    assert main(["run", str(model_path), "--dim", "K=6", "--dim", "H=64", "--dim", "W=32",
                 "--repeats", "2", "--save", str(outputs)]) == 0
    assert "scores: shape [6, 5]" in capsys.readouterr().out
    saved = np.load(outputs)
    assert saved["deltas"].shape == (6, 20) and np.isfinite(saved["deltas"]).all()


@needs_ort
def test_run_reads_npy_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model_path = tmp_path / "detector.onnx"
    assert main(["export", "--variant", "roi_align", "--torchscript", "--standard-ops", "-o",
                 str(model_path), *TINY]) == 0
    assert "RoiAlign" in capsys.readouterr().out
    rois = tmp_path / "rois.npy"
    np.save(rois, np.zeros((0, 5), np.float32))
    assert main(["run", str(model_path), "--input", f"rois={rois}", "--repeats", "1"]) == 0
    assert "scores: shape [0, 5]" in capsys.readouterr().out
    assert main(["run", str(model_path), "--input", f"boxes={rois}"]) == 1


@needs_ort
def test_demo_on_tiny_config(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["demo", "--variants", "roi_align", "deform_roi_pool", "--repeats", "2",
                   "--torchscript", "--no-torchvision", *TINY])
    out = capsys.readouterr().out
    assert "RoIWarp" in out  # the quantisation demo ran first
    rows = [line.split() for line in out.splitlines()
            if line.startswith(("roi_align ", "deform_roi_pool "))]
    assert [row[0] for row in rows] == ["roi_align", "deform_roi_pool"]
    assert all(row[-1] == "ok" and float(row[1]) <= float(row[2]) for row in rows)
    assert status == 0


def test_build_without_tensorrt_says_so(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("onnx")
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("TensorRT is installed")
    assert main(["build", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "m.engine")]) == 1
    assert "TensorRT" in capsys.readouterr().err


def test_bad_shape_option_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "m.onnx", "-o", "m.engine", "--shape", "images=1x3x32x32"]) == 1
    assert "NAME=MIN:OPT:MAX" in capsys.readouterr().err


@needs_ort
def test_bench_prints_a_latency_per_variant(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--variants", "ps_roi_align", "--repeats", "2", *TINY]) == 0
    (row,) = [line.split() for line in capsys.readouterr().out.splitlines()
              if line.startswith("ps_roi_align")]
    assert float(row[1]) > 0


def test_bench_unknown_script_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--script", "no_such_bench"]) == 1
    assert "no bench script" in capsys.readouterr().err
