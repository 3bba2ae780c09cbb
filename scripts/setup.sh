#!/usr/bin/env bash
# Sets up roipool on a fresh machine: PyTorch and torchvision (torch==2.14.1 +
# torchvision==0.29.1 unless a torch is already installed), the ONNX tool chain, the
# pinned third-party headers, and the package itself with every native library that can
# be built here.
#
# Environment: see scripts/build_settings.sh (CUDA architectures: default sm_75..sm_90,
#              sm_100, sm_120 + PTX, from cmake/RoipoolCuda.cmake; ROIPOOL_BUILD_TESTS=ON).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

step() { echo "setup [$(date +%H:%M:%S)]: $*"; }
# long WHAT CMD...: runs CMD, saying every minute that WHAT is still going.
long() {
  local what=$1 rc=0 beat
  shift
  step "$what ..."
  (while sleep 60; do step "... still $what"; done) &
  beat=$!
  "$@" || rc=$?
  kill "$beat"
  wait "$beat" 2>/dev/null || true
  return "$rc"
}

# torch + torchvision as a pair: both pinned on a fresh machine; with a torch already
# installed (any version), the torchvision release built for it.
if ! "$PYTHON" -c "import torch" 2>/dev/null; then
  long "installing torch==2.14.1 torchvision==0.29.1 (about 5.5 GB)" \
    "$PYTHON" -m pip install -q torch==2.14.1 torchvision==0.29.1
elif ! "$PYTHON" -c "import torchvision" 2>/dev/null; then
  torch_version=$("$PYTHON" -c "import torch; print(torch.__version__.split('+')[0])")
  vision_minor=$(( $(echo "$torch_version" | cut -d. -f2) + 15 ))
  long "installing torchvision 0.$vision_minor.* for the installed torch $torch_version" \
    "$PYTHON" -m pip install -q "torchvision==0.$vision_minor.*" "torch==$torch_version" ||
    step "no torchvision for torch $torch_version: the torchvision tests will skip"
fi
step "installing the ONNX tool chain and build tools ..."
"$PYTHON" -m pip install -q "numpy" "onnx>=1.16,<1.24" "onnxruntime>=1.18" "onnxscript>=0.2" \
  "pytest>=8" "hypothesis>=6" "ruff" "scikit-build-core>=0.10" "ninja"
# The test setup also installs what the integration tests drive (they skip without it):
# Polygraphy, onnxsim, Ray Serve, and the Triton client's model-config protobuf.
if [[ "${ROIPOOL_BUILD_TESTS:-OFF}" == ON ]]; then
  long "installing the integration test tools (polygraphy, onnxsim, ray[serve], tritonclient)" \
    "$PYTHON" -m pip install -q "polygraphy>=0.49" "onnxsim" "ray[serve]>=2.9" \
    "tritonclient[grpc]>=2.40"
fi

# Pinned, checksummed headers (git-ignored); CMake finds them under .deps/.
step "fetching the pinned TensorRT and ONNX Runtime headers ..."
"$PYTHON" cmake/fetch_headers.py tensorrt .deps/tensorrt >/dev/null
"$PYTHON" cmake/fetch_headers.py onnxruntime .deps/onnxruntime >/dev/null

source scripts/build_settings.sh
long "building and installing roipool (native libraries; CUDA takes minutes per architecture)" \
  "$PYTHON" -m pip install -q --no-build-isolation . "${ROIPOOL_PIP_SETTINGS[@]}"
step "done"
"$PYTHON" -m roipool info
