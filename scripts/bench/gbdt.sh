#!/usr/bin/env bash
# Boosted trees, side by side: Zhiying (`zhiying model cv`, LightGBM 4.7 built from source
# through lightgbm3-sys) against Python LightGBM (pip, with scikit-learn for the metrics),
# on the very same folds (Zhiying writes them with --write-folds; Python reads them) and
# the same settings: 300 trees, learning rate 0.05, 31 leaves, 255 bins, col-wise
# histograms, deterministic, the same thread count.
#
#  1. bank-full without `duration`, 5-fold stratified CV: AUC, KS, log-loss, fit seconds.
#  2. a synthetic 1M × 50 table (40 numeric with 2% missing, 10 categorical), generated
#     here with NumPy (seed 7): 2-fold CV (500k training rows per fit).
#  3. batch scoring rows/s of a 300-tree model trained on the whole synthetic table.
#
# Usage: scripts/bench/gbdt.sh      (THREADS=2 SYN_ROWS=1000000 SYN_FOLDS=2 to change;
#        ZHIYING_BIN and SCORE_BENCH_BIN point at prebuilt binaries and skip the build)
# Uses the dev-profile binaries of the shared target dir (LightGBM's C++ is compiled
# optimised in every profile; zhiying-models is opt-level 3 in dev).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/cache/zhiying-target}
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}
THREADS=${THREADS:-2}
SYN_ROWS=${SYN_ROWS:-1000000}
SYN_FOLDS=${SYN_FOLDS:-2}
WORK=${WORK:-/tmp/zhiying-bench-gbdt}
VENV=${VENV:-/tmp/venv-gbdt-bench}
mkdir -p "$WORK"

build_env="$(scripts/ensure-build-tools.sh)"
eval "$build_env"
if [ -z "${ZHIYING_BIN:-}" ]; then
  echo "== building (dev profile, whole workspace)"
  cargo build -q --workspace --all-targets
fi
ZHIYING=${ZHIYING_BIN:-$CARGO_TARGET_DIR/debug/zhiying}
SCORE_BENCH=${SCORE_BENCH_BIN:-$CARGO_TARGET_DIR/debug/examples/gbdt_score_bench}

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check lightgbm scikit-learn pandas numpy
fi
PY="$VENV/bin/python"

cat > "$WORK/peer.py" <<'PY'
"""Python LightGBM on the folds Zhiying wrote, with the same settings."""
import json, sys, time
import numpy as np, pandas as pd, lightgbm as lgb
from sklearn.metrics import roc_auc_score, log_loss, roc_curve

mode, csv, sep, target, positive, exclude, folds_csv, threads = sys.argv[1:9]
threads = int(threads)
df = pd.read_csv(csv, sep=sep)
y = (df[target].astype(str) == positive).astype(int).to_numpy()
drop = [target] + [c for c in exclude.split(",") if c]
X = df.drop(columns=drop)
text_cols = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
for c in text_cols:
    X[c] = X[c].astype("category")
params = dict(n_estimators=300, learning_rate=0.05, num_leaves=31, max_bin=255,
              min_child_samples=20, min_child_weight=1e-3, subsample=1.0, colsample_bytree=1.0,
              reg_alpha=0.0, reg_lambda=0.0, random_state=42, n_jobs=threads,
              deterministic=True, force_col_wise=True, feature_pre_filter=False, verbose=-1)

if mode == "cv":
    fold = pd.read_csv(folds_csv)["fold"].to_numpy()
    aucs, kss, lls, secs = [], [], [], []
    for f in sorted(set(fold)):
        tr, te = fold != f, fold == f
        clf = lgb.LGBMClassifier(**params)
        t = time.perf_counter()
        clf.fit(X[tr], y[tr])
        secs.append(time.perf_counter() - t)
        p = clf.predict_proba(X[te])[:, 1]
        fpr, tpr, _ = roc_curve(y[te], p)
        aucs.append(roc_auc_score(y[te], p)); kss.append(float(np.max(tpr - fpr)))
        lls.append(log_loss(y[te], p))
    print(json.dumps(dict(lightgbm=lgb.__version__, auc=float(np.mean(aucs)), auc_std=float(np.std(aucs, ddof=1)),
                          ks=float(np.mean(kss)), log_loss=float(np.mean(lls)),
                          train_seconds=float(np.sum(secs)), folds=[float(a) for a in aucs])))
else:  # score: train on everything, time predict on the NumPy matrix (codes for categories)
    for c in X.columns:
        if str(X[c].dtype) == "category":
            X[c] = X[c].cat.codes.replace(-1, np.nan).astype(float)
    cats = [i for i, c in enumerate(X.columns) if c in set(text_cols)]
    M = X.to_numpy(dtype=np.float64)
    ds = lgb.Dataset(M, label=y, categorical_feature=cats, params=dict(max_bin=255, feature_pre_filter=False, verbose=-1))
    booster_params = {k: v for k, v in params.items() if k not in ("n_estimators", "random_state", "n_jobs",
                      "min_child_samples", "min_child_weight", "subsample", "colsample_bytree", "reg_alpha", "reg_lambda")}
    booster_params.update(objective="binary", seed=42, num_threads=threads, min_data_in_leaf=20)
    t = time.perf_counter()
    booster = lgb.train(booster_params, ds, num_boost_round=300)
    train = time.perf_counter() - t
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        p = booster.predict(M, num_threads=threads)
        best = min(best, time.perf_counter() - t)
    print(json.dumps(dict(lightgbm=lgb.__version__, rows=len(M), train_seconds=train, predict_seconds=best,
                          rows_per_second=len(M) / best, mean_prediction=float(p.mean()))))
