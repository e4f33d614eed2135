#!/usr/bin/env python3
"""Python peer for the campaign optimiser benchmark: solves the LP relaxation of the same
instance (dumped by `optimizer_bench CUSTOMERS DIR`) with scipy.optimize.linprog (HiGHS).

    optimizer_peer.py DIR

Prints one JSON line: customers, candidates, seconds (model build + solve), the LP optimum
and HiGHS's status. The LP optimum is the tightest possible upper bound for any plan, so it
checks both our bound (must be >= it) and our plan (must be <= it)."""
import json
import sys
import time

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix


def main(d):
    meta = json.load(open(f"{d}/meta.json"))
    offsets = np.fromfile(f"{d}/offsets.u32", dtype="<u4").astype(np.int64)
    value = np.fromfile(f"{d}/value.f32", dtype="<f4").astype(np.float64)
    cost = np.fromfile(f"{d}/cost.f32", dtype="<f4").astype(np.float64)
    channel = np.fromfile(f"{d}/channel.u8", dtype="u1").astype(np.int64)
    campaign = np.fromfile(f"{d}/campaign.u16", dtype="<u2").astype(np.int64)
    offer = np.fromfile(f"{d}/offer.u16", dtype="<u2").astype(np.int64)
    n, m = len(offsets) - 1, len(value)
    t0 = time.perf_counter()
    cust = np.repeat(np.arange(n), np.diff(offsets))
    j = np.arange(m)
    rows, cols, vals, rhs = [], [], [], []
    r0 = 0
    # Per-customer cap.
    rows.append(cust); cols.append(j); vals.append(np.ones(m)); rhs.append(np.full(n, meta["max_offers_per_customer"], dtype=float))
    r0 += n
    if meta["one_per_campaign"]:
        nc = len(meta["campaigns"])
        key = cust * nc + campaign
        uniq, inv = np.unique(key, return_inverse=True)
        rows.append(r0 + inv); cols.append(j); vals.append(np.ones(m)); rhs.append(np.ones(len(uniq)))
        r0 += len(uniq)
    for h, ch in enumerate(meta["channels"]):
        if ch["capacity"] is not None:
            sel = j[channel == h]
            rows.append(np.full(len(sel), r0)); cols.append(sel); vals.append(np.ones(len(sel))); rhs.append(np.array([ch["capacity"]], dtype=float))
            r0 += 1
    for c, camp in enumerate(meta["campaigns"]):
        if camp["budget"] is not None:
            sel = j[campaign == c]
            rows.append(np.full(len(sel), r0)); cols.append(sel); vals.append(cost[sel]); rhs.append(np.array([camp["budget"]], dtype=float))
            r0 += 1
    for o, off in enumerate(meta["offers"]):
        sel = j[offer == o]
        if off.get("max") is not None:
            rows.append(np.full(len(sel), r0)); cols.append(sel); vals.append(np.ones(len(sel))); rhs.append(np.array([off["max"]], dtype=float))
            r0 += 1
        if off.get("min", 0) > 0:
            rows.append(np.full(len(sel), r0)); cols.append(sel); vals.append(-np.ones(len(sel))); rhs.append(np.array([-off["min"]], dtype=float))
            r0 += 1
    a = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(r0, m)).tocsr()
    b = np.concatenate(rhs)
    res = linprog(-value, A_ub=a, b_ub=b, bounds=(0, 1), method="highs")
    secs = time.perf_counter() - t0
    print(json.dumps({
        "customers": n, "candidates": m, "rows": r0, "seconds": secs,
        "lp_optimum": -res.fun if res.status == 0 else None,
        "status": res.message,
    }))


if __name__ == "__main__":
    main(sys.argv[1])
