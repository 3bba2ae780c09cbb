"""Runs the TensorRT-free plugin harness (tests/cpp) and checks libroipool_trt.so's exports.

The harness drives every plugin as TensorRT would (creators, fields, shapes, formats,
serialization, malformed input) and, on a CUDA machine, compares enqueue with the CPU
kernels. Skipped only when the library or the harness binary was not built.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
from pathlib import Path

import pytest
from roipool._libs import TRT_LIBRARY, find_library

HARNESS = "roipool_trt_harness"


def _library() -> Path:
    path = find_library(TRT_LIBRARY)
    if path is None:
        pytest.skip(f"{TRT_LIBRARY} not built")
    return path


def _harness(library: Path) -> Path:
    """The harness binary: in $ROIPOOL_HARNESS_DIR, else in <build>/bin next to <build>/lib."""
    candidates = [library.parent.parent / "bin" / HARNESS]
    if os.environ.get("ROIPOOL_HARNESS_DIR"):
        candidates.insert(0, Path(os.environ["ROIPOOL_HARNESS_DIR"]) / HARNESS)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    pytest.skip(f"{HARNESS} not built (ROIPOOL_BUILD_TESTS=ON builds it)")


def test_plugin_harness_passes() -> None:
    library = _library()
    result = subprocess.run(
        [str(_harness(library)), str(library)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    summary = output.strip().splitlines()[-1]
    passed = int(summary.split()[0])
    assert summary.endswith(" 0 failed") and passed > 500, summary


def test_library_exports_nine_creators_and_the_aliases() -> None:
    lib = ctypes.CDLL(str(_library()))
    lib.getCreators.restype = ctypes.c_void_p
    lib.getCreators.argtypes = [ctypes.POINTER(ctypes.c_int32)]
    count = ctypes.c_int32(-1)
    assert lib.getCreators(ctypes.byref(count)) is not None
    assert count.value == 9 + 5  # roipool's ops, then docs/mmdeploy.md's TensorRT aliases
    assert hasattr(lib, "setLoggerFinder")


def test_register_without_tensorrt_registers_nothing() -> None:
    lib = ctypes.CDLL(str(_library()))
    lib.roipool_trt_register_creators.restype = ctypes.c_int32
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        assert lib.roipool_trt_register_creators() == 0
    else:
        pytest.skip("TensorRT is importable; registration is covered by test_tensorrt.py")


def test_trt_library_path_points_at_the_library() -> None:
    from roipool.runtime.trt import trt_library_path

    assert Path(trt_library_path()) == _library()


def test_runtime_without_tensorrt_raises_a_clear_error(tmp_path: Path) -> None:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("TensorRT is importable")
    from roipool.runtime.trt import build_engine

    with pytest.raises(ImportError, match="TensorRT Python package"):
        build_engine(tmp_path / "model.onnx", tmp_path / "model.engine")
