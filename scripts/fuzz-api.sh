#!/usr/bin/env bash
# Exercises every route of the OpenAPI document with generated requests (schemathesis,
# property-based) against a real `zhiying serve` on a small demo data directory, with an
# admin token. Any 5xx, or a response that does not match the documented schema, is a
# finding. Not part of the CI test suite: the fixes and their regression tests are.
#
# Usage: scripts/fuzz-api.sh [MAX_EXAMPLES]   (default 50 generated requests per operation)
# Env:   PORT (18765), WORK (/tmp/zhiying-fuzz-api), CUSTOMERS (300), VENV (/tmp/st-venv)
set -euo pipefail
MAX_EXAMPLES=${1:-50}
PORT=${PORT:-18765}
WORK=${WORK:-/tmp/zhiying-fuzz-api}
CUSTOMERS=${CUSTOMERS:-300}
VENV=${VENV:-/tmp/st-venv}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/zhiying-target}
cd "$ROOT"

echo "== building zhiying"
nice -n 10 cargo build -q --workspace --bins --examples
BIN="$CARGO_TARGET_DIR/debug/zhiying"

echo "== demo data ($CUSTOMERS customers) in $WORK"
rm -rf "$WORK"; mkdir -p "$WORK"
ZHIYING_LOG=warn "$BIN" demo --data-dir "$WORK/data" --customers "$CUSTOMERS" --months 3 --no-serve > "$WORK/demo.log" 2>&1
"$BIN" user add --data-dir "$WORK/data" --username fuzz --role admin > /dev/null
TOKEN=$("$BIN" token create --data-dir "$WORK/data" --user fuzz --scope '*' --expires 1d --json \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

echo "== schemathesis in $VENV"
if [ ! -x "$VENV/bin/st" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q schemathesis
fi

# The fuzzer must not be throttled by the rate limiter it is not testing.
ZHIYING_LOG=warn "$BIN" serve --data-dir "$WORK/data" --port "$PORT" --rate-limit 0 > "$WORK/server.log" 2>&1 &
PID=$!
trap 'kill -TERM $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$PORT/healthz" > /dev/null 2>&1 && break
  sleep 0.2
done

echo "== schemathesis run (max $MAX_EXAMPLES examples per operation)"
set +e
"$VENV/bin/st" run "http://127.0.0.1:$PORT/openapi.json" \
  -H "Authorization: Bearer $TOKEN" \
  --checks all \
  --max-examples "$MAX_EXAMPLES" \
  --workers 2 \
  --report junit --report-dir "$WORK/report" 2>&1 | tee "$WORK/schemathesis.txt"
RC=${PIPESTATUS[0]}
set -e
echo "== server 5xx in the log:"
grep -c '"status":5\|status=5[0-9][0-9]' "$WORK/server.log" || true
echo "schemathesis exit code $RC; output in $WORK/schemathesis.txt"
exit "$RC"
