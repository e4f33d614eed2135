#!/usr/bin/env bash
# Tag build at scale: `zhiying tags build` on 1M customers (~50M transactions, ~31M events),
# then the same SQL (`zhiying tags sql`) in DuckDB on the same Parquet files, and the ratio.
#
# Usage: scripts/bench/tags.sh [CUSTOMERS] [RUNS]      (default 1000000 customers, 3 runs)
#
# The generated and ingested bank is cached in /var/cache/zhiying-bench/tags-<N> and reused.
# The binary is the dev-profile one the demo uses ($CARGO_TARGET_DIR/debug/zhiying: our crates
# at opt-level 1–3, dependencies such as DataFusion at opt-level 2).
set -euo pipefail
N=${1:-1000000}
RUNS=${2:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/zhiying-target}
CACHE=${CACHE:-/var/cache/zhiying-bench/tags-$N}
VENV=${VENV:-/tmp/zhiying-bench-venv}
BIN="$CARGO_TARGET_DIR/debug/zhiying"
DATA="$CACHE/data"
mkdir -p "$CACHE"
cd "$ROOT"
[ -x "$BIN" ] || cargo build --quiet --workspace

if [ ! -f "$DATA/.ingested" ]; then
  echo "== generating $N customers × 12 months (Parquet)"
  GEN="$CACHE/gen"
  rm -rf "$GEN" "$DATA"
  "$BIN" generate --customers "$N" --months 12 --seed 42 --format parquet --out "$GEN" --json > "$CACHE/generate.json"
  echo "== ingesting"
  for t in customers accounts products product_holdings transactions events; do
    /usr/bin/time -f "   $t: %e s, %M KiB" "$BIN" ingest --data-dir "$DATA" --table "$t" "$GEN/$t.parquet" --json > "$CACHE/ingest-$t.json"
  done
  touch "$DATA/.ingested"
  rm -rf "$GEN"
fi
python3 - "$DATA" <<'PY'
import glob, os, sys
d = sys.argv[1]
for t in ["customers", "transactions", "events", "accounts", "product_holdings"]:
    files = glob.glob(f"{d}/facts/{t}/*.parquet")
    print(f"   {t}: {len(files)} file(s), {sum(os.path.getsize(f) for f in files) / 1e6:.0f} MB")
PY

echo "== zhiying tags build ($RUNS runs)"
for i in $(seq "$RUNS"); do
  /usr/bin/time -f "   peak %M KiB" "$BIN" tags build --data-dir "$DATA" --json > "$CACHE/build-$i.json"
  python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print(f\"   run $i: {s['customers']:,} customers × {s['tags']} tags in {s['seconds']:.2f} s (query {s['query_seconds']:.2f} s, {s['scans']} scans, as of {s['as_of']})\")" "$CACHE/build-$i.json"
done
"$BIN" tags sql --data-dir "$DATA" > "$CACHE/tags.sql"

echo "== DuckDB: the same SQL on the same Parquet files"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q duckdb
fi
"$VENV/bin/python" - "$DATA" "$CACHE/tags.sql" "$RUNS" "$CACHE" <<'PY'
import json, sys, time, duckdb
data, sql_path, runs, cache = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
sql = open(sql_path).read()
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
import glob, os
for t in ["customers", "transactions", "events", "accounts", "product_holdings", "products", "contacts", "responses"]:
    if glob.glob(f"{data}/facts/{t}/*.parquet"):
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{data}/facts/{t}/*.parquet')")
# Derived tables the tag SQL reads (model scores, segments): the file when present, else an
# empty table with the schema the engine registers in that case.
derived = {
    "scores": "customer_id VARCHAR, model VARCHAR, score DOUBLE, band VARCHAR, reasons VARCHAR, as_of VARCHAR, model_version VARCHAR",
    "segments": "customer_id VARCHAR, segmentation VARCHAR, cluster BIGINT, description_zh VARCHAR, description_en VARCHAR",
}
for t, cols in derived.items():
    f = f"{data}/derived/{t}.parquet"
    if os.path.exists(f):
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{f}')")
    else:
        con.execute(f"CREATE TABLE {t} ({cols})")
threads = con.execute("select current_setting('threads')").fetchone()[0]
best = None
for i in range(runs):
    t = time.perf_counter()
    con.execute(f"COPY ({sql}) TO '{cache}/duck-tags.parquet' (FORMAT parquet, COMPRESSION zstd)")
    s = time.perf_counter() - t
    best = s if best is None else min(best, s)
    print(f"   run {i + 1}: {s:.2f} s")
rows = con.execute(f"SELECT COUNT(*) FROM '{cache}/duck-tags.parquet'").fetchone()[0]
builds = [json.load(open(f"{cache}/build-{i + 1}.json")) for i in range(runs)]
zq = min(b["query_seconds"] for b in builds)
zt = min(b["seconds"] for b in builds)
print(f"duckdb {duckdb.__version__} (threads={threads}): best {best:.2f} s, {rows:,} rows")
print(f"zhiying best: {zt:.2f} s total (query {zq:.2f} s) for {builds[0]['customers']:,} rows")
print(f"ratio zhiying/duckdb: {zt / best:.2f}x total, {zq / best:.2f}x query (target <= 1.5x)")
PY
