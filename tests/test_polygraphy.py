"""The polygraphy CLI on roipool models: ``--roipool-onnxrt`` vs standard-ops ONNX Runtime
and vs outputs saved from eager PyTorch, on RoIs from roipool's data loader script."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from roipool._libs import ORT_LIBRARY, find_library

polygraphy = pytest.importorskip("polygraphy")
pytestmark = pytest.mark.skipif(find_library(ORT_LIBRARY) is None,
                                reason=f"{ORT_LIBRARY} was not built")
# The `polygraphy` console script's own entry, run by this interpreter (so the roipool it
# finds is the one under test, installed or not).
POLYGRAPHY_CLI = ("import sys; from polygraphy.tools import main; "
                  "sys.argv[0] = 'polygraphy'; sys.exit(main())")

from conftest import child_pythonpath  # noqa: E402
from polygraphy.comparator import RunResults  # noqa: E402
from polygraphy.comparator.struct import IterationResult  # noqa: E402
from polygraphy.json import load_json  # noqa: E402
from roipool.export.verify import export_detector  # noqa: E402
from roipool.models import DetectorConfig  # noqa: E402
from roipool.polygraphy import DATA_LOADER_SCRIPT  # noqa: E402

ENTRY_POINT = "roipool = roipool.polygraphy:get_arg_groups"
TOLERANCE = ["--atol", "2e-5", "--rtol", "0"]  # SPEC float32 bar for these magnitudes


def _entry_point_installed() -> bool:
    plugins = metadata.entry_points(group="polygraphy.run.plugins")
    return any(p.value == "roipool.polygraphy:get_arg_groups" for p in plugins)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for the polygraphy CLI. Without an installed roipool, a dist-info
    folder declaring the same entry point as pyproject.toml puts the source tree's
    extension in reach of importlib.metadata."""
    environ = dict(os.environ)
    if _entry_point_installed():
        return environ
    site = tmp_path_factory.mktemp("entry_point")
    info = site / "roipool_source_tree-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: roipool-source-tree\n"
                                   "Version: 0\n")
    (info / "entry_points.txt").write_text(f"[polygraphy.run.plugins]\n{ENTRY_POINT}\n")
    environ["PYTHONPATH"] = child_pythonpath(str(site))
    return environ


