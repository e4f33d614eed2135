#!/usr/bin/env bash
# The main job: `zhiying demo` on the embedded default store.
# Installs the native build tools LightGBM needs (cmake, libclang from PyPI) when missing,
# then builds and runs the demo. Extra arguments go to `zhiying demo` (try `--help`).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/zhiying-target}"
build_env="$(scripts/ensure-build-tools.sh)"
eval "$build_env"
exec cargo run --quiet -- demo "$@"
