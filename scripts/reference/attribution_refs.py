#!/usr/bin/env python3
"""Independent reference numbers for zhiying-attribution's Markov and Shapley tests.

The Rust crate solves the Markov chain by Gauss-Seidel sweeps over a sparse graph and the
Shapley game by a zeta transform over all coalitions. This script uses different algorithms
on the same fixed example paths:

* Markov (orders 1 and 2): the absorbing-chain fundamental matrix N = (I - Q)^-1 with numpy;
  removal redirects every transition into a removed state to the null state.
* Shapley: brute-force enumeration of all n! join orders, v(S) = conversions (value) of the
  paths whose channel set is a subset of S.
* Shapley interaction index and pairwise synergy: brute force over all coalitions.

As a third-party cross-check it also prints the first-order removal effects of the
`marketing-attribution-models` package (mam) when it is installed.

Usage:
  python3 -m venv /var/cache/zhiying-tools/pyref-attribution
  /var/cache/zhiying-tools/pyref-attribution/bin/pip install numpy marketing-attribution-models
  /var/cache/zhiying-tools/pyref-attribution/bin/python scripts/reference/attribution_refs.py

The printed Rust constants are pasted into crates/attribution/tests/reference.rs.
"""

import itertools
import math

import numpy as np

# (path, conversions, non-conversions, value): the same rows as tests/reference.rs.
PATHS = [
    ("app > sms > call", 3, 7, 3000.0),
    ("sms", 1, 9, 500.0),
    ("app", 2, 12, 800.0),
    ("branch > app", 4, 2, 9000.0),
    ("email > email > app > branch", 2, 5, 4100.0),
    ("call > sms", 0, 6, 0.0),
    ("wechat > app > sms", 1, 3, 1200.0),
    ("sms > branch", 2, 1, 5000.0),
    ("email", 0, 8, 0.0),
    ("wechat > call > branch > app > sms", 1, 0, 2500.0),
    ("app > app > call", 1, 4, 700.0),
]


def parsed():
    return [([s.strip() for s in p.split(">")], c, n, v) for p, c, n, v in PATHS]


def channels():
    # Interning order of first appearance, as Paths::push does.
    seen = []
    for steps, *_ in parsed():
        for s in steps:
            if s not in seen:
                seen.append(s)
    return seen


def markov(order):
    """Removal effects by fundamental-matrix inversion."""
    rows = parsed()
    states = ["(start)"]
    index = {"(start)": 0}
    trans = {}
    conv_w, null_w, value_in = {}, {}, {}

    def state(window):
        key = tuple(window)
        if key not in index:
            index[key] = len(states)
            states.append(key)
        return index[key]

    for steps, c, n, v in rows:
        w = c + n
        prev = 0
        for i in range(len(steps)):
            s = state(steps[max(0, i - order + 1) : i + 1])
            trans[(prev, s)] = trans.get((prev, s), 0.0) + w
            prev = s
        conv_w[prev] = conv_w.get(prev, 0.0) + c
        null_w[prev] = null_w.get(prev, 0.0) + n
        value_in[prev] = value_in.get(prev, 0.0) + v
    m = len(states)
    CONV, NULL = m, m + 1
    T = np.zeros((m + 2, m + 2))
    for (a, b), w in trans.items():
        T[a, b] += w
    for s, w in conv_w.items():
        T[s, CONV] += w
    for s, w in null_w.items():
        T[s, NULL] += w
    out = T[:m].sum(axis=1)
    reward = np.array([value_in.get(s, 0.0) / out[s] for s in range(m)])

    def solve(removed):
        M = T.copy()
        for s in removed:
            M[:, NULL] += M[:, s]
            M[:, s] = 0.0
            M[s, :] = 0.0
            M[s, NULL] = 1.0
        P = M[:m] / M[:m].sum(axis=1, keepdims=True)
        Q = P[:, :m]
        N = np.linalg.inv(np.eye(m) - Q)
        p_conv = (N @ P[:, CONV])[0]
        r = reward.copy()
        r[list(removed)] = 0.0
        e_value = (N @ r)[0]
        return p_conv, e_value

    p0, v0 = solve(())
    chans = channels()
    re, rev = [], []
    for ch in chans:
        removed = tuple(i for i, s in enumerate(states) if i > 0 and ch in s)
        p, v = solve(removed)
        re.append(1 - p / p0)
        rev.append(1 - v / v0)
    total_c = sum(r[1] for r in rows)
    total_v = sum(r[3] for r in rows)
    conv = [x / sum(re) * total_c for x in re]
    val = [x / sum(rev) * total_v for x in rev]
    return p0, re, rev, conv, val, m - 1


