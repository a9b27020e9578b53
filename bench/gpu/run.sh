#!/bin/bash
# One prepared GPU slot: the GPU tests, then the kernel benchmark. Built on
# the development machine (no GPU); run on the GPU machine from a copy of the
# tree that carries build/lib, build/unittests and build/bench/gpu:
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

echo "== GPU tests (the kernels against a double-precision reference)"
# CUDATest (the fake-driver tests) needs a process per test; ctest runs it
# on the development machine.
"$build/unittests/AttnResGPUTests" --gtest_filter='CUDAKernelsTest.*' --gtest_brief=1
tests=$?

echo "== kernel benchmark"
timeout 480 "$build/bench/gpu/attnres-gpu-bench" \
  "$build/bench/gpu/kernels/attnres_kernels.ptx" ${QUICK:+--quick}
bench=$?

echo "== summary: GPU tests exit $tests, benchmark exit $bench"
[ "$tests" -eq 0 ] && [ "$bench" -eq 0 ]
