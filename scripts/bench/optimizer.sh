#!/usr/bin/env bash
# Campaign optimiser benchmark (issue 5 item 5: 1M customers × 20 offers ≤ 60 s, gap to the
# LP bound ≤ 1%). Builds the deterministic realistic instance (log-normal propensities,
# 4 channels with tight capacities, 5 campaigns with budgets, 2 offers per customer, one per
# campaign), optimises it at each size in SIZES, and solves the LP relaxation of the same
# instance with SciPy's linprog (HiGHS) at each size in PEER_SIZES, in a throwaway venv.
#
#   scripts/bench/optimizer.sh [SIZES] [PEER_SIZES] [PEER_TIMEOUT_SECONDS]
#   defaults: "100000 1000000" "10000 30000" 900
#
# Uses the dev profile (the optimizer crate is opt-level 3 there, like in tests and CI).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
sizes="${1:-100000 1000000}"
peer_sizes="${2:-10000 30000}"
peer_timeout="${3:-900}"
work="${TMPDIR:-/tmp}/zhiying-optimizer-bench"
venv=/var/cache/zhiying-tools/pyref-optimizer
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
cd "$root"
cargo build -q --workspace --bins --examples
bin="${CARGO_TARGET_DIR:-$root/target}/debug/examples/optimizer_bench"
mkdir -p "$work"

echo "== zhiying-optimizer (Rust, $(nproc) threads)"
for n in $sizes; do
  echo "-- $n customers"
  /usr/bin/time -v "$bin" "$n" - 2> >(grep -E "built|Maximum resident|Elapsed|User time|System time" >&2) | grep -E "expected value|upper bound|gap|passes|^\{"
done

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q numpy scipy
fi
echo "== SciPy linprog (HiGHS) on the LP relaxation, same instances"
for n in $peer_sizes; do
  echo "-- $n customers"
  "$bin" "$n" "$work/n$n" 2>/dev/null | grep -E "^\{"
  if ! timeout "$peer_timeout" "$venv/bin/python" scripts/bench/optimizer_peer.py "$work/n$n"; then
    echo "{\"customers\": $n, \"peer\": \"HiGHS did not finish within ${peer_timeout} s\"}"
  fi
done
