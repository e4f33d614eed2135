#!/usr/bin/env bash
# Audience count latency over 1M customers (issue 3: p50 ≤ 20 ms, p99 ≤ 100 ms for 5
# conditions). Writes the synthetic tag fixture (tag-engine format) once, then times
# parse + check + bitmap evaluation + count for 300 runs of three 5-condition expressions,
# and reports index load time and resident memory.
#
#   scripts/bench/audience.sh [DIR] [CUSTOMERS] [RUNS]
#
# Uses the dev profile (the audience crate is opt-level 3 there, like in tests and CI).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="${1:-/tmp/zhiying-audience-bench}"
customers="${2:-1000000}"
runs="${3:-300}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
cd "$root"
cargo build -q --workspace --bins --examples
bin="${CARGO_TARGET_DIR:-$root/target}/debug/examples/audience_bench"
/usr/bin/time -v "$bin" "$dir" "$customers" "$runs" 2> >(grep -E "Maximum resident|Elapsed" >&2)
