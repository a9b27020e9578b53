#!/bin/bash
# Gathers what a GPU machine needs into one folder, BUILD/device (about
# 47 MB), for bench/gpu/run.sh there: GPU machines have the NVIDIA driver,
# Python with numpy, onnx and onnxruntime, but no LLVM, MLIR or compiler
# toolchain, and a device slot carries at most 64 MB. Run after building:
#
#   bench/gpu/stage.sh [BUILD_DIR]     # then carry BUILD_DIR/device
#
# What it holds:
#   lib/libattnres_runtime.so            the runtime (opens libcuda.so.1)
#   bin/attnres-exec                     runs artifacts with the runtime alone
#   unittests/AttnResGPUTests            the GPU tests, with their kernels
#     gpu-kernels/, gpu-models/          (PTX) and models (sm_90 and CPU)
#   bench/attnres-gpu-bench              the kernel benchmark, with its
#     kernels/                           kernels (PTX, xz, and an sm_90 cubin)
#   models/llama*.sm90.so.xz             a Llama-style decoder (D=512, 8
#                                        layers, dynamic batch and length)
#                                        for CUDA, as is and as Block AttnRes
#                                        with 4 blocks, as is with a thread
#                                        per row in its reductions (the warp
#                                        lowering's baseline), and as is in
#                                        managed memory (device memory's); its
#                                        weights take 5
#                                        values so that the artifacts
#                                        compress (the ONNX model is made
#                                        again there, from the same seed)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$(cd "${1:-build}" && pwd)
out=$build/device
python=${PYTHON:-$PWD/.venv/bin/python}
rm -rf "$out"
mkdir -p "$out"/{lib,bin,unittests/gpu-models,bench/kernels,models}

cp "$build/lib/libattnres_runtime.so" "$out/lib/"
cp "$build/bin/attnres-exec" "$out/bin/"
cp "$build/unittests/AttnResGPUTests" "$out/unittests/"
cp -r "$build/unittests/gpu-kernels" "$out/unittests/"
cp "$build"/unittests/gpu-models/*.cpu.so "$build"/unittests/gpu-models/*.sm90.so \
  "$out/unittests/gpu-models/"
cp "$build/bench/gpu/attnres-gpu-bench" "$out/bench/"
cp "$build/bench/gpu/kernels/attnres_kernels.sm_90.cubin" "$out/bench/kernels/"
xz -T2 -c "$build/bench/gpu/kernels/attnres_kernels.ptx" \
  > "$out/bench/kernels/attnres_kernels.ptx.xz"

model=$build/bench/gpu/llama.onnx
"$python" bench/make_llama.py "$model" --dynamic --weight-levels 5
"$build/bin/attnres-compile" "$model" --target=cuda --chip=sm_90 \
  --cpu=x86-64-v2 -o "$build/bench/gpu/llama.sm90.so"
"$build/bin/attnres-compile" "$model" --target=cuda --chip=sm_90 \
  --cpu=x86-64-v2 -o "$build/bench/gpu/llama_n4.sm90.so" \
  "--pipeline=builtin.module(func.func(attnres-raise-norms),attnres-residual-to-block{num-blocks=4},attnres-gpu-pipeline{chip=sm_90})"
# The plain model with a thread per row in its reductions, as before
# --attnres-reductions-to-gpu: the baseline of the warp-per-row lowering.
"$build/bin/attnres-compile" "$model" --target=cuda --chip=sm_90 \
  --cpu=x86-64-v2 -o "$build/bench/gpu/llama_rowloops.sm90.so" \
  "--pipeline=builtin.module(attnres-gpu-pipeline{chip=sm_90 warp-reductions=false})"
# The plain model with every buffer in managed memory, as before
# --attnres-alloc-to-gpu placed them in device memory.
"$build/bin/attnres-compile" "$model" --target=cuda --chip=sm_90 \
  --cpu=x86-64-v2 -o "$build/bench/gpu/llama_managed.sm90.so" \
  "--pipeline=builtin.module(attnres-gpu-pipeline{chip=sm_90 managed-memory=true})"
for name in llama llama_n4 llama_rowloops llama_managed; do
  xz -T2 -c "$build/bench/gpu/$name.sm90.so" > "$out/models/$name.sm90.so.xz"
done
du -sh "$out"
