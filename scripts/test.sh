#!/usr/bin/env bash
# The whole test suite: formatting, lints, every crate's tests (SQLite and PostgreSQL
# store suites included) and the browser end-to-end test in headless Chromium.
# Installs what the tests need when it is missing, so it works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/zhiying-target}"
export ZHIYING_REQUIRE_POSTGRES="${ZHIYING_REQUIRE_POSTGRES:-1}"
export ZHIYING_TEST_DATABASE_URL="${ZHIYING_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
mkdir -p "$CARGO_TARGET_DIR"

scripts/ensure-services.sh
# cmake >= 3.28 and libclang for LightGBM's C++ build (crates/models), from PyPI.
build_env="$(scripts/ensure-build-tools.sh)"
eval "$build_env"

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

# The tests also build the `zhiying` binary that the browser test drives (same features,
# so nothing is compiled twice).
step "cargo tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast --failure-output final
else
  cargo test --workspace --no-fail-fast
fi

step "browser end-to-end test (headless Chromium)"
ZHIYING_BIN="$CARGO_TARGET_DIR/debug/zhiying" tests/e2e/run.sh
