#!/usr/bin/env bash
# POST /v1/decisions through `zhiying serve`, measured from a separate load-generator
# process over loopback: 50 offers, consent, do-not-contact and contact caps checked,
# contacts reserved, champion propensities for half of the customers, bearer-token auth,
# every decision logged. Prints decisions/s and latency percentiles (JSON).
#
# Usage: scripts/bench/decision_http.sh [SECONDS] [CONNECTIONS] [WARMUP]
#        (defaults: 60 s measured after a 10 s warm-up, 16 connections)
# Env: RATE_LIMIT (0 = off: one token drives every connection), CUSTOMERS (100000), OFFERS (50), PORT (18732), WORK (/tmp/zhiying-bench-decision-http).
set -euo pipefail
SECONDS_RUN=${1:-60}
CONNS=${2:-16}
WARMUP=${3:-10}
CUSTOMERS=${CUSTOMERS:-100000}
OFFERS=${OFFERS:-50}
PORT=${PORT:-18732}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/zhiying-target}
WORK=${WORK:-/tmp/zhiying-bench-decision-http}
cd "$ROOT"

echo "== building zhiying and the load generator (dev profile)"
# The whole workspace, as the tests build it: a `-p` subset unifies features differently and
# would rebuild DataFusion.
nice -n 10 cargo build -q --workspace --bins --examples
BIN="$CARGO_TARGET_DIR/debug/zhiying"
LOADGEN="$CARGO_TARGET_DIR/debug/examples/decision_loadgen"

rm -rf "$WORK"; mkdir -p "$WORK"
echo "== setup: $CUSTOMERS customers, $OFFERS offers"
"$LOADGEN" setup --data-dir "$WORK/data" --customers "$CUSTOMERS" --offers "$OFFERS"

ZHIYING_LOG=warn "$BIN" serve --data-dir "$WORK/data" --port "$PORT" --rate-limit "${RATE_LIMIT:-0}" > "$WORK/server.log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$PORT/healthz" > /dev/null 2>&1 && break
  sleep 0.2
done
echo "== run: ${SECONDS_RUN}s after ${WARMUP}s warm-up, $CONNS connections (server pid $pid, load $(cut -d' ' -f1-3 /proc/loadavg))"
"$LOADGEN" run --addr "127.0.0.1:$PORT" --token-file "$WORK/data/bench-token" \
  --connections "$CONNS" --seconds "$SECONDS_RUN" --warmup "$WARMUP" --customers "$CUSTOMERS" \
  | tee "$WORK/result.json"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
kill -TERM "$pid"; wait "$pid" || true
trap - EXIT