def worth_fn():
    sets = {}
    for steps, c, _, v in parsed():
        key = frozenset(steps)
        a = sets.setdefault(key, [0.0, 0.0])
        a[0] += c
        a[1] += v

    def v(S, which):
        return sum(x[which] for T, x in sets.items() if T <= S)

    return v


def shapley_by_permutations():
    chans = channels()
    v = worth_fn()
    n = len(chans)
    phi = np.zeros((2, n))
    perms = 0
    for perm in itertools.permutations(range(n)):
        perms += 1
        S = set()
        for j in perm:
            for which in (0, 1):
                phi[which, j] += v(frozenset(chans[i] for i in S | {j}), which) - v(
                    frozenset(chans[i] for i in S), which
                )
            S.add(j)
    return phi[0] / perms, phi[1] / perms


def interaction_and_synergy():
    chans = channels()
    v = worth_fn()
    n = len(chans)
    inter = np.zeros((n, n))
    syn = np.zeros((n, n))
    for a, b in itertools.combinations(range(n), 2):
        rest = [i for i in range(n) if i not in (a, b)]
        total = 0.0
        for size in range(len(rest) + 1):
            w = math.factorial(size) * math.factorial(n - size - 2) / math.factorial(n - 1)
            for S in itertools.combinations(rest, size):
                base = {chans[i] for i in S}
                total += w * (
                    v(frozenset(base | {chans[a], chans[b]}), 0)
                    - v(frozenset(base | {chans[a]}), 0)
                    - v(frozenset(base | {chans[b]}), 0)
                    + v(frozenset(base), 0)
                )
        inter[a, b] = inter[b, a] = total
        s = (
            v(frozenset({chans[a], chans[b]}), 0)
            - v(frozenset({chans[a]}), 0)
            - v(frozenset({chans[b]}), 0)
        )
        syn[a, b] = syn[b, a] = s
    return inter, syn


def mam_removal_effects():
    try:
        import pandas as pd
        from mam import MAM
    except ImportError:
        return None
    rows = []
    for i, (p, c, n, v) in enumerate(PATHS):
        times = " > ".join("0" for _ in p.split(">"))
        for k in range(c):
            rows.append((f"j{i}c{k}", p, times, True, v / c))
        for k in range(n):
            rows.append((f"j{i}n{k}", p, times, False, 0.0))
    df = pd.DataFrame(rows, columns=["journey_id", "path", "time_till_end", "has_conv", "value"])
    m = MAM(
        df,
        format_type="journey",
        channels_colname="path",
        journey_with_conv_colname="has_conv",
        user_id_colname="journey_id",
        conversion_value_colname="value",
    )
    res = m.run_markov()
    return res.metadata["removal_effect"]["removal_effect"].to_dict()


def rust(name, xs):
    body = ", ".join(repr(float(x)) for x in xs)
    return f"const {name}: [f64; {len(xs)}] = [{body}];"


def main():
    chans = channels()
    print("// channels:", chans)
    for order in (1, 2):
        p0, re, rev, conv, val, states = markov(order)
        print(f"// Markov order {order}: {states} transient states")
        print(f"const MARKOV{order}_P_CONV: f64 = {float(p0)!r};")
        print(rust(f"MARKOV{order}_RE", re))
        print(rust(f"MARKOV{order}_RE_VALUE", rev))
        print(rust(f"MARKOV{order}_CONV", conv))
        print(rust(f"MARKOV{order}_VALUE", val))
    sc, sv = shapley_by_permutations()
    print(f"// Shapley by {math.factorial(len(chans))} permutations")
    print(rust("SHAPLEY_CONV", sc))
    print(rust("SHAPLEY_VALUE", sv))
    inter, syn = interaction_and_synergy()
    print("// Shapley interaction index and pairwise synergy, upper triangle row-major")
    iu = np.triu_indices(len(chans), 1)
    print(rust("INTERACTION", inter[iu]))
    print(rust("SYNERGY", syn[iu]))
    mam = mam_removal_effects()
    if mam is not None:
        print("// mam (marketing-attribution-models) first-order removal effects:")
        print(rust("MAM_RE", [mam[c] for c in chans]))


if __name__ == "__main__":
    main()
