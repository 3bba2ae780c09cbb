"""A build that cannot get the ONNX Runtime / TensorRT headers fails with a message saying
how to turn that backend off, instead of silently building without it (CMake configure
only, no compilation)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SYSTEM_HEADERS = [Path(d) / h for d in ("/usr/include", "/usr/local/include")
                  for h in ("onnxruntime_cxx_api.h", "NvInferRuntime.h")]
pytestmark = pytest.mark.skipif(
    shutil.which("cmake") is None or any(h.exists() for h in SYSTEM_HEADERS),
    reason="needs cmake and no system-wide ONNX Runtime / TensorRT headers")


def _configure(build: Path, *defines: str) -> subprocess.CompletedProcess[str]:
    """Configure without network (no header fetching) and with no fetched headers."""
    empty = build / "no-deps"
    empty.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        ["cmake", "-S", str(ROOT), "-B", str(build), "-DROIPOOL_FETCH_HEADERS=OFF",
         f"-DROIPOOL_DEPS_DIR={empty}", "-DROIPOOL_WITH_CUDA=OFF", "-DROIPOOL_BUILD_TESTS=OFF",
         *defines], capture_output=True, text=True, check=False, timeout=300,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "TENSORRT_ROOT": "", "ONNXRUNTIME_ROOT": ""})


def test_missing_headers_fail_naming_the_switch(tmp_path: Path) -> None:
    result = _configure(tmp_path / "default")
    assert result.returncode != 0
    assert "no ONNX Runtime headers were found" in result.stderr
    assert "-DROIPOOL_WITH_ONNXRUNTIME=OFF" in result.stderr

    result = _configure(tmp_path / "no-ort", "-DROIPOOL_WITH_ONNXRUNTIME=OFF")
    assert result.returncode != 0
    assert "no TensorRT (>= 10) headers were found" in result.stderr
    assert "-DROIPOOL_WITH_TENSORRT=OFF" in result.stderr


def test_backends_turned_off_explicitly_configure(tmp_path: Path) -> None:
    result = _configure(tmp_path / "off", "-DROIPOOL_WITH_ONNXRUNTIME=OFF",
                        "-DROIPOOL_WITH_TENSORRT=OFF")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ONNX Runtime custom ops disabled" in result.stdout


def test_torch_operators_are_optional(tmp_path: Path) -> None:
    """libroipool_torch is skipped (AUTO) or refused (ON) without torch; the rest builds."""
    off = ("-DROIPOOL_WITH_ONNXRUNTIME=OFF", "-DROIPOOL_WITH_TENSORRT=OFF")
    no_torch = f"-DROIPOOL_TORCH_DIR={tmp_path / 'no-torch'}"
    result = _configure(tmp_path / "auto", *off, no_torch)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "torch not found, skipping libroipool_torch" in result.stdout

    result = _configure(tmp_path / "on", *off, no_torch, "-DROIPOOL_WITH_TORCH=ON")
    assert result.returncode != 0
    assert "ROIPOOL_WITH_TORCH=ON but no torch with stable-ABI headers" in result.stderr
