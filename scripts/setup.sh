#!/usr/bin/env bash
# Sets up roipool on a fresh machine: PyTorch (the CPU 2.13.0 wheel unless a torch is
# already installed), the ONNX tool chain, the pinned third-party headers, and the
# package itself with every native library that can be built here.
#
# Environment: see scripts/build_settings.sh (CUDA architectures: default sm_75..sm_90,
#              sm_100, sm_120 + PTX, from cmake/RoipoolCuda.cmake; ROIPOOL_BUILD_TESTS=ON).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

if ! "$PYTHON" -c "import torch" 2>/dev/null; then
  "$PYTHON" -m pip install -q torch==2.13.0
fi
"$PYTHON" -m pip install -q "numpy" "onnx>=1.16,<1.24" "onnxruntime>=1.18" "onnxscript>=0.2" \
  "pytest>=8" "hypothesis>=6" "ruff" "scikit-build-core>=0.10" "ninja"

# Pinned, checksummed headers (git-ignored); CMake finds them under .deps/.
"$PYTHON" cmake/fetch_headers.py tensorrt .deps/tensorrt >/dev/null
"$PYTHON" cmake/fetch_headers.py onnxruntime .deps/onnxruntime >/dev/null

source scripts/build_settings.sh
"$PYTHON" -m pip install -q --no-build-isolation . "${ROIPOOL_PIP_SETTINGS[@]}"
"$PYTHON" -m roipool info
