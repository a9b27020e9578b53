#!/usr/bin/env bash
# Builds attnres with AddressSanitizer and UndefinedBehaviorSanitizer (clang-22
# from Debian, -DATTNRES_SANITIZE) in build-san and runs the whole test suite
# there: lit (whose tools and Python oracles then run instrumented binaries)
# and the GoogleTest unit tests. Any sanitizer report fails the test it
# occurs in. Needs clang-22 and libclang-rt-22-dev (scripts/bootstrap.sh).
#
#   scripts/sanitize.sh                        # everything
#   LIT_ARGS="--filter attnres-run" scripts/sanitize.sh
#   SANITIZERS=address scripts/sanitize.sh     # only ASan (a fresh BUILD_DIR)
#   BUILD_DIR=/tmp/san scripts/sanitize.sh
#
# Code the JIT compiles at run time (attnres-run) is not instrumented, nor are
# libMLIR/libLLVM; the project's own code around them is.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-san}"
SANITIZERS="${SANITIZERS:-address,undefined}"
LLVM_PREFIX=/usr/lib/llvm-22

for tool in clang-22 clang++-22; do
  command -v "$tool" >/dev/null ||
    { echo "error: $tool not found; run scripts/bootstrap.sh" >&2; exit 2; }
done

if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # RelWithDebInfo: optimized enough that the numerics tests finish, with
  # line numbers in the reports.
  cmake -G Ninja -S "$ROOT" -B "$BUILD_DIR" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DATTNRES_SANITIZE="$SANITIZERS" \
    -DMLIR_DIR="$LLVM_PREFIX/lib/cmake/mlir" \
    -DLLVM_EXTERNAL_LIT="$LLVM_PREFIX/bin/lit" \
    "${launcher[@]}" || exit 2
fi

# lit passes these through to the tests (and the tests to their tools).
# detect_leaks stays on: the whole suite, attnres-run's ExecutionEngine and
# libMLIR included, exits leak-free, so a report is a new leak. abort_on_error
# makes any report a crash, which `not` in a RUN line does not accept (a
# plain exit code would pass a test that expects the tool to fail).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# Third-party libraries' own leaks only (each entry says why).
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$ROOT/scripts/lsan.supp:print_suppressions=0}"
export ASAN_SYMBOLIZER_PATH="${ASAN_SYMBOLIZER_PATH:-$LLVM_PREFIX/bin/llvm-symbolizer}"

BUILD_DIR="$BUILD_DIR" "$ROOT/scripts/test.sh"
