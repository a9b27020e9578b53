#!/bin/bash
# One prepared GPU slot: the GPU tests, then the kernel benchmark. Built on
# the development machine (no GPU); run on the GPU machine from a copy of the
# tree that carries build/lib, build/unittests (with gpu-models/, the CUDA
# artifacts of the model test) and build/bench/gpu:
#
#   bench/gpu/run.sh [BUILD_DIR]          # full sweep, under 8 min on an H100
#   QUICK=1 bench/gpu/run.sh [BUILD_DIR]  # one token count, S = 2 and 8
#
# Needs only the NVIDIA driver there: the runtime opens libcuda.so.1, the
# kernels are PTX the driver compiles for its device. Exits nonzero if a test
# fails or no GPU is found.
set -u
cd "$(dirname "$0")/../.."
build=${1:-build}
export LD_LIBRARY_PATH="$build/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

echo "== device"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader ||
  echo "(nvidia-smi not found)"

# cuBLAS for the whole-model test: the runtime looks in the usual places
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
"$build/unittests/AttnResGPUTests" \
  --gtest_filter='CUDAKernelsTest.*:*CUDAModelsTest*' --gtest_brief=1
tests=$?

echo "== kernel benchmark"
timeout 480 "$build/bench/gpu/attnres-gpu-bench" \
  "$build/bench/gpu/kernels/attnres_kernels.ptx" ${QUICK:+--quick}
bench=$?

echo "== summary: GPU tests exit $tests, benchmark exit $bench"
[ "$tests" -eq 0 ] && [ "$bench" -eq 0 ]
