#!/usr/bin/env bash
# One-shot GPU evidence run (issue: "GPU evidence and CUDA speed"). On a bare GPU machine
# with the repository copied over (plus the git-ignored .deps/ from a machine with
# internet: `bash scripts/gpu_check.sh --fetch` there), it
#   1. checks the machine (nvidia-smi, nvcc, torch.cuda, compute-sanitizer),
#   2. builds the core, ONNX Runtime and TensorRT libraries for this GPU only (sm_90 by
#      default: ROIPOOL_GPU_ARCH),
#   3. runs ctest (the TensorRT harness's enqueue section runs on real device buffers),
#   4. runs the CUDA parity suite (pytest -m cuda: forward, and backward where native
#      backward kernels exist),
#   5. runs compute-sanitizer memcheck and racecheck on a representative subset
#      (every op once through the C ABI, and the TensorRT harness),
#   6. runs bench/bench_cuda.py (fp32/fp16/bf16, FPN workload and 10,000 RoIs),
# and writes everything under one folder (default bench/out/gpu; first argument
# overrides): one log per step, bench JSON, steps.json and summary.md.
# Each step has its own time limit; the whole run is planned for under 8 minutes.
# Exits 2 at once, with the reason, on a machine without a usable GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
WHEELS=.deps/wheels

if [[ "${1:-}" == "--fetch" ]]; then
  # On a machine with internet: the pinned, hash-checked test tools the GPU machine lacks.
  "$PYTHON" -m pip download -q --no-deps --require-hashes -r scripts/gpu_requirements.txt -d "$WHEELS"
  echo "gpu_check: test wheels in $WHEELS (they travel with .deps/)"
  exit 0
fi

OUT_DIR=$(mkdir -p "${1:-bench/out/gpu}" && cd "${1:-bench/out/gpu}" && pwd)
ARCH=${ROIPOOL_GPU_ARCH:-90}
BUILD=build/gpu
START=$(date +%s)
STEPS=()

fail_setup() {
  echo "gpu_check: $1" | tee "$OUT_DIR/summary.md" >&2
  exit 2
}

# step NAME LIMIT_S COMMAND...: runs with a time limit, logs to NAME.log, records status.
step() {
  local name=$1 limit=$2; shift 2
  local t0=$(date +%s) rc
  echo "== [$name] (limit ${limit}s): $*"
  timeout --kill-after=10 "$limit" "$@" >"$OUT_DIR/$name.log" 2>&1
  rc=$?
  local secs=$(( $(date +%s) - t0 ))
  local verdict=passed
  if [[ $rc == 124 || $rc == 137 ]]; then verdict="timed out"; elif [[ $rc != 0 ]]; then verdict=failed; fi
  echo "   $verdict in ${secs}s (log: $OUT_DIR/$name.log)"
  tail -n 3 "$OUT_DIR/$name.log" | sed 's/^/   | /'
  STEPS+=("$name|$verdict|$rc|$secs")
}

# ---- 1. the machine ----------------------------------------------------------------------
command -v nvidia-smi >/dev/null || fail_setup "no nvidia-smi: this machine has no NVIDIA GPU driver; run this on a GPU machine."
nvidia-smi -L >/dev/null 2>&1 || fail_setup "nvidia-smi finds no GPU; run this on a GPU machine."
"$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null \
  || fail_setup "torch is missing or torch.cuda.is_available() is False; a CUDA build of torch and a GPU are needed."
command -v nvcc >/dev/null || fail_setup "nvcc not found: the CUDA toolkit is needed to build the kernels."
# compute-sanitizer ships with the toolkit but is often not on PATH.
NVCC_DIR=$(dirname "$(command -v nvcc)")
for dir in "$NVCC_DIR" "$NVCC_DIR/../compute-sanitizer" "${CUDA_HOME:-/usr/local/cuda}/compute-sanitizer"; do
  [[ -x $dir/compute-sanitizer ]] && PATH=$PATH:$(cd "$dir" && pwd) && break
done
[[ -d .deps/tensorrt && -d .deps/onnxruntime ]] \
  || fail_setup ".deps/ (TensorRT and ONNX Runtime headers) is missing: fetch it on a machine with internet (bash scripts/setup.sh or cmake/fetch_headers.py) and copy it over."