def _polygraphy(env: dict[str, str], *args: str | Path) -> str:
    result = subprocess.run([sys.executable, "-c", POLYGRAPHY_CLI, "run", *map(str, args)],
                            capture_output=True,
                            text=True, check=False, env=env, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "PASSED" in output, output[-4000:]
    return output


def test_pyproject_declares_the_entry_point() -> None:
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    text = pyproject.read_text()
    assert '[project.entry-points."polygraphy.run.plugins"]' in text
    assert ENTRY_POINT.replace("= ", '= "') + '"' in text


def _export(tmp_path: Path, variant: str, standard_ops: bool = False
            ) -> tuple[torch.nn.Module, Path]:
    model, proto = export_detector(DetectorConfig(variant=variant, channels=4, pooled=2),
                                   dynamo=False, standard_ops=standard_ops)
    path = tmp_path / f"{variant}{'_standard' if standard_ops else ''}.onnx"
    onnx.save(proto, path)
    return model, path


def _save_eager_outputs(model: torch.nn.Module, inputs_path: Path, path: Path) -> None:
    """Eager PyTorch (float64) outputs on polygraphy's saved inputs, as a polygraphy
    RunResults file for --load-outputs."""
    iterations = []
    model = model.double()
    for feeds in load_json(inputs_path):
        with torch.no_grad():
            scores, deltas = model(torch.from_numpy(feeds["images"]).double(),
                                   torch.from_numpy(feeds["rois"]).double())
        iterations.append(IterationResult(
            {"scores": scores.float().numpy(), "deltas": deltas.float().numpy()},
            runner_name="eager-pytorch"))
    RunResults([("eager-pytorch", iterations)]).save(str(path))


def _assert_valid_rois(feeds: dict[str, np.ndarray], rotated: bool) -> None:
    batch, _, height, width = feeds["images"].shape
    rois = feeds["rois"]
    index = rois[:, 0]
    assert np.all(index == np.round(index)) and index.min() >= 0 and index.max() < batch
    assert np.isfinite(rois).all()
    if rotated:
        cx, cy, w, h = rois[:, 1:5].T
        radius = np.hypot(w, h) / 2
        assert (w > 0).all() and (h > 0).all()
        assert (cx - radius >= 0).all() and (cx + radius <= width).all()
        assert (cy - radius >= 0).all() and (cy + radius <= height).all()
    else:
        x1, y1, x2, y2 = rois[:, 1:].T
        assert (x2 > x1).all() and (y2 > y1).all()
        assert (x1 >= 0).all() and (y1 >= 0).all()
        assert (x2 <= width).all() and (y2 <= height).all()


def _rows_differ(results_path: Path) -> bool:
    """Whether the RoIs got different outputs (when every RoI pools to zeros, every row
    of the head's output is the same bias)."""
    (_, iterations), = RunResults.load(str(results_path))
    scores = iterations[0]["scores"]
    return bool(np.ptp(scores, axis=0).max() > 1e-5)


@pytest.mark.parametrize("variant", ["roi_align", "roi_pool"])
def test_roipool_ort_matches_standard_ort_and_eager(variant: str, tmp_path: Path,
                                                    env: dict[str, str]) -> None:
    model, roipool_model = _export(tmp_path, variant)
    _, standard_model = _export(tmp_path, variant, standard_ops=True)
    standard_ops = {n.op_type for n in onnx.load(standard_model).graph.node}
    assert standard_ops & {"RoiAlign", "MaxRoiPool"}
    inputs, standard, eager = tmp_path / "in.json", tmp_path / "std.json", tmp_path / "eager.json"
    _polygraphy(env, standard_model, "--onnxrt", "--data-loader-script", DATA_LOADER_SCRIPT,
                "--iterations", "2", "--save-inputs", inputs, "--save-outputs", standard)
    for feeds in load_json(inputs):
        _assert_valid_rois(feeds, rotated=False)
    assert _rows_differ(standard)
    _save_eager_outputs(model, inputs, eager)
    output = _polygraphy(env, roipool_model, "--roipool-onnxrt", "--load-inputs", inputs,
                         "--load-outputs", standard, eager, *TOLERANCE)
    assert "Creating ONNX Runtime session with roipool ops" in output
    assert output.count("PASSED | Output: 'scores'") >= 4, output[-4000:]  # 2 refs x 2 iters


def test_rotated_and_multi_scale_vs_eager(tmp_path: Path, env: dict[str, str]) -> None:
    for variant in ("roi_align_rotated", "multi_scale_roi_align"):
        model, path = _export(tmp_path, variant)
        inputs, eager = tmp_path / f"{variant}_in.json", tmp_path / f"{variant}_eager.json"
        ours = tmp_path / f"{variant}_ours.json"
        _polygraphy(env, path, "--roipool-onnxrt", "--data-loader-script", DATA_LOADER_SCRIPT,
                    "--seed", "3", "--save-inputs", inputs, "--save-outputs", ours)
        _assert_valid_rois(load_json(inputs)[0], rotated=variant == "roi_align_rotated")
        assert _rows_differ(ours)
        _save_eager_outputs(model, inputs, eager)
        _polygraphy(env, path, "--roipool-onnxrt", "--load-inputs", inputs,
                    "--load-outputs", eager, *TOLERANCE)


def test_default_random_data_is_trivial_and_warned(tmp_path: Path, env: dict[str, str]) -> None:
    """Why the data loader exists: polygraphy's own random RoIs pool to zeros."""
    _, path = _export(tmp_path, "roi_align")
    outputs = tmp_path / "out.json"
    output = _polygraphy(env, path, "--roipool-onnxrt", "--save-outputs", outputs)
    assert "random inputs give invalid RoIs" in output
    assert not _rows_differ(outputs)


def test_data_loader_script_runs_outside_polygraphy(tmp_path: Path) -> None:
    _, path = _export(tmp_path, "roi_align_rotated")
    code = (f"import runpy; feeds = runpy.run_path({DATA_LOADER_SCRIPT!r})['load_data']()[0]; "
            "print(sorted(feeds), feeds['rois'].shape)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False, env={**os.environ, "ROIPOOL_MODEL": str(path),
                                              "PYTHONPATH": os.pathsep.join(sys.path)})
    assert result.returncode == 0, result.stderr
    assert "['images', 'rois'] (8, 6)" in result.stdout
