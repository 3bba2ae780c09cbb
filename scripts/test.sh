#!/usr/bin/env bash
# Sets up roipool (scripts/setup.sh, with the C++ harnesses) and runs every test that
# this machine can run: lint, the C++ harnesses (ctest), the Python suite against the
# installed package, the wheel / torch-free checks (scripts/check_wheel.sh), then the
# sanitizer fuzz job (scripts/fuzz.sh). GPU / TensorRT tests skip where those are absent.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

ROIPOOL_BUILD_TESTS=ON bash scripts/setup.sh
"$PYTHON" -m ruff check python tests bench export scripts
ctest --test-dir build/release --output-on-failure
ROIPOOL_TEST_INSTALLED=1 ROIPOOL_HARNESS_DIR="$PWD/build/release/bin" \
  "$PYTHON" -m pytest -q -p no:cacheprovider tests "$@"
# Wheel tag (py3-none-manylinux), auditwheel, and `roipool info` / `run` in a torch-free venv.
ROIPOOL_BUILD_TESTS=ON bash scripts/check_wheel.sh
bash scripts/fuzz.sh
