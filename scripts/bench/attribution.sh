#!/usr/bin/env bash
# Channel attribution speed: zhiying-attribution next to marketing-attribution-models (mam,
# pip, throwaway venv) on the same N synthetic bank journeys (default 1,000,000), model by
# model; checks that both give the same first-order Markov removal effects; then writes
# docs/benchmarks-attribution.md.
#
# Usage: scripts/bench/attribution.sh [N_JOURNEYS]
set -euo pipefail
N=${1:-1000000}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/zt-attribution}
VENV=${VENV:-/var/cache/zhiying-tools/pyref-attribution}
WORK=${WORK:-/var/cache/zhiying-tools/attr-bench}
OUT="$ROOT/docs/benchmarks-attribution.md"
mkdir -p "$WORK"
cd "$ROOT"

nice -n 10 cargo build -q --release -p zhiying-attribution --example attribution_timing
BIN="$CARGO_TARGET_DIR/release/examples/attribution_timing"

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q numpy pandas marketing-attribution-models
fi

CSV="$WORK/journeys_$N.csv"
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== machine load: $LOAD"
echo "== zhiying-attribution on $N journeys (writes $CSV)"
"$BIN" "$N" "$CSV" | tee "$WORK/rust.txt"

echo "== marketing-attribution-models on the same file"
"$VENV/bin/python" - "$CSV" <<'PY' | tee "$WORK/python.txt"
import sys, time, warnings
warnings.filterwarnings("ignore")
import importlib.metadata as md
import polars as pl
from mam import MAM

def timed(label, f):
    t = time.perf_counter()
    out = f()
    print(f"python {label} seconds {time.perf_counter() - t:.4f}", flush=True)
    return out

df = timed("read_csv", lambda: pl.read_csv(sys.argv[1]))
m = timed("preprocess", lambda: MAM(df, format_type="journey", channels_colname="path",
          journey_with_conv_colname="has_conv", user_id_colname="journey_id",
          time_till_conv_colname="time_till_end", conversion_value_colname="value"))
timed("last_touch", m.run_last_click)
timed("first_touch", m.run_first_click)
timed("linear", m.run_linear)
timed("time_decay", lambda: m.run_time_decay(half_life_hours=168.0))
timed("position_based", m.run_position_based)
mk = timed("markov", m.run_markov)
timed("shapley", lambda: m.run_shapley(max_size=8, value_column="conversions"))
for ch, re in mk.metadata["removal_effect"]["removal_effect"].to_dict().items():
    print(f"python removal_effect {ch} {re:.12f}")
print(f"python version mam {md.version('marketing-attribution-models')} polars {pl.__version__}")
PY

"$VENV/bin/python" - "$WORK/rust.txt" "$WORK/python.txt" "$OUT" "$N" "$LOAD" <<'PY'
import sys, re
rust_txt, py_txt, out, n, load = sys.argv[1:]
def parse(path, who):
    secs, res = {}, {}
    for line in open(path):
        p = line.split()
        if len(p) >= 4 and p[0] == who and p[2] == "seconds":
            secs[p[1]] = float(p[3])
        if len(p) == 4 and p[1] == "removal_effect":
            res[p[2]] = float(p[3])
    return secs, res
rs, rre = parse(rust_txt, "rust")
ps, pre = parse(py_txt, "python")
data = next(l for l in open(rust_txt) if l.startswith("data")).strip()
built = next(l for l in open(rust_txt) if "build_paths" in l).strip()
version = next(l for l in open(py_txt) if "version" in l).split("version ")[1].strip()
diff = max(abs(rre[c] - pre[c]) for c in rre)
rows = [("last_touch", "last click"), ("first_touch", "first click"), ("linear", "linear"),
        ("time_decay", "time decay, half-life 7 d"), ("position_based", "position based 40/20/40"),
        ("markov", "Markov order 1, removal effects"), ("shapley", "Shapley (see note)")]
L = []
L.append("## Channel attribution (zhiying-attribution vs marketing-attribution-models)\n")
L.append(f"`scripts/bench/attribution.sh {n}` on the 2-core shared machine (load at start: {load}); "
         f"{data.removeprefix('data ')}. "
         f"Peer: {version}, in a throwaway venv. Wall seconds; Rust figures are medians of 3, Python single runs. "
         "On a machine this loaded single figures move by up to half between runs; the ratios are the point.\n")
L.append("| model | zhiying-attribution (s) | mam (s) | speed-up |")
L.append("|---|---:|---:|---:|")
for k, label in rows:
    r, p = rs.get(k), ps.get(k)
    L.append(f"| {label} | {r:.3f} | {p:.3f} | {p / r:.0f}x |")
L.append(f"| all seven models in one `attribute` call | {rs['all_models']:.3f} | {sum(ps[k] for k, _ in rows):.3f} (sum) | {sum(ps[k] for k, _ in rows) / rs['all_models']:.0f}x |")
L.append(f"| loading the journey CSV | {rs['read_paths_csv']:.3f} | {ps['read_csv'] + ps['preprocess']:.3f} (read + preprocess) | |")
L.append("")
L.append(f"Zhiying only: Markov order 2 {rs['markov_order2']:.3f} s, synergy matrices {rs['synergy']:.3f} s, "
         f"path statistics {rs['path_stats']:.3f} s; building paths from raw events (30-day lookback) "
         f"{rs['build_paths']:.3f} s for {built.split('(')[1].rstrip(')')}.\n")
L.append(f"First-order Markov removal effects agree: largest difference over the 8 channels {diff:.1e} at the 12 printed decimals "
         "(Gauss-Seidel over the sparse chain vs mam's fundamental-matrix inversion).\n")
L.append("Note: mam's Shapley is a different game (per journey, v(S) = conversions of the journeys whose "
         "channel set is exactly S, `max_size=8`); zhiying's is Zhao et al.'s v(S) = conversions of paths "
         "whose channel set is a subset of S, exact over all 2^8 coalitions. The times compare the work, not the numbers.")
open(out, "w").write("\n".join(L) + "\n")
print(f"wrote {out}")
PY
