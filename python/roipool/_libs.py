"""Locating the native libraries roipool builds (kernel core, ONNX Runtime ops, TensorRT plugins,
torch operators).

Search order: the directory in ``ROIPOOL_LIBRARY_DIR`` (development builds, e.g.
``build/dev/lib``), then ``roipool/lib`` inside the installed package.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_LIB_DIR = Path(__file__).resolve().parent / "lib"

CORE_LIBRARY = "libroipool_core.so"
ORT_LIBRARY = "libroipool_ort.so"
TRT_LIBRARY = "libroipool_trt.so"
# torch.ops.roipool kernels registered in C++ (torch stable ABI; built only with torch).
TORCH_LIBRARY = "libroipool_torch.so"


def library_dirs() -> list[Path]:
    """Directories searched for roipool's native libraries, in order."""
    dirs = []
    if os.environ.get("ROIPOOL_LIBRARY_DIR"):
        dirs.append(Path(os.environ["ROIPOOL_LIBRARY_DIR"]).resolve())
    dirs.append(_PACKAGE_LIB_DIR)
    return dirs


def find_library(name: str) -> Path | None:
    """Full path of the native library ``name``, or ``None`` when it was not built."""
    for directory in library_dirs():
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def require_library(name: str) -> Path:
    """Like :func:`find_library` but raises a clear error when the library is missing."""
    path = find_library(name)
    if path is None:
        searched = ", ".join(str(d) for d in library_dirs())
        raise FileNotFoundError(
            f"{name} was not found (searched {searched}); build roipool with `pip install .` "
            "or point ROIPOOL_LIBRARY_DIR at a CMake build's lib/ directory"
        )
    return path
