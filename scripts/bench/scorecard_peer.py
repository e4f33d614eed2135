"""scorecardpy on the same folds as zhiying-scorecard (called by scripts/bench/scorecard.sh).

Follows scorecardpy's README workflow on each training fold: var_filter (IV >= 0.02),
woebin (its defaults: tree-like fine classing, count_distr_limit 0.05, bin_num_limit 8),
woebin_ply, then scikit-learn LogisticRegression; scores the held-out fold, prints AUC and
seconds as one JSON line. Also scikit-learn's plain logistic (one-hot + standardised) for the
`logistic` comparison.
"""
import json
import sys
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

warnings.filterwarnings("ignore")
path, target, positive, folds_path = sys.argv[1:5]
exclude = sys.argv[5:]
sep = ";" if open(path, "rb").read(2) != b"\x1f\x8b" and ";" in open(path).readline() else None
df = pd.read_csv(path, sep=sep or ("," if not path.endswith(".gz") else ";"))
df = df.drop(columns=[c for c in exclude if c in df.columns])
y = (df[target].astype(str) == positive).astype(int).to_numpy()
folds = pd.read_csv(folds_path)["fold"].to_numpy()
assert len(folds) == len(df)

def run(name, fit_predict):
    aucs, t0 = [], time.perf_counter()
    for k in range(5):
        tr, te = folds != k, folds == k
        p = fit_predict(df[tr].reset_index(drop=True), df[te].reset_index(drop=True))
        aucs.append(roc_auc_score(y[te], p))
    secs = time.perf_counter() - t0
    print(json.dumps({"tool": name, "auc_mean": round(float(np.mean(aucs)), 4),
                      "auc_sd": round(float(np.std(aucs, ddof=1)), 4),
                      "fold_auc": [round(a, 4) for a in aucs], "cv_seconds": round(secs, 3)}),
          flush=True)

def scorecardpy_fit_predict(train, test):
    import scorecardpy as sc
    data = train.copy()
    data[target] = (data[target].astype(str) == positive).astype(int)
    kept = sc.var_filter(data, y=target, iv_limit=0.02, return_rm_reason=False)
    bins = sc.woebin(kept, y=target, print_step=0)
    tr_woe = sc.woebin_ply(kept, bins, print_step=0)
    te_woe = sc.woebin_ply(test.drop(columns=[target]), bins, print_step=0)
    cols = [c for c in tr_woe.columns if c != target]
    lr = LogisticRegression(C=1e6, max_iter=1000)
    lr.fit(tr_woe[cols], tr_woe[target])
    return lr.predict_proba(te_woe[cols])[:, 1]

def sklearn_logistic(train, test):
    feats = [c for c in train.columns if c != target]
    cat = [c for c in feats if train[c].dtype == object]
    num = [c for c in feats if c not in cat]
    model = make_pipeline(
        ColumnTransformer([("num", StandardScaler(), num),
                           ("cat", OneHotEncoder(handle_unknown="ignore"), cat)]),
        LogisticRegression(C=1.0, max_iter=2000))
    model.fit(train[feats], (train[target].astype(str) == positive).astype(int))
    return model.predict_proba(test[feats])[:, 1]

run("scorecardpy", scorecardpy_fit_predict)
run("sklearn-logistic", sklearn_logistic)
