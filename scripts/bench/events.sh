#!/usr/bin/env bash
# Event ingest over HTTP with profile update, durable (fsync per group commit):
# starts `zhiying serve` on loopback, drives POST /v1/events with the loadgen example
# (keep-alive hyper connections), samples the server's RSS, stops the server with SIGTERM.
#
# Usage: scripts/bench/events.sh [SECONDS] [CONNECTIONS] [BATCH] [WARMUP]
#        (defaults: 300 s measured after a 200 s warm-up that fills the dedupe window, 32 connections, 100 events per request)
# Also runs a short single-event-per-request pass (SINGLE_SECONDS, default 60; 0 skips it).
# DATA=DIR serves an existing data dir (e.g. the 1M-customer bank of scripts/bench/tags.sh, so
# the audience index and tags of every customer are loaded too); its event log is reset first.
# CUSTOMERS sets how many distinct customers the events spread over (1000000 = all of them).
set -euo pipefail
SECONDS_RUN=${1:-300}
CONNS=${2:-32}
BATCH=${3:-100}
WARMUP=${4:-200}
SINGLE_SECONDS=${SINGLE_SECONDS:-60}
CUSTOMERS=${CUSTOMERS:-100000}
PORT=${PORT:-18731}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/zhiying-target}
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}
WORK=${WORK:-/tmp/zhiying-bench-events}
cd "$ROOT"

echo "== building (whole workspace, dev profile: zhiying-events is opt-level 3)"
cargo build -q --workspace --bins --examples
BIN="$CARGO_TARGET_DIR/debug/zhiying"
LOADGEN="$CARGO_TARGET_DIR/debug/examples/loadgen"

run_pass() { # name seconds connections batch warmup
  local name=$1 secs=$2 conns=$3 batch=$4 warm=$5
  rm -rf "$WORK"; mkdir -p "$WORK"
  local data="$WORK/data"
  if [ -n "${DATA:-}" ]; then data="$DATA"; rm -rf "$data/events"; fi
  # Every route but /healthz needs a token (status and metrics too): an admin bench user.
  "$BIN" user add --data-dir "$data" --username bench-events --role admin,channel_system --json > /dev/null 2>&1 || true
  ZHIYING_TOKEN=$("$BIN" token create --data-dir "$data" --user bench-events --scope "*" --expires 1d --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  export ZHIYING_TOKEN
  ZHIYING_LOG=warn "$BIN" serve --data-dir "$data" --port "$PORT" --rate-limit "${RATE_LIMIT:-0}" > "$WORK/server.log" 2>&1 &
  local pid=$!
  trap 'kill -TERM $pid 2>/dev/null || true' EXIT
  for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$PORT/healthz" > /dev/null 2>&1 && break
    sleep 0.2
  done
  echo "== $name: ${secs}s after ${warm}s warm-up, $conns connections, $batch events/request, $CUSTOMERS customers (server pid $pid)"
  "$LOADGEN" --addr "127.0.0.1:$PORT" --connections "$conns" --batch "$batch" \
    --seconds "$secs" --warmup "$warm" --customers "$CUSTOMERS" --rss-pid "$pid" \
    --sample-every 30 | tee "$WORK/../zhiying-bench-events-$name.json"
  curl -s -H "authorization: Bearer $ZHIYING_TOKEN" "http://127.0.0.1:$PORT/v1/events/status"; echo
  curl -s -H "authorization: Bearer $ZHIYING_TOKEN" "http://127.0.0.1:$PORT/metrics" | grep -E '^zhiying_(events_|event_append_duration_seconds_(sum|count))' || true
  kill -TERM "$pid"; wait "$pid" || true
  trap - EXIT
  echo "log size: $(du -sh "$data/events/log" | cut -f1), checkpoint: $(du -h "$data/events/checkpoint.bin" | cut -f1)"
}

run_pass batched "$SECONDS_RUN" "$CONNS" "$BATCH" "$WARMUP"
if [ "$SINGLE_SECONDS" -gt 0 ]; then
  run_pass single "$SINGLE_SECONDS" 256 1 10
fi
