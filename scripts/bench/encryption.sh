#!/usr/bin/env bash
# Cost of encryption at rest (docs/encryption.md): the demo's synthetic bank ingested and
# tagged with encryption off (`zhiying demo --plaintext`) and on (the demo's own key), then
# `zhiying tags build` RUNS times on each, alternating so background load hits both alike.
#
# Usage: scripts/bench/encryption.sh [CUSTOMERS] [RUNS]      (default 100000 customers, 3 runs)
#
# Data directories live in $CACHE (default /var/cache/zhiying-bench/encryption-<N>) and are
# rebuilt on every run. The binary is the dev-profile one the demo uses.
set -euo pipefail
N=${1:-100000}
RUNS=${2:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/zhiying-target}
CACHE=${CACHE:-/var/cache/zhiying-bench/encryption-$N}
BIN="$CARGO_TARGET_DIR/debug/zhiying"
cd "$ROOT"
[ -x "$BIN" ] || cargo build --quiet --workspace
unset ZHIYING_KEY_FILE ZHIYING_DATA_KEY
rm -rf "$CACHE"
mkdir -p "$CACHE"

for mode in plain enc; do
  flag=""
  [ "$mode" = plain ] && flag="--plaintext"
  echo "== zhiying demo --customers $N --no-serve $flag"
  /usr/bin/time -f "   demo: %e s wall, peak %M KiB" \
    "$BIN" demo --customers "$N" --no-serve --json $flag --data-dir "$CACHE/$mode" > "$CACHE/demo-$mode.json"
done

python3 - "$CACHE" <<'PY'
import json, sys, glob, os
cache = sys.argv[1]
for mode in ["plain", "enc"]:
    s = json.load(open(f"{cache}/demo-{mode}.json"))
    ing = {x["table"]: x["seconds"] for x in s["synthetic"]}
    total = sum(ing.values())
    size = sum(os.path.getsize(f) for f in glob.glob(f"{cache}/{mode}/facts/*/*.parquet"))
    print(f"   {mode:5}: encryption on={s['encryption']['on']}; synthetic-bank ingest {total:.2f} s "
          f"(transactions {ing.get('transactions', 0):.2f} s, customers {ing.get('customers', 0):.2f} s); "
          f"demo tag build {s['tags']['seconds']:.2f} s; demo total {s['seconds']:.1f} s; facts {size / 1e6:.1f} MB")
PY

echo "== zhiying tags build, $RUNS runs each, alternating"
for i in $(seq "$RUNS"); do
  for mode in plain enc; do
    "$BIN" tags build --data-dir "$CACHE/$mode" --json > "$CACHE/build-$mode-$i.json"
    python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print(f\"   {sys.argv[2]:5} run $i: {s['customers']:,} customers × {s['tags']} tags in {s['seconds']:.2f} s (query {s['query_seconds']:.2f} s)\")" "$CACHE/build-$mode-$i.json" "$mode"
  done
done
