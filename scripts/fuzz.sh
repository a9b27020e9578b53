#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, with ASan and UBSan) in build-fuzz and
# runs each for a while on a copy of its seed corpus. Exits nonzero if any
# target crashes, leaks, hangs or trips a sanitizer; prints each target's
# executions and coverage at the end. Needs clang-22 and libclang-rt-22-dev
# (scripts/bootstrap.sh installs them).
#
#   scripts/fuzz.sh                 # every target, 30 s each
#   scripts/fuzz.sh 600             # a longer campaign, 10 min each
#   TARGETS="npz-fuzzer" scripts/fuzz.sh 60
#   FUZZ_ARGS="-jobs=2 -workers=2" scripts/fuzz.sh
#   BUILD_DIR=/tmp/fz scripts/fuzz.sh
#
# Runs happen in $BUILD_DIR/fuzz-runs/<target>/: corpus/ (the seeds plus what
# the run found: copy new files worth keeping into fuzz/corpus/<target>/),
# artifacts/ (crashing inputs) and log. Reproduce a crash with
#   $BUILD_DIR/bin/<target> <artifact>
# (a failing run also prints each artifact in base64, for CI logs).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build-fuzz}"
SECONDS_PER_TARGET="${1:-30}"
LLVM_PREFIX=/usr/lib/llvm-22

for tool in clang-22 clang++-22; do
  command -v "$tool" >/dev/null ||
    { echo "error: $tool not found; run scripts/bootstrap.sh" >&2; exit 2; }
done

if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -G Ninja -S "$ROOT" -B "$BUILD_DIR" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DATTNRES_FUZZ=ON \
    -DMLIR_DIR="$LLVM_PREFIX/lib/cmake/mlir" \
    -DLLVM_EXTERNAL_LIT="$LLVM_PREFIX/bin/lit" \
    "${launcher[@]}" || exit 2
fi
cmake --build "$BUILD_DIR" --target attnres-fuzzers || exit 2

# symbolize=1 for readable stacks; libFuzzer itself turns on leak detection.
export ASAN_OPTIONS="${ASAN_OPTIONS:-symbolize=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export ASAN_SYMBOLIZER_PATH="${ASAN_SYMBOLIZER_PATH:-$LLVM_PREFIX/bin/llvm-symbolizer}"

read -r -a targets <<<"${TARGETS:-$(tr '\n' ' ' <"$BUILD_DIR/fuzz/targets.txt")}"
status=0
summary=()
for target in "${targets[@]}"; do
  work="$BUILD_DIR/fuzz-runs/$target"
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/artifacts"
  [[ -d "$ROOT/fuzz/corpus/$target" ]] && cp "$ROOT/fuzz/corpus/$target/"* "$work/corpus/"
  args=(-max_total_time="$SECONDS_PER_TARGET" -timeout=25 -rss_limit_mb=2048
        -print_final_stats=1 -artifact_prefix="$work/artifacts/")
  [[ -f "$ROOT/fuzz/$target.dict" ]] && args+=(-dict="$ROOT/fuzz/$target.dict")
  echo "== $target (${SECONDS_PER_TARGET}s) =="
  # shellcheck disable=SC2086
  "$BUILD_DIR/bin/$target" "${args[@]}" ${FUZZ_ARGS:-} "$work/corpus" \
    >"$work/log" 2>&1
  rc=$?
  if ((rc != 0)); then
    tail -n 60 "$work/log"
    # A CI machine's artifacts are gone with it: the log carries them.
    for artifact in "$work/artifacts"/*; do
      [[ -f "$artifact" ]] || continue
      echo "== $(basename "$artifact") ($(stat -c %s "$artifact") bytes), base64;" \
        "reproduce: base64 -d > crash && $BUILD_DIR/bin/$target crash =="
      head -c 65536 "$artifact" | base64
    done
  else
    grep -E '^(#[0-9]+[[:space:]]+DONE|stat::)' "$work/log"
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$work/log" | tail -1)
  corpus=$(find "$work/corpus" -type f | wc -l)
  if ((rc != 0)); then
    status=1
    summary+=("$target: FAILED (exit $rc), artifacts in $work/artifacts")
  else
    summary+=("$target: ok, ${execs:-?} execs, ${cov:-cov: ?}, corpus $corpus files")
  fi
done
echo "== summary =="
printf '%s\n' "${summary[@]}"
exit $status
