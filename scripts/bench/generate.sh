#!/usr/bin/env bash
# Times `zhiying generate` at scale (default 1M customers × 12 months, CSV).
# Usage: scripts/bench/generate.sh [CUSTOMERS] [MONTHS]
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/zhiying-target}"
customers="${1:-1000000}"
months="${2:-12}"
out="$(mktemp -d /tmp/zhiying-gen-XXXX)"
trap 'rm -rf "$out"' EXIT
cargo build -q --workspace --bins --examples
bin="$CARGO_TARGET_DIR/debug/zhiying"
/usr/bin/time -f "%e s elapsed, %M KiB max resident" "$bin" generate --customers "$customers" --months "$months" --seed 1 --out "$out" --json > "$out/summary.json"
python3 - "$out/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
total = sum(s["rows"].values())
print(f"rows: {total:,} (transactions {s['rows'].get('transactions', 0):,}) in {s['seconds']:.1f} s "
      f"= {total / s['seconds']:,.0f} rows/s")
PY
du -sh "$out"
