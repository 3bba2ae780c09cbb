# Sourced by setup.sh and check_wheel.sh: the pip --config-settings of roipool's CMake
# build, from the environment, so both builds share build/release without rebuilding.
#   ROIPOOL_CUDA_ARCHITECTURES  (default: cmake/RoipoolCuda.cmake's list)
#   ROIPOOL_BUILD_TESTS=ON      also build the C++ test harnesses
#   ROIPOOL_WITH_CUDA           ON / OFF / AUTO (default AUTO: when nvcc works)
#   ROIPOOL_DEPS_DIR            where the fetched headers are (default .deps)
ROIPOOL_PIP_SETTINGS=(--config-settings=cmake.define.ROIPOOL_BUILD_TESTS="${ROIPOOL_BUILD_TESTS:-OFF}")
if [[ -n "${ROIPOOL_CUDA_ARCHITECTURES:-}" ]]; then
  ROIPOOL_PIP_SETTINGS+=(--config-settings=cmake.define.ROIPOOL_CUDA_ARCHITECTURES="$ROIPOOL_CUDA_ARCHITECTURES")
fi
if [[ -n "${ROIPOOL_WITH_CUDA:-}" ]]; then
  ROIPOOL_PIP_SETTINGS+=(--config-settings=cmake.define.ROIPOOL_WITH_CUDA="$ROIPOOL_WITH_CUDA")
fi
if [[ -n "${ROIPOOL_DEPS_DIR:-}" ]]; then
  ROIPOOL_PIP_SETTINGS+=(--config-settings=cmake.define.ROIPOOL_DEPS_DIR="$ROIPOOL_DEPS_DIR")
fi
