#!/bin/bash
# One prepared GPU slot: the GPU tests, the kernel benchmark and whole
# models. Everything it runs was built on the development machine and
# gathered by bench/gpu/stage.sh into one folder (BUILD/device), which the
# slot carries; GPU machines have no LLVM or MLIR. There, from the tree's
# root:
#
#   bench/gpu/run.sh [DEVICE_DIR]          # tests, kernels, whole models
#   QUICK=1 bench/gpu/run.sh [DEVICE_DIR]  # the kernels' quick pass only
#
# Each section has its own time limit (the kernel benchmark also its own
# budget in seconds, BUDGET, default 240), so one slow part cannot take the
# others' time; the whole run stays under 6 minutes. Everything printed
# also goes to $LOG_DIR/gpu-check.log ($OUT on the device machine, else
# DEVICE_DIR), so the figures survive a timeout. Needs only the NVIDIA
# driver, and Python with numpy, onnx and onnxruntime for the whole models.
# Exits nonzero if a test fails or no GPU is found.
set -u -o pipefail
cd "$(dirname "$0")/../.."
dev=$(cd "${1:-build/device}" && pwd)
export LD_LIBRARY_PATH="$dev/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
log_dir=${LOG_DIR:-${OUT:-$dev}}
mkdir -p "$log_dir"
exec > >(tee "$log_dir/gpu-check.log") 2>&1
started=$SECONDS

echo "== device"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem \
  --format=csv,noheader || echo "(nvidia-smi not found)"

# cuBLAS for the whole-model tests: the runtime looks in the usual places
# and Python's site-packages; ask Python where its wheel put it otherwise.
if [ -z "${ATTNRES_CUBLAS:-}" ]; then
  found=$(python3 -c 'import glob, os, nvidia
m = [f for p in nvidia.__path__ for f in sorted(glob.glob(os.path.join(p, "*", "lib", "libcublas.so.*")))]
print(m[0] if m else "")' 2>/dev/null)
  if [ -n "$found" ]; then
    export ATTNRES_CUBLAS=$found
    echo "cuBLAS: $found"
  fi
fi

echo "== GPU tests (the kernels against a double-precision reference; whole"
echo "   CUDA artifacts against the same models compiled for the CPU)"
# CUDATest and CUBLASTest (the fake-driver tests) need a process per test;
# ctest runs them on the development machine.
timeout 120 "$dev/unittests/AttnResGPUTests" \
  --gtest_filter='CUDAKernelsTest.*:*CUDAModelsTest*' --gtest_brief=1
tests=$?
echo "(tests took $((SECONDS - started)) s)"

echo "== kernel benchmark"
budget=${BUDGET:-240}
kernels=$dev/bench/kernels/attnres_kernels
[ -f "$kernels.ptx" ] || python3 -c 'import lzma, sys
open(sys.argv[1], "wb").write(lzma.open(sys.argv[1] + ".xz").read())' "$kernels.ptx"
timeout $((budget + 60)) "$dev/bench/attnres-gpu-bench" "$kernels.ptx" \
  --budget "$budget" ${QUICK:+--quick}
bench=$?

models=0
if [ -z "${QUICK:-}" ]; then
  echo "== whole models (CUDA artifacts run by attnres-exec; onnxruntime on"
  echo "   the CPU for the reference)"
  PYTHONUNBUFFERED=1 timeout 240 python3 bench/gpu/bench_models.py "$dev"
  models=$?
fi

echo "== summary: GPU tests exit $tests, benchmark exit $bench," \
  "whole models exit $models, $((SECONDS - started)) s"
[ "$tests" -eq 0 ] && [ "$bench" -eq 0 ] && [ "$models" -eq 0 ]
