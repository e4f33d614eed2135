#!/usr/bin/env bash
# Uplift, side by side on the very same folds: Zhiying's cross-fitted T-learner (and
# X-learner) on LightGBM against a Python two-model baseline with scikit-learn's
# HistGradientBoostingClassifier wrapped in scikit-uplift's TwoModels.
#
# Hillstrom (MineThatData 2008): visit, Womens E-Mail vs No E-Mail (42,693 rows), the
# other outcomes (conversion, spend) excluded from the features; 5 folds stratified on
# treatment × outcome, seed 42. Zhiying writes every row's fold (--write-rows) and
# Python trains on exactly those folds. Both sides use the same tree settings: 200
# rounds, learning rate 0.03, 15 leaves, at least 100 rows per leaf, and THREADS threads.
# Python also recomputes Zhiying's per-fold Qini from Zhiying's out-of-fold scores with
# scikit-uplift, as a live check of the metric.
#
# Usage: scripts/bench/uplift.sh   (THREADS=2 DATA=... to change; ZHIYING_UPLIFT_BIN
#        points at a prebuilt uplift_evaluate example binary and skips the build)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/zhiying-target}
THREADS=${THREADS:-2}
DATA=${DATA:-/work/shared/datasets/hillstrom.csv.gz}
WORK=${WORK:-/tmp/zhiying-bench-uplift}
VENV=${VENV:-/var/cache/zhiying-tools/pyref-uplift}
mkdir -p "$WORK"

if [ -z "${ZHIYING_UPLIFT_BIN:-}" ]; then
  eval "$(scripts/ensure-build-tools.sh)"
  echo "== building the uplift_evaluate example (dev profile; zhiying-uplift is opt-level 3)"
  nice -n 10 cargo build -q --workspace --bins --examples
fi
BIN=${ZHIYING_UPLIFT_BIN:-$CARGO_TARGET_DIR/debug/examples/uplift_evaluate}

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check scikit-uplift scikit-learn pandas
fi
PY="$VENV/bin/python"

ARGS=(--csv "$DATA" --treatment-col segment --treatment "Womens E-Mail" --control "No E-Mail"
      --outcome visit --exclude conversion --exclude spend --folds 5 --seed 42)
export OMP_NUM_THREADS=$THREADS
for learner in t x; do
  echo "== zhiying ($learner-learner)"
  "$BIN" "${ARGS[@]}" --learner $learner --json --write-rows "$WORK/rows-$learner.csv" \
    > "$WORK/report-$learner.json" 2> "$WORK/time-$learner.txt"
  cat "$WORK/time-$learner.txt"
done

cat > "$WORK/peer.py" <<'PY'
"""Two-model baseline (HistGradientBoostingClassifier × 2, scikit-uplift TwoModels) on
Zhiying's folds; prints JSON."""
import json, sys, time, warnings
import numpy as np, pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklift.metrics import qini_auc_score
from sklift.models import TwoModels

warnings.simplefilter("ignore", FutureWarning)
data, rows_csv, report_json = sys.argv[1:4]
t0 = time.perf_counter()
df = pd.read_csv(data)
rows = pd.read_csv(rows_csv)
d = df.iloc[rows["row"].to_numpy()].reset_index(drop=True)
load_s = time.perf_counter() - t0
treat = (d["segment"] == "Womens E-Mail").astype(int).to_numpy()
assert (treat == rows["treated"].to_numpy()).all(), "row mapping differs"
y = d["visit"].to_numpy()
X = d.drop(columns=["segment", "visit", "conversion", "spend"])
for c in X.columns:
    if not pd.api.types.is_numeric_dtype(X[c]):
        X[c] = X[c].astype("category")
fold = rows["fold"].to_numpy()
ours = rows["uplift"].to_numpy()
report = json.load(open(report_json))

def hgb():
    return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.03, max_leaf_nodes=15,
                                          min_samples_leaf=100, categorical_features="from_dtype",
                                          early_stopping=False, random_state=42)

qini, ours_check, fit_s = [], [], 0.0
for f in sorted(np.unique(fold)):
    tr, te = fold != f, fold == f
    t1 = time.perf_counter()
    m = TwoModels(estimator_trmnt=hgb(), estimator_ctrl=hgb(), method="vanilla")
    m.fit(X[tr], y[tr], treat[tr])
    u = m.predict(X[te])
    fit_s += time.perf_counter() - t1
    qini.append(qini_auc_score(y[te], u, treat[te], negative_effect=True))
    ours_check.append(qini_auc_score(y[te], ours[te], treat[te], negative_effect=True))
ours_rust = [p["qini"] for p in report["per_fold"]]
print(json.dumps({
    "python_qini_per_fold": qini,
    "python_qini_mean": float(np.mean(qini)), "python_qini_std": float(np.std(qini, ddof=1)),
    "python_fit_predict_seconds": fit_s, "python_load_seconds": load_s,
    "zhiying_qini_recomputed_by_sklift": ours_check,
    "max_abs_diff_vs_zhiying": float(np.max(np.abs(np.array(ours_check) - np.array(ours_rust)))),
}, indent=1))
PY

echo "== python two-model baseline (HistGradientBoostingClassifier, scikit-uplift TwoModels)"
"$PY" "$WORK/peer.py" "$DATA" "$WORK/rows-t.csv" "$WORK/report-t.json" | tee "$WORK/peer.json"

"$PY" - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
peer = json.load(open(f"{w}/peer.json"))
print()
print("| model | Qini (mean ± std, 5 folds) | AUUC | uplift@30% | seconds |")
print("|---|---|---|---|---|")
for l, name in (("t", "Zhiying T-learner (LightGBM)"), ("x", "Zhiying X-learner (LightGBM)")):
    r = json.load(open(f"{w}/report-{l}.json"))
    secs = open(f"{w}/time-{l}.txt").read().split()[-1]
    print(f"| {name} | {r['qini']['mean']:.4f} ± {r['qini']['std']:.4f} | {r['auuc']['mean']:.4f} "
          f"| {r['uplift_at_30']['mean']:.4f} | {secs} (incl. CSV load) |")
    if l == "t":
        print(f"| random ranking, same folds | {r['random_qini']['mean']:.4f} ± {r['random_qini']['std']:.4f} | | | |")
print(f"| Python TwoModels(HistGradientBoosting) | {peer['python_qini_mean']:.4f} ± {peer['python_qini_std']:.4f} "
      f"| | | {peer['python_fit_predict_seconds']:.2f} (+{peer['python_load_seconds']:.2f} load) |")
print(f"\nscikit-uplift's Qini of Zhiying's own scores differs from Zhiying's by at most {peer['max_abs_diff_vs_zhiying']:.1e}")
PY
