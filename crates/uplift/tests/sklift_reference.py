"""Reference values for crates/uplift/tests/metrics_vs_sklift.rs, from scikit-uplift.

Run in a throwaway venv:
    python3 -m venv /var/cache/zhiying-tools/pyref-uplift
    /var/cache/zhiying-tools/pyref-uplift/bin/pip install scikit-uplift scikit-learn pandas
    /var/cache/zhiying-tools/pyref-uplift/bin/python crates/uplift/tests/sklift_reference.py

It prints the fixed data (as Rust literals) and every metric; the test pastes both.
"""
import warnings

import numpy as np
import sklift
from sklift.metrics import (qini_auc_score, qini_curve, uplift_at_k, uplift_auc_score,
                            uplift_curve)

warnings.simplefilter("ignore", FutureWarning)
rng = np.random.default_rng(20240611)
n = 60
t = (rng.random(n) < 0.45).astype(int)
# Scores on a coarse grid so there are ties; outcome loosely follows the score in the
# treated group so the metrics are away from zero.
score = np.round(rng.normal(0, 1, n), 1)
p = 0.25 + 0.2 * t * (score > 0)
y = (rng.random(n) < p).astype(int)
spend = np.round(y * rng.gamma(2.0, 40.0, n), 2)


def rust(name, arr, kind):
    if kind == "bool":
        body = ", ".join("true" if v else "false" for v in arr)
        print(f"const {name}: [bool; {len(arr)}] = [{body}];")
    else:
        body = ", ".join(repr(float(v)) for v in arr)
        print(f"const {name}: [f64; {len(arr)}] = [{body}];")


print(f"// scikit-uplift {sklift.__version__}, numpy {np.__version__}")
rust("T", t, "bool")
rust("SCORE", score, "f64")
rust("Y", y, "f64")
rust("SPEND", spend, "f64")
print(f"const QINI_AUC_NEG: f64 = {qini_auc_score(y, score, t, negative_effect=True)!r};")
print(f"const QINI_AUC_NONEG: f64 = {qini_auc_score(y, score, t, negative_effect=False)!r};")
print(f"const UPLIFT_AUC: f64 = {uplift_auc_score(y, score, t)!r};")
for k in (0.1, 0.2, 0.3):
    tag = int(round(k * 100))
    print(f"const AT_{tag}_OVERALL: f64 = {float(uplift_at_k(y, score, t, strategy='overall', k=k))!r};")
    print(f"const AT_{tag}_BY_GROUP: f64 = {float(uplift_at_k(y, score, t, strategy='by_group', k=k))!r};")
x, q = qini_curve(y, score, t)
rust("QINI_X", x, "f64")
rust("QINI_Y", q, "f64")
x, u = uplift_curve(y, score, t)
rust("UPLIFT_X", u * 0 + x, "f64")
rust("UPLIFT_Y", u, "f64")
# scikit-uplift refuses a non-binary outcome even in the curves; its formulas do not need
# one, so the binary check is switched off to get its values for spend.
import sklift.metrics.metrics as skm
skm.check_is_binary = lambda a: None
x, q = qini_curve(spend, score, t)
rust("SPEND_QINI_Y", q, "f64")
x, u = uplift_curve(spend, score, t)
rust("SPEND_UPLIFT_Y", u, "f64")
# The same switch gives scikit-uplift's Qini coefficient for spend (its perfect Qini
# curve, y·t − y·(1−t), is already defined for any outcome).
print(f"const SPEND_QINI_AUC_NEG: f64 = {qini_auc_score(spend, score, t, negative_effect=True)!r};")
