"""The serving side without torch (torch made unimportable in a child process):
`roipool info`, `roipool run`, runtime.ort and the Ray Serve replica class; and
create_session leaving the caller's SessionOptions untouched. The same is checked in a
real torch-free venv by scripts/check_torch_free.sh (CI)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import onnx
import onnxruntime
import pytest
from conftest import child_pythonpath
from roipool._libs import ORT_LIBRARY, find_library
from roipool.cli import main

pytestmark = pytest.mark.skipif(find_library(ORT_LIBRARY) is None,
                                reason=f"{ORT_LIBRARY} was not built")
TINY = ["--channels", "4", "--pooled", "2", "--height", "32", "--width", "64", "--rois", "3"]


@pytest.fixture(scope="module")
def detector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("torch_free") / "detector.onnx"
    assert main(["export", "--variant", "roi_align_rotated", "--torchscript", "-o", str(path),
                 *TINY]) == 0
    return path


def test_cli_runtime_and_ray_replica_without_torch(detector: Path, tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys
        sys.modules["torch"] = None  # any `import torch` now raises ImportError
        import numpy as np
        from roipool.cli import main
        assert main(["info"]) == 0
        assert main(["run", {str(detector)!r}, "--repeats", "1", "--dim", "K=4",
                     "--save", {str(tmp_path / "out.npz")!r}]) == 0
        from roipool.runtime.feeds import make_feeds
        from roipool.serving.ray import RoipoolModel
        replica = RoipoolModel.func_or_class(open({str(detector)!r}, "rb").read())
        outputs = replica.infer(make_feeds({str(detector)!r}, num_rois=5))
        print("replica", outputs["scores"].shape)
        print("torch modules", sorted(m for m, v in sys.modules.items()
                                      if m.split(".")[0] == "torch" and v is not None))
    """)
    env = {**os.environ, "PYTHONPATH": child_pythonpath()}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=False, env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "torch not installed" in result.stdout
    assert "scores: shape [4, 5]" in result.stdout
    assert "replica (5, 5)" in result.stdout
    assert "torch modules []" in result.stdout


def test_create_session_never_mutates_the_callers_options(detector: Path) -> None:
    from roipool.runtime.ort import create_session

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    first = create_session(detector, session_options=options)
    second = create_session(detector, session_options=options)  # 'Domain already set' before
    assert first.get_outputs()[0].name == second.get_outputs()[0].name == "scores"
    assert options.intra_op_num_threads == 1
    # The caller's options still lack roipool's library.
    with pytest.raises(Exception, match="RoIAlignRotated"):
        onnxruntime.InferenceSession(str(detector), sess_options=options,
                                     providers=["CPUExecutionProvider"])
    assert any(n.domain == "roipool" for n in onnx.load(detector).graph.node)


def test_create_session_copies_properties_and_config_entries(detector: Path) -> None:
    from roipool.runtime.ort import _copy_options

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 3
    options.execution_mode = onnxruntime.ExecutionMode.ORT_PARALLEL
    options.logid = "caller"
    copy = _copy_options(options, {"session.use_env_allocators": "1"})
    assert copy is not options
    assert (copy.intra_op_num_threads, copy.execution_mode, copy.logid) == (
        3, onnxruntime.ExecutionMode.ORT_PARALLEL, "caller")
    assert copy.get_session_config_entry("session.use_env_allocators") == "1"
