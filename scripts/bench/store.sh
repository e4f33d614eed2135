#!/usr/bin/env bash
# Bulk experiment assignments: 1M rows written, replayed (must insert nothing) and read back,
# on SQLite and PostgreSQL, beside a Python peer (sqlite3 executemany + INSERT OR IGNORE,
# psycopg COPY into a staging table + INSERT … ON CONFLICT DO NOTHING).
# Usage: scripts/bench/store.sh [N] [postgres-url]
set -euo pipefail
N=${1:-1000000}
PG=${2:-postgres://postgres@127.0.0.1:5432/test}
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/zt-store}
nice -n 10 cargo build --release -q -p zhiying-store --example bench_assignments
BIN="$CARGO_TARGET_DIR/release/examples/bench_assignments"
echo "## zhiying-store (Rust, sqlx Any, multi-row INSERT … ON CONFLICT DO NOTHING)"
"$BIN" "$N"
"$BIN" "$N" "$PG"

VENV=/var/cache/zhiying-tools/pyref-store
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'psycopg[binary]==3.2.3'
fi
echo "## Python peer"
"$VENV/bin/python" - "$N" "$PG" <<'PY'
import json, os, sqlite3, sys, tempfile, time
import psycopg
n, pg = int(sys.argv[1]), sys.argv[2]
arms = ["control", "a", "b"]
rows = [("bench", f"C{i:09d}", arms[i % 3], i) for i in range(n)]
ddl = ("CREATE TABLE assignments (experiment_id TEXT NOT NULL, customer_id TEXT NOT NULL, "
       "arm TEXT NOT NULL, assigned_at BIGINT NOT NULL, PRIMARY KEY (experiment_id, customer_id))")
with tempfile.TemporaryDirectory() as d:
    db = sqlite3.connect(os.path.join(d, "b.db"))
    db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=NORMAL"); db.execute(ddl)
    for phase in ["insert", "replay"]:
        t = time.perf_counter()
        with db:
            cur = db.executemany("INSERT OR IGNORE INTO assignments VALUES (?, ?, ?, ?)", rows)
        s = time.perf_counter() - t
        print(json.dumps({"backend": "sqlite", "peer": "python sqlite3", "phase": phase, "rows": n,
                          "inserted": cur.rowcount, "seconds": round(s, 2), "rows_per_s": round(n / s)}))
    t = time.perf_counter()
    got = db.execute("SELECT * FROM assignments WHERE experiment_id = 'bench' ORDER BY customer_id").fetchall()
    s = time.perf_counter() - t
    print(json.dumps({"backend": "sqlite", "peer": "python sqlite3", "phase": "read", "rows": len(got), "seconds": round(s, 2), "rows_per_s": round(len(got) / s)}))
with psycopg.connect(pg, autocommit=True) as conn:
    schema = f"pybench_{os.getpid()}"
    conn.execute(f'CREATE SCHEMA "{schema}"'); conn.execute(f'SET search_path TO "{schema}"'); conn.execute(ddl)
    try:
        for phase in ["insert", "replay"]:
            t = time.perf_counter()
            with conn.transaction():
                conn.execute("CREATE TEMP TABLE stage (LIKE assignments) ON COMMIT DROP")
                with conn.cursor().copy("COPY stage FROM STDIN") as cp:
                    for r in rows:
                        cp.write_row(r)
                cur = conn.execute("INSERT INTO assignments SELECT * FROM stage ON CONFLICT DO NOTHING")
            s = time.perf_counter() - t
            print(json.dumps({"backend": "postgres", "peer": "psycopg COPY", "phase": phase, "rows": n,
                              "inserted": cur.rowcount, "seconds": round(s, 2), "rows_per_s": round(n / s)}))
        t = time.perf_counter()
        got = conn.execute("SELECT * FROM assignments WHERE experiment_id = 'bench' ORDER BY customer_id").fetchall()
        s = time.perf_counter() - t
        print(json.dumps({"backend": "postgres", "peer": "psycopg", "phase": "read", "rows": len(got), "seconds": round(s, 2), "rows_per_s": round(len(got) / s)}))
    finally:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
PY