if ! "$PYTHON" -c "import pytest" 2>/dev/null; then
  [[ -d $WHEELS ]] || fail_setup "pytest is not installed and $WHEELS is missing: run 'bash scripts/gpu_check.sh --fetch' where there is internet."
  "$PYTHON" -m pip install -q --no-index --find-links "$WHEELS" --require-hashes -r scripts/gpu_requirements.txt \
    || fail_setup "could not install pytest from $WHEELS"
fi
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  nvcc --version | tail -n 2
  "$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
  "$PYTHON" -c "import torchvision; print('torchvision', torchvision.__version__)" 2>&1 | tail -n 1
  "$PYTHON" -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.get_available_providers())" 2>&1 | tail -n 1
  command -v compute-sanitizer || echo "compute-sanitizer: not found"
} >"$OUT_DIR/machine.txt" 2>&1
cat "$OUT_DIR/machine.txt"

# ---- 2. build for this GPU ---------------------------------------------------------------
step build 240 bash -c "cmake -S . -B $BUILD -G Ninja -DCMAKE_BUILD_TYPE=Release -DROIPOOL_WITH_CUDA=ON \
  -DROIPOOL_CUDA_ARCHITECTURES=$ARCH -DROIPOOL_BUILD_TESTS=ON -DROIPOOL_FETCH_HEADERS=OFF \
  && cmake --build $BUILD -j \$(nproc)"
export ROIPOOL_LIBRARY_DIR=$PWD/$BUILD/lib ROIPOOL_HARNESS_DIR=$PWD/$BUILD/bin PYTHONPATH=$PWD/python

# ---- 3-4. C++ harnesses and the CUDA parity suite ----------------------------------------
step ctest 90 ctest --test-dir "$BUILD" --output-on-failure
step pytest_cuda 180 "$PYTHON" -m pytest -q -p no:cacheprovider -m cuda \
  --junitxml="$OUT_DIR/pytest_cuda.xml" tests

# ---- 5. compute-sanitizer on a representative subset ------------------------------------
if command -v compute-sanitizer >/dev/null; then
  for tool in memcheck racecheck; do
    step "sanitizer_${tool}_ops" 120 compute-sanitizer --tool "$tool" --error-exitcode 9 \
      "$PYTHON" scripts/gpu_sanitizer_subset.py
    step "sanitizer_${tool}_trt" 90 compute-sanitizer --tool "$tool" --error-exitcode 9 \
      "$BUILD/bin/roipool_trt_harness" "$BUILD/lib/libroipool_trt.so"
  done
else
  STEPS+=("sanitizer|not run: compute-sanitizer not found|-|0")
fi

# ---- 6. benchmark ------------------------------------------------------------------------
step bench_cuda 150 "$PYTHON" bench/bench_cuda.py --json "$OUT_DIR/cuda.json"

# ---- summary -----------------------------------------------------------------------------
TOTAL=$(( $(date +%s) - START ))
"$PYTHON" - "$OUT_DIR" "$TOTAL" "${STEPS[@]}" <<'EOF'
import json, sys
from pathlib import Path
out, total, rows = Path(sys.argv[1]), int(sys.argv[2]), [s.split("|") for s in sys.argv[3:]]
steps = [{"step": n, "verdict": v, "exit_code": rc, "seconds": int(t)} for n, v, rc, t in rows]
(out / "steps.json").write_text(json.dumps({"total_seconds": total, "steps": steps}, indent=2) + "\n")
lines = ["# GPU check", "", "```", (out / "machine.txt").read_text().strip(), "```", "",
         "| step | verdict | exit | seconds |", "|---|---|---|---|"]
lines += [f"| {s['step']} | {s['verdict']} | {s['exit_code']} | {s['seconds']} |" for s in steps]
lines += ["", f"Total: {total} s."]
bench = out / "bench_cuda.log"
if bench.exists():
    lines += ["", "## bench_cuda", "", "```", bench.read_text().strip(), "```"]
(out / "summary.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines[:len(steps) + 10]))
EOF
for s in "${STEPS[@]}"; do [[ $s == *"|passed|"* ]] || exit 1; done
