#!/usr/bin/env bash
# Outbox throughput on SQLite with the file adapter (Rust), next to a stdlib-only Python peer.
# Usage: scripts/bench/delivery.sh [N] [BATCH]
set -euo pipefail
cd "$(dirname "$0")/../.."
N="${1:-20000}"
BATCH="${2:-32}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/zt-delivery}"
nice -n 10 cargo build -q --workspace --bins --examples
echo "== Rust (zhiying-delivery)"
"$CARGO_TARGET_DIR/debug/examples/delivery_bench" "$N" "$BATCH"
echo "== Python peer (stdlib sqlite3, single thread)"
python3 scripts/bench/delivery.py "$N" "$BATCH"
