#!/usr/bin/env bash
# Ingest throughput: zhiying-ingest (validation, dedup, referential checks, Parquet+zstd)
# versus DuckDB's CSV→Parquet COPY (no validation) on the same transactions CSV.
#
# Usage: scripts/bench/ingest.sh [N_TRANSACTIONS]   (default 5,000,000)
set -euo pipefail
N=${1:-5000000}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/zhiying-target}
WORK=${WORK:-/tmp/zhiying-bench-ingest}
VENV=${VENV:-/tmp/zhiying-bench-venv}
rm -rf "$WORK"
mkdir -p "$WORK/csv"
cd "$ROOT"

echo "== generating $N transactions"
cargo run -q --release -p zhiying-ingest --example make_txn_csv -- "$N" "$WORK/csv"
ls -l "$WORK/csv"
cat "$WORK/csv/transactions.csv" > /dev/null   # warm the page cache for both contenders

echo "== zhiying-ingest"
cargo run -q --release -p zhiying-ingest --example ingest_bench -- "$WORK/data" "$WORK/csv" | head -1

echo "== DuckDB COPY read_csv → Parquet (zstd)"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q duckdb
fi
"$VENV/bin/python" - "$WORK/csv/transactions.csv" "$WORK/duck.parquet" "$N" <<'PY'
import sys, time, duckdb
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
con = duckdb.connect()
t = time.perf_counter()
con.execute(f"COPY (SELECT * FROM read_csv('{src}')) TO '{dst}' (FORMAT parquet, COMPRESSION zstd)")
s = time.perf_counter() - t
threads = con.execute("select current_setting('threads')").fetchone()[0]
print(f"duckdb {duckdb.__version__}: {n} rows in {s:.2f}s = {n / s:.0f} rows/s (threads={threads})")
PY
