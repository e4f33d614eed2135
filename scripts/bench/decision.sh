#!/usr/bin/env bash
# Decision engine benchmarks: divan micro-benchmark of `decide`, then a load test with
# latency percentiles and throughput on 1 and 2 threads (50 offers, consent and caps
# checked, 100,000 customers). Results: docs/benchmarks-decision.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/zt-decision}"
# The workspace's dev profile optimises this crate at opt-level 3 and dependencies at 2,
# so the benchmarks need no second (release) build of arrow/parquet.
nice -n 10 cargo bench --profile dev -p zhiying-decision --bench decide
nice -n 10 cargo build -q --workspace --bins --examples
for threads in 1 2; do
  "$CARGO_TARGET_DIR/debug/examples/decision_load" 100000 50 "$threads" 200000
done
