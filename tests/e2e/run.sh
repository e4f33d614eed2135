#!/usr/bin/env bash
# Browser end-to-end test of the console: installs playwright-core (no browser download; it
# drives Debian's chromium), then runs the test with node's built-in test runner.
#
#   tests/e2e/run.sh                      # builds the zhiying binary first if ZHIYING_BIN is unset
#   ZHIYING_BIN=/path/to/zhiying tests/e2e/run.sh
#
# Needs: node >= 18, npm, /usr/bin/chromium (apt-get install -y chromium) or CHROMIUM_PATH.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [ -z "${ZHIYING_BIN:-}" ]; then
  (cd "$root" && cargo build --bin zhiying)
  export ZHIYING_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/zhiying"
fi
chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  echo "e2e: no chromium at $chromium. Install it with 'apt-get install -y chromium' or set CHROMIUM_PATH." >&2
  exit 1
fi

cd "$here"
# Templates fail on any undefined value here, as in the crate's tests.
export ZHIYING_STRICT_TEMPLATES=1
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi
exec node --test --test-reporter=spec console.test.mjs audiences.test.mjs campaigns.test.mjs reports.test.mjs delivery.test.mjs
