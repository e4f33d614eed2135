#!/usr/bin/env bash
# Installs the native build tools that the `lightgbm3` crate (LightGBM 4.7's C++, built
# from source by crates/models) needs, when they are missing, and prints the environment
# that points cargo at them. Safe to run repeatedly; a second run only checks.
#
#   env="$(scripts/ensure-build-tools.sh)" && eval "$env"
#
# Why PyPI: LightGBM 4.7 needs cmake >= 3.28 (Debian 12's apt has 3.25) and bindgen needs
# libclang; the `cmake` and `libclang` wheels give both without root or apt.
# The venv lives at a fixed path so that `.cargo/config.toml` can point plain
# `cargo build` at it too (CMAKE, LIBCLANG_PATH, BINDGEN_EXTRA_CLANG_ARGS).
# Progress goes to stderr; only `export` lines go to stdout.
set -euo pipefail

TOOLS_DIR="${ZHIYING_TOOLS_DIR:-/var/cache/zhiying-tools}"
VENV="$TOOLS_DIR/venv"
PY="${PYTHON:-python3}"

have_tools() {
  [ -x "$VENV/bin/cmake" ] && "$VENV/bin/cmake" --version >/dev/null 2>&1 &&
    ls "$VENV"/lib/python3*/site-packages/clang/native/libclang*.so* >/dev/null 2>&1
}

if ! have_tools; then
  echo "ensure-build-tools: installing cmake and libclang from PyPI into $VENV" >&2
  mkdir -p "$TOOLS_DIR"
  if [ ! -x "$VENV/bin/pip" ]; then
    if ! "$PY" -m venv "$VENV" >&2; then
      echo "ensure-build-tools: python3 -m venv failed; installing python3-venv" >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
      "$PY" -m venv "$VENV" >&2
    fi
  fi
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "cmake>=3.28" libclang >&2
fi

if ! have_tools; then
  echo "ensure-build-tools: cmake or libclang still missing in $VENV" >&2
  exit 1
fi

LIBCLANG_DIR="$(dirname "$(ls "$VENV"/lib/python3*/site-packages/clang/native/libclang*.so* | head -n1)")"
GCC_INCLUDE="$(ls -d /usr/lib/gcc/x86_64-linux-gnu/*/include 2>/dev/null | sort -V | tail -n1 || true)"

# Not PATH: the venv's python3 would shadow the system one for later steps. The cmake
# crate reads CMAKE, bindgen reads LIBCLANG_PATH.
echo "export CMAKE=\"$VENV/bin/cmake\""
echo "export LIBCLANG_PATH=\"$LIBCLANG_DIR\""
if [ -n "$GCC_INCLUDE" ]; then
  echo "export BINDGEN_EXTRA_CLANG_ARGS=\"-I$GCC_INCLUDE\""
fi
