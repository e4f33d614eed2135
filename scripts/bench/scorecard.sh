#!/usr/bin/env bash
# zhiying-scorecard against scorecardpy (and scikit-learn's logistic regression) on the same
# 5 stratified folds: German credit and bank-full without `duration`. AUC and CV seconds.
# Usage: scripts/bench/scorecard.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/zt-scorecard}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
venv=/tmp/venv-scorecard
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import scorecardpy, sklearn, pandas; assert pandas.__version__ < '2.2'" 2>/dev/null; then
  python3 -m venv "$venv"
  # scorecardpy 0.1.9.7 calls pandas APIs removed in pandas 3 (to_numeric errors="ignore").
  "$venv/bin/pip" install -q scorecardpy "pandas<2.2" "numpy<2" scikit-learn
fi
cargo build -q --workspace --bins --examples
bench="$CARGO_TARGET_DIR/debug/examples/cv_bench"
work="$(mktemp -d /tmp/zhiying-scorecard-bench-XXXX)"
trap 'rm -rf "$work"' EXIT
run() {
  local name="$1" file="$2" target="$3" positive="$4"; shift 4
  echo "== $name"
  "$bench" "$file" "$target" "$positive" "$work/folds.csv" "$@"
  "$venv/bin/python" scripts/bench/scorecard_peer.py "$file" "$target" "$positive" "$work/folds.csv" "$@"
}
run german-credit datasets/german-credit.csv creditability bad
run bank-full datasets/bank-full.csv.gz y yes duration
