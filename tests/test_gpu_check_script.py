"""scripts/gpu_check.sh refuses to run, with the reason, where there is no usable GPU."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.sh"

pytestmark = pytest.mark.skipif(
    torch.cuda.is_available() or shutil.which("nvidia-smi") is not None,
    reason="this machine has a GPU: scripts/gpu_check.sh would run for real")


def run_check(tmp_path: Path, path: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path}
    return subprocess.run(["bash", str(SCRIPT), str(tmp_path / "out")], env=env,
                          capture_output=True, text=True, timeout=120)


def test_fails_without_a_gpu_driver(tmp_path: Path) -> None:
    result = run_check(tmp_path, os.environ["PATH"])
    assert result.returncode == 2
    assert "no nvidia-smi" in result.stderr
    assert "no nvidia-smi" in (tmp_path / "out" / "summary.md").read_text()


def test_fails_when_torch_sees_no_gpu(tmp_path: Path) -> None:
    # A driver tool that lists a GPU, while torch (CPU machine) finds none.
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "nvidia-smi").write_text("#!/bin/sh\necho 'GPU 0: stand-in'\n")
    (fake / "nvidia-smi").chmod(0o755)
    result = run_check(tmp_path, f"{fake}:{os.environ['PATH']}")
    assert result.returncode == 2
    assert "torch.cuda.is_available() is False" in result.stderr
    assert not (tmp_path / "out" / "build.log").exists(), "nothing may be built without a GPU"
