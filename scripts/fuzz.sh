#!/usr/bin/env bash
# Sanitizer fuzz job (issue 10): builds the kernel core, the ONNX Runtime library and the
# TensorRT library CPU-only with AddressSanitizer + UBSan (build/asan), then feeds them
# random and mutated inputs for a bounded number of iterations (fixed seeds, so a finding
# reproduces): tests/cpp/fuzz_surfaces.cpp drives the C ABI and the TensorRT plugins,
# scripts/fuzz_ort.py drives ONNX Runtime sessions (Python with libasan preloaded).
# Exit status 1 on any finding. Sizes: FUZZ_CABI, FUZZ_TRT, FUZZ_ORT (iterations).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
BUILD=${FUZZ_BUILD_DIR:-build/asan}
DEPS=${ROIPOOL_DEPS_DIR:-$PWD/.deps}
SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"

start=$(date +%s)
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DROIPOOL_WITH_CUDA=OFF \
  -DROIPOOL_WITH_ONNXRUNTIME=ON -DROIPOOL_WITH_TENSORRT=ON -DROIPOOL_BUILD_TESTS=ON \
  -DROIPOOL_DEPS_DIR="$DEPS" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DCMAKE_CXX_FLAGS="$SANITIZE" -DCMAKE_EXE_LINKER_FLAGS="$SANITIZE" \
  -DCMAKE_SHARED_LINKER_FLAGS="$SANITIZE" > "$BUILD.cmake.log"
cmake --build "$BUILD" --target roipool_fuzz roipool_ort -j "${FUZZ_JOBS:-2}" > "$BUILD.build.log"
built=$(date +%s)

# A small adaptive-sample bound keeps absurd fuzz boxes cheap and exercises the setting.
export ROIPOOL_ADAPTIVE_SAMPLE_LIMIT=${ROIPOOL_ADAPTIVE_SAMPLE_LIMIT:-64}
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=0:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
"$BUILD/bin/roipool_fuzz" --seed "${FUZZ_SEED:-1}" --cabi "${FUZZ_CABI:-40000}" \
  --trt "${FUZZ_TRT:-40000}" "$BUILD/lib/libroipool_trt.so"
native=$(date +%s)

# ONNX Runtime and Python are not instrumented: the sanitizer runtimes are preloaded so
# that the instrumented libroipool_ort.so finds them.
LD_PRELOAD="$(${CXX:-g++} -print-file-name=libasan.so):$(${CXX:-g++} -print-file-name=libubsan.so)" \
  "$PYTHON" scripts/fuzz_ort.py --library "$BUILD/lib/libroipool_ort.so" \
  --seed "${FUZZ_SEED:-1}" --models "${FUZZ_ORT:-1000}"
done_at=$(date +%s)
echo "fuzz: build $((built - start)) s, C ABI + TensorRT $((native - built)) s," \
  "ONNX Runtime $((done_at - native)) s"