PY

BANK=$(ls datasets/bank-full.csv.gz 2>/dev/null || ls ../shared/datasets/bank-full.csv.gz)
echo "== bank-full without duration, 5-fold CV"
"$ZHIYING" model cv --csv "$BANK" --target y --exclude duration --folds 5 --seed 42 \
  --threads "$THREADS" --write-folds "$WORK/bank-folds.csv" --json > "$WORK/bank-zhiying.json"
"$PY" - "$WORK/bank-zhiying.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"zhiying  AUC {r['auc']['mean']:.4f} ± {r['auc']['std']:.4f}  KS {r['ks']['mean']:.4f}  "
      f"log-loss {r['log_loss']['mean']:.4f}  fit {r['train_seconds']:.2f} s  folds {[round(f['auc'], 4) for f in r['folds']]}")
PY
"$PY" "$WORK/peer.py" cv "$BANK" ';' y yes duration "$WORK/bank-folds.csv" "$THREADS" | tee "$WORK/bank-lightgbm.json" |
  "$PY" -c "import json,sys; r=json.load(sys.stdin); print(f\"lightgbm AUC {r['auc']:.4f} ± {r['auc_std']:.4f}  KS {r['ks']:.4f}  log-loss {r['log_loss']:.4f}  fit {r['train_seconds']:.2f} s  folds {[round(a, 4) for a in r['folds']]}  (lightgbm {r['lightgbm']})\")"

SYN="$WORK/synthetic-${SYN_ROWS}x50.csv"
if [ ! -s "$SYN" ]; then
  echo "== generating $SYN"
  "$PY" - "$SYN" "$SYN_ROWS" <<'PY'
import sys, numpy as np, pandas as pd
path, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(7)
num = rng.normal(size=(n, 40))
cols = {f"x{i}": num[:, i] for i in range(40)}
levels = [5, 8, 12, 20, 3, 6, 10, 15, 4, 30]
cat_codes = [rng.integers(0, k, size=n) for k in levels]
effects = [rng.normal(scale=0.6, size=k) for k in levels]
logit = (0.8 * num[:, 0] - 0.6 * num[:, 1] + 0.5 * num[:, 2] * num[:, 3] + np.sin(2 * num[:, 4])
         + 0.4 * np.abs(num[:, 5]) - 0.3 * (num[:, 6] > 1) + 0.2 * num[:, 7:15].sum(axis=1) / 3
         + sum(e[c] for e, c in zip(effects[:5], cat_codes[:5])) - 2.0)
y = rng.random(n) < 1 / (1 + np.exp(-logit))
for i in range(40):
    miss = rng.random(n) < 0.02
    cols[f"x{i}"] = np.where(miss, np.nan, cols[f"x{i}"]).round(5)
for j, c in enumerate(cat_codes):
    cols[f"c{j}"] = np.char.add(f"c{j}_", c.astype(str))
cols["y"] = np.where(y, "yes", "no")
pd.DataFrame(cols).to_csv(path, index=False, na_rep="")
print(f"{n} rows, {y.mean():.3f} positive")
PY
fi

echo "== synthetic ${SYN_ROWS} × 50, ${SYN_FOLDS}-fold CV"
"$ZHIYING" model cv --csv "$SYN" --target y --folds "$SYN_FOLDS" --seed 42 \
  --threads "$THREADS" --write-folds "$WORK/syn-folds.csv" --json > "$WORK/syn-zhiying.json"
"$PY" - "$WORK/syn-zhiying.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"zhiying  AUC {r['auc']['mean']:.4f}  log-loss {r['log_loss']['mean']:.4f}  fit {r['train_seconds']:.2f} s  (read {r['load_seconds']:.1f} s)")
PY
"$PY" "$WORK/peer.py" cv "$SYN" ',' y yes "" "$WORK/syn-folds.csv" "$THREADS" | tee "$WORK/syn-lightgbm.json" |
  "$PY" -c "import json,sys; r=json.load(sys.stdin); print(f\"lightgbm AUC {r['auc']:.4f}  log-loss {r['log_loss']:.4f}  fit {r['train_seconds']:.2f} s\")"

echo "== batch scoring, 300-tree model on the synthetic table"
"$SCORE_BENCH" "$SYN" y "" 3 "$THREADS" | tee "$WORK/score-zhiying.json" | sed 's/^/zhiying  /'
"$PY" "$WORK/peer.py" score "$SYN" ',' y yes "" "" "$THREADS" | tee "$WORK/score-lightgbm.json" | sed 's/^/lightgbm /'
