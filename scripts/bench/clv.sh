#!/usr/bin/env bash
# CLV fit speed: zhiying-clv next to lifetimes (pip, throwaway venv) on the CDNOW calibration
# summary, then zhiying-clv alone on N simulated customers (BG/NBD + Gamma-Gamma).
#
# Usage: scripts/bench/clv.sh [N_CUSTOMERS]   (default 1,000,000)
set -euo pipefail
N=${1:-1000000}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/zhiying-target}
VENV=${VENV:-/tmp/zhiying-bench-clv-venv}
SUMMARY="$ROOT/datasets/cdnow_customers_summary_with_transactions.csv"
cd "$ROOT"

cargo build -q --release -p zhiying-clv --example fit_timing
BIN="$CARGO_TARGET_DIR/release/examples/fit_timing"

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q lifetimes
fi

echo "== machine load: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in 1 2; do
  echo "== round $round: zhiying-clv on CDNOW (2,357 customers)"
  "$BIN" "$SUMMARY"
  echo "== round $round: lifetimes on CDNOW"
  "$VENV/bin/python" - "$SUMMARY" <<'PY'
import sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd, lifetimes
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter
d = pd.read_csv(sys.argv[1])
rep = d[d["x"] > 0]
def timed(f, repeat=7):
    # Medians of wall and process CPU seconds over `repeat` fits, as for zhiying-clv.
    wall, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        out = f()
        wall.append(time.perf_counter() - t); cpu.append(time.process_time() - c)
    med = lambda v: sorted(v)[len(v) // 2]
    return out, (med(wall), med(cpu))
fmt = lambda s: f"seconds {s[0]:.4f} cpu_seconds {s[1]:.4f}"
bg, bg_s = timed(lambda: BetaGeoFitter().fit(d["x"], d["t_x"], d["T"]))
gg, gg_s = timed(lambda: GammaGammaFitter().fit(rep["x"], rep["zbar"]))
pn, pn_s = timed(lambda: ParetoNBDFitter().fit(d["x"], d["t_x"], d["T"]), 3)
p = bg.params_; q = gg.params_; s = pn.params_
print(f"lifetimes {lifetimes.__version__}")
print(f"bgnbd  r={p['r']:.4f} alpha={p['alpha']:.4f} a={p['a']:.4f} b={p['b']:.4f} {fmt(bg_s)}")
print(f"gg     p={q['p']:.4f} q={q['q']:.4f} v={q['v']:.4f} {fmt(gg_s)}")
print(f"pareto r={s['r']:.4f} alpha={s['alpha']:.4f} s={s['s']:.4f} beta={s['beta']:.4f} {fmt(pn_s)}")
print(f"bgnbd_plus_gg seconds {bg_s[0] + gg_s[0]:.4f} cpu_seconds {bg_s[1] + gg_s[1]:.4f} (medians of 7; Pareto/NBD of 3)")
PY
done

echo "== zhiying-clv on $N simulated customers (BG/NBD r=0.243 alpha=4.414 a=0.793 b=2.426, 39-week calibration, 12-week cohorts, continuous times)"
"$BIN" --simulate "$N"
