#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for attnres, builds everything and runs a
# small demo. Safe to run again: it installs only what is missing and
# rebuilds incrementally.
#
#   scripts/bootstrap.sh            # set up, build, demo
#   BUILD_DIR=out scripts/bootstrap.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
VENV="$ROOT/.venv"
LLVM_PREFIX=/usr/lib/llvm-22

log() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*"; }

# --- Debian packages --------------------------------------------------------
DEB_PACKAGES=(
  libmlir-22-dev mlir-22-tools llvm-22-dev llvm-22-tools
  cmake ninja-build ccache g++
  libprotobuf-dev protobuf-compiler
  libgtest-dev libopenblas-dev libdnnl-dev zlib1g-dev
  clang-22 libclang-rt-22-dev
  python3-venv
)
missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
    missing+=("$pkg")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
    --no-install-recommends "${missing[@]}"
else
  log "Debian packages present"
fi

# --- Python environment (test oracles) --------------------------------------
if [[ ! -x "$VENV/bin/python3" ]]; then
  log "creating $VENV"
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python3" -c 'import onnx, onnxruntime, numpy, nanobind, pytest' 2>/dev/null; then
  log "installing Python packages from scripts/requirements.txt"
  "$VENV/bin/python3" -m pip install -q --upgrade pip
  "$VENV/bin/python3" -m pip install -q -r "$ROOT/scripts/requirements.txt"
else
  log "Python packages present"
fi

# --- Configure and build -----------------------------------------------------
if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  log "configuring $BUILD_DIR"
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -G Ninja -S "$ROOT" -B "$BUILD_DIR" \
    -DCMAKE_BUILD_TYPE=Release \
    -DMLIR_DIR="$LLVM_PREFIX/lib/cmake/mlir" \
    -DLLVM_EXTERNAL_LIT="$LLVM_PREFIX/bin/lit" \
    "${launcher[@]}"
fi
log "building"
cmake --build "$BUILD_DIR"

# --- The Python package -----------------------------------------------------
# The build lays the package out in $BUILD_DIR/python_packages; a .pth file
# puts it on the venv's path, so that `.venv/bin/python3 -c "import attnres"`
# works (`pip install ./python` installs it into any other environment).
site="$("$VENV/bin/python3" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$BUILD_DIR/python_packages" > "$site/attnres-build.pth"
"$VENV/bin/python3" -c 'import attnres' || { echo "error: the attnres Python package does not import" >&2; exit 1; }

# --- Demo --------------------------------------------------------------------
log "demo: $BUILD_DIR/bin/attnres-opt examples/demo.mlir --canonicalize"
"$BUILD_DIR/bin/attnres-opt" "$ROOT/examples/demo.mlir" --canonicalize
log "done; run scripts/test.sh for the tests"
