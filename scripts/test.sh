#!/usr/bin/env bash
# Runs every attnres test: the lit suite (FileCheck, verifier diagnostics,
# NumPy-checked numerics, PTX/cubin generation), the GoogleTest unit tests
# through ctest, and the Python package's tests through pytest. Run
# scripts/bootstrap.sh once first.
#
#   scripts/test.sh                 # everything
#   LIT_ARGS="--filter Dialect" scripts/test.sh
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
LIT=/usr/lib/llvm-22/bin/lit

if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  echo "error: $BUILD_DIR is not configured; run scripts/bootstrap.sh first" >&2
  exit 2
fi
cmake --build "$BUILD_DIR" || exit 1

status=0
echo "== lit =="
# shellcheck disable=SC2086
"$LIT" -sv ${LIT_ARGS:-} "$BUILD_DIR/test" || status=1
echo "== ctest =="
ctest --test-dir "$BUILD_DIR" --output-on-failure || status=1
echo "== pytest =="
if grep -q '^ATTNRES_SANITIZE:STRING=.\+' "$BUILD_DIR/CMakeCache.txt"; then
  # An instrumented extension cannot load into Debian's uninstrumented
  # python; the package's tests run in the main build.
  echo "pytest: not run in the sanitizer build (it builds no Python package)"
else
  PYTHONPATH="$BUILD_DIR/python_packages" "$ROOT/.venv/bin/python3" -m pytest \
    -q -p no:cacheprovider "$ROOT/python/tests" || status=1
fi
exit $status
