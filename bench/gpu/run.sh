#!/bin/bash
# One prepared GPU slot: the GPU tests, then the kernel benchmark. Built on
# the development machine (no GPU: `ninja -C build` builds all of it); run on
# the GPU machine from a copy of the tree that carries these build outputs
# (about 25 MB):
#
#   build/lib/libattnres_runtime.so      the runtime (opens libcuda.so.1)
#   build/unittests/AttnResGPUTests      the GPU tests, with
#   build/unittests/gpu-kernels          their kernels (PTX) and
#   build/unittests/gpu-models           whole models for CUDA and the CPU
#   build/bench/gpu/attnres-gpu-bench    the kernel benchmark, with
#   build/bench/gpu/kernels              its kernels (PTX and an sm_90 cubin)
#
#   bench/gpu/run.sh [BUILD_DIR]          # tests, quick pass, then the sweep
#   QUICK=1 bench/gpu/run.sh [BUILD_DIR]  # tests and the quick pass only
#
# Each section has its own time limit (the benchmark also its own budget, in
# seconds, BUDGET, default 240), so one slow part cannot take the others'
# time; the whole run stays under 6 minutes. Everything printed also goes to
# $LOG_DIR/gpu-check.log ($OUT on the device machine, else the build
# folder), so the figures survive a timeout. Needs only the NVIDIA driver
# there. Exits nonzero if a test fails or no GPU is found.
set -u -o pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
export LD_LIBRARY_PATH="$build/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
log_dir=${LOG_DIR:-${OUT:-$build}}
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
timeout 120 "$build/unittests/AttnResGPUTests" \
  --gtest_filter='CUDAKernelsTest.*:*CUDAModelsTest*' --gtest_brief=1
tests=$?
echo "(tests took $((SECONDS - started)) s)"

echo "== kernel benchmark"
budget=${BUDGET:-240}
timeout $((budget + 60)) "$build/bench/gpu/attnres-gpu-bench" \
  "$build/bench/gpu/kernels/attnres_kernels.ptx" --budget "$budget" \
  ${QUICK:+--quick}
bench=$?

echo "== summary: GPU tests exit $tests, benchmark exit $bench," \
  "$((SECONDS - started)) s"
[ "$tests" -eq 0 ] && [ "$bench" -eq 0 ]
