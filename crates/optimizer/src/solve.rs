//! Lagrangian relaxation of the coupling constraints, a price-adjustment minimisation of the
//! dual, and a greedy primal repair.
//!
//! Relaxing channel capacities, campaign budgets and offer min/max counts with multipliers
//! leaves one independent problem per customer: pick at most `cap` candidates (at most one
//! per campaign) with the largest positive reduced value
//! `r = value − λ[channel] − μ[campaign]·cost − α[offer] + β[offer]`. That per-customer
//! feasible set is a matroid, so its LP relaxation is integral and the Lagrangian dual equals
//! the LP relaxation of the whole problem: every evaluated dual value is an upper bound on the
//! LP optimum and hence on the best integer plan.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::OptimizeError;
use crate::problem::Problem;
use crate::solution::{
    Assignment, CampaignUsage, ChannelUsage, MinShortfall, OfferUsage, Solution, Usage,
};

/// Knobs of the optimiser; [`Options::default`] suits runs from 10 to 10M customers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Options {
    /// Dual passes (each one sweep over all candidates) before stopping.
    pub max_iterations: u32,
    /// A constraint is settled when its usage is within this fraction of its limit (or it
    /// is slack with a zero price).
    pub tolerance: f64,
    /// Worker threads for the per-customer pass; 0 uses all available cores.
    pub threads: usize,
    /// Stop the dual phase after this many seconds (the repair still runs).
    pub time_limit_seconds: Option<f64>,
    /// Stop once the plan is certified within this fraction of the bound.
    pub target_gap: f64,
    /// Customers in the strided sample that warms up the prices (runs with at least twice
    /// as many customers only); 0 disables the warm start.
    pub warm_start_sample: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_iterations: 200,
            tolerance: 1e-4,
            threads: 0,
            time_limit_seconds: None,
            target_gap: 1e-3,
            warm_start_sample: 50_000,
        }
    }
}

/// Which coupling constraint a multiplier prices.
#[derive(Clone, Copy, Debug)]
enum RowKind {
    Channel(usize),
    Budget(usize),
    OfferMax(usize),
    OfferMin(usize),
}

#[derive(Clone, Debug)]
struct Row {
    kind: RowKind,
    limit: f64,
    /// Initial step of the multiplier, about 5% of the typical value it competes with.
    scale: f64,
}

/// Per-row price-adjustment state: sign-based steps that grow while the sign of the
/// violation holds (Rprop) and a secant jump once a sign change brackets the root.
#[derive(Clone, Debug)]
struct Adjust {
    m: f64,
    scale: f64,
    delta: f64,
    prev_m: f64,
    prev_v: f64,
    has_prev: bool,
}

/// Reduced-value tables for one set of multipliers.
struct Prices {
    chan: Vec<f64>,
    camp: Vec<f64>,
    offer: Vec<f64>,
}

/// Aggregates of one Lagrangian pass.
struct Pass {
    /// Sum over customers of their best reduced value.
    best: f64,
    chan: Vec<f64>,
    spend: Vec<f64>,
    offer: Vec<f64>,
    /// Selected candidates packed as `(order key of r) << 32 | index`, when collected.
    selected: Vec<u64>,
}

/// Optimises the problem: dual price adjustment, then greedy repair and fill.
pub fn optimize(problem: &Problem, options: &Options) -> Result<Solution, OptimizeError> {
    let started = Instant::now();
    check_options(options)?;
    check_mins(problem)?;
    let threads = if options.threads == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        options.threads
    };
    let bounds = chunk_bounds(problem, threads);
    let rows = build_rows(problem);
    let mut adj: Vec<Adjust> = rows
        .iter()
        .map(|r| Adjust {
            m: 0.0,
            scale: r.scale,
            delta: r.scale,
            prev_m: 0.0,
            prev_v: 0.0,
            has_prev: false,
        })
        .collect();

    let max_it = options.max_iterations.max(1);
    let out_of_time = || {
        options
            .time_limit_seconds
            .is_some_and(|l| started.elapsed().as_secs_f64() >= l)
    };
    let trace = std::env::var_os("ZHIYING_OPTIMIZER_TRACE").is_some();
    let mut best_ub = f64::INFINITY;
    let mut best_m: Vec<f64> = vec![0.0; rows.len()];
    let mut iterations = 0u32;
    let mut sample_passes = 0u32;

    // Warm start: prices balance a strided sample of customers against proportionally
    // scaled limits at a fraction of the cost; the full passes then only refine them.
    let n = problem.customer_count();
    if options.warm_start_sample > 0 && n >= 2 * options.warm_start_sample {
        let stride = (n / options.warm_start_sample) as u32;
        let sampled = n.div_ceil(stride as usize);
        let frac = sampled as f64 / n as f64;
        let sample_rows: Vec<Row> = rows
            .iter()
            .map(|r| Row {
                limit: r.limit * frac,
                ..r.clone()
            })
            .collect();
        let mut sample_ub = f64::INFINITY;
        let mut sample_m = best_m.clone();
        let mut history = Vec::new();
        let mut settled_sample = false;
        while sample_passes < max_it && !out_of_time() {
            let m: Vec<f64> = adj.iter().map(|a| a.m).collect();
            let pass = run_pass_strided(problem, &prices_for(problem, &rows, &m), &bounds, stride);
            sample_passes += 1;
            let ub = dual_value(&sample_rows, &m, pass.best);
            if ub < sample_ub {
                sample_ub = ub;
                sample_m.clone_from(&m);
            }
            history.push(sample_ub);
            let viol: Vec<f64> = sample_rows.iter().map(|r| violation(r, &pass)).collect();
            if trace {
                eprintln!(
                    "S {sample_passes} t {:.2} L {ub:.6} m {m:.4?} viol {viol:.2?}",
                    started.elapsed().as_secs_f64()
                );
            }
            let tol = 10.0 * options.tolerance;
            if sample_rows
                .iter()
                .zip(&adj)
                .zip(&viol)
                .all(|((r, a), &v)| settled(r, a, v, tol))
            {
                settled_sample = true;
                break;
            }
            if stalled(&history, 10, tol) {
                break;
            }
            for (a, &v) in adj.iter_mut().zip(&viol) {
                step(a, v);
            }
        }
        // Restart the full phase at the sample's best prices with small steps.
        let start = if settled_sample {
            adj.iter().map(|a| a.m).collect()
        } else {
            sample_m
        };
        for (a, m) in adj.iter_mut().zip(start) {
            *a = Adjust {
                m,
                scale: a.scale,
                delta: (0.02 * m).max(0.05 * a.scale),
                prev_m: m,
                prev_v: 0.0,
                has_prev: false,
            };
        }
    }

    let mut converged = false;
    let mut history: Vec<f64> = Vec::new();
    // Phase A: per-row price adjustment until every row is balanced or slack. Fast and
    // robust when many customers make usage a near-continuous function of the prices.
    while iterations < max_it {
        let m: Vec<f64> = adj.iter().map(|a| a.m).collect();
        let pass = run_pass(problem, &prices_for(problem, &rows, &m), &bounds, false);
        iterations += 1;
        let ub = dual_value(&rows, &m, pass.best);
        if ub < best_ub {
            best_ub = ub;
            best_m.clone_from(&m);
        }
        history.push(best_ub);
        let viol: Vec<f64> = rows.iter().map(|r| violation(r, &pass)).collect();
        if trace {
            eprintln!(
                "A {iterations} t {:.2} L {ub:.6} m {m:.4?} viol {viol:.2?}",
                started.elapsed().as_secs_f64()
            );
        }
        if rows
            .iter()
            .zip(&adj)
            .zip(&viol)
            .all(|((r, a), &v)| settled(r, a, v, options.tolerance))
        {
            converged = true;
            break;
        }
        // Stalled at a kink where rows must move together: hand over to phase B.
        if out_of_time() || stalled(&history, 10, options.tolerance) || iterations >= max_it / 2 {
            break;
        }
        for (a, &v) in adj.iter_mut().zip(&viol) {
            step(a, v);
        }
    }

    let mut plans: Vec<(Plan, Vec<f64>)> = Vec::new();
    let repair_at = |m: &[f64], best_ub: &mut f64, plans: &mut Vec<(Plan, Vec<f64>)>| -> f64 {
        let prices = prices_for(problem, &rows, m);
        let pass = run_pass(problem, &prices, &bounds, true);
        *best_ub = best_ub.min(dual_value(&rows, m, pass.best));
        let plan = repair(problem, &prices, pass.selected);
        let objective = plan.objective;
        plans.push((plan, m.to_vec()));
        objective
    };

    // Phase B: projected subgradient steps with the Polyak step towards the repaired plan's
    // value, for the kinks of small or tie-heavy instances where phase A stalls.
    let mut last_m: Vec<f64> = adj.iter().map(|a| a.m).collect();
    let good_enough = |ub: f64, target: f64| {
        ub - target <= options.tolerance.max(options.target_gap) * ub.abs().max(1e-12)
    };
    if !converged {
        let mut target = repair_at(&best_m, &mut best_ub, &mut plans);
        converged = good_enough(best_ub, target);
        let mut m = best_m.clone();
        let mut theta = 1.0f64;
        let mut since = 0u32;
        let mut repaired_at = best_ub;
        let mut phase_b = 0u32;
        while !converged && iterations < max_it && !out_of_time() {
            // Every 10 passes, repair from an improved dual point: a better plan both raises
            // the Polyak target and may already certify the gap.
            phase_b += 1;
            if phase_b.is_multiple_of(10) && best_ub < repaired_at {
                repaired_at = best_ub;
                target = target.max(repair_at(&best_m, &mut best_ub, &mut plans));
                if good_enough(best_ub, target) {
                    converged = true;
                    break;
                }
            }
            let pass = run_pass(problem, &prices_for(problem, &rows, &m), &bounds, false);
            iterations += 1;
            let ub = dual_value(&rows, &m, pass.best);
            if ub < best_ub - 1e-12 * ub.abs().max(1.0) {
                best_ub = ub;
                best_m.clone_from(&m);
                since = 0;
            } else {
                since += 1;
                if since >= 5 {
                    theta *= 0.5;
                    since = 0;
                }
            }
            if theta < 1e-6 {
                break;
            }
            // Gradient of L in coordinates scaled to value units; zero where the projection
            // onto m ≥ 0 blocks the move.
            let g: Vec<f64> = rows
                .iter()
                .zip(&m)
                .map(|(r, &x)| {
                    let d = -violation(r, &pass) * r.scale;
                    if x <= 0.0 && d > 0.0 { 0.0 } else { d }
                })
                .collect();
            let norm2: f64 = g.iter().map(|d| d * d).sum();
            if trace {
                eprintln!(
                    "B {iterations} t {:.2} L {ub:.6} target {target:.6} theta {theta} m {m:.4?}",
                    started.elapsed().as_secs_f64()
                );
            }
            if norm2 == 0.0 {
                // 0 is a subgradient: this point minimises the dual.
                converged = true;
                break;
            }
            if good_enough(best_ub, target) {
                converged = true;
                break;
            }
            let t = theta * (ub - target).max(1e-12 * ub.abs().max(1.0)) / norm2;
            for ((x, d), r) in m.iter_mut().zip(&g).zip(&rows) {
                *x = (*x - t * d * r.scale).max(0.0);
            }
        }
        last_m = m;
    }

    // Repair from the best dual point and from the last one (usually closer to
    // complementary slackness); keep the better plan.
    if plans.iter().all(|(_, m)| *m != best_m) {
        repair_at(&best_m, &mut best_ub, &mut plans);
    }
    if plans.iter().all(|(_, m)| *m != last_m) {
        repair_at(&last_m, &mut best_ub, &mut plans);
    }
    let mut best = None;
    for (plan, m) in plans {
        if best
            .as_ref()
            .is_none_or(|(p, _): &(Plan, Vec<f64>)| plan.objective > p.objective)
        {
            best = Some((plan, m));
        }
    }
    let Some((plan, m)) = best else {
        unreachable!("at least one repair ran")
    };
    Ok(assemble(
        problem,
        &rows,
        &m,
        plan,
        best_ub,
        iterations,
        sample_passes,
        converged,
        started,
    ))
}

/// No improvement of the best dual value beyond `tol` (relative) over the last `window` passes.
fn stalled(history: &[f64], window: usize, tol: f64) -> bool {
    history.len() > window && {
        let now = history[history.len() - 1];
        history[history.len() - 1 - window] - now <= tol * now.abs().max(1e-12)
    }
}

fn check_options(o: &Options) -> Result<(), OptimizeError> {
    if !(o.tolerance.is_finite() && o.tolerance > 0.0 && o.tolerance < 1.0) {
        return Err(OptimizeError::InvalidOption {
            field: "tolerance",
            got: o.tolerance,
            fix: "use a fraction in (0, 1), e.g. 1e-4",
        });
    }
    if !(o.target_gap.is_finite() && o.target_gap >= 0.0) {
        return Err(OptimizeError::InvalidOption {
            field: "target_gap",
            got: o.target_gap,
            fix: "use a fraction ≥ 0, e.g. 1e-3 for 0.1%",
        });
    }
    if let Some(t) = o.time_limit_seconds
        && !(t.is_finite() && t > 0.0)
    {
        return Err(OptimizeError::InvalidOption {
            field: "time_limit_seconds",
            got: t,
            fix: "use a positive number of seconds or no limit",
        });
    }
    Ok(())
}

/// An offer minimum above the number of customers who could receive the offer makes the
/// problem infeasible (and the dual unbounded below): refuse it up front.
fn check_mins(p: &Problem) -> Result<(), OptimizeError> {
    if p.offers.iter().all(|o| o.min == 0) {
        return Ok(());
    }
    let mut eligible = vec![0u64; p.offers.len()];
    let mut seen = vec![u32::MAX; p.offers.len()];
    for i in 0..p.customer_count() as u32 {
        if p.caps[i as usize] == 0 {
            continue;
        }
        for j in p.candidate_range(i) {
            let o = p.offer[j] as usize;
            if seen[o] != i {
                seen[o] = i;
                eligible[o] += 1;
            }
        }
    }
    for (o, offer) in p.offers.iter().enumerate() {
        if offer.min > eligible[o] {
            return Err(OptimizeError::MinUnreachable {
                offer: offer.name.clone(),
                min: offer.min,
                eligible: eligible[o],
            });
        }
    }
    Ok(())
}

/// Customer ranges with about equal numbers of candidates, one per thread.
fn chunk_bounds(p: &Problem, threads: usize) -> Vec<u32> {
    let n = p.customer_count();
    let total = p.candidate_count() as u64;
    let threads = threads.clamp(1, n.max(1));
    let mut bounds = vec![0u32];
    for t in 1..threads {
        let target = total * t as u64 / threads as u64;
        let i = p.offsets[..n].partition_point(|&o| (o as u64) < target) as u32;
        if i > *bounds.last().unwrap_or(&0) {
            bounds.push(i);
        }
    }
    bounds.push(n as u32);
    bounds.dedup();
    if bounds.len() == 1 {
        bounds.push(n as u32);
    }
    bounds
}

fn build_rows(p: &Problem) -> Vec<Row> {
    // Typical values per channel / campaign / offer set the first step of each multiplier.
    let (nh, nc, no) = (p.channels.len(), p.campaigns.len(), p.offers.len());
    let mut ch_sum = vec![0.0f64; nh];
    let mut ch_n = vec![0u64; nh];
    let mut cp_v = vec![0.0f64; nc];
    let mut cp_w = vec![0.0f64; nc];
    let mut of_sum = vec![0.0f64; no];
    let mut of_n = vec![0u64; no];
    for j in 0..p.candidate_count() {
        let v = p.value[j] as f64;
        let h = p.channel[j] as usize;
        let c = p.campaign[j] as usize;
        let o = p.offer[j] as usize;
        ch_sum[h] += v;
        ch_n[h] += 1;
        cp_v[c] += v;
        cp_w[c] += p.cost[j] as f64;
        of_sum[o] += v;
        of_n[o] += 1;
    }
    let mean = |s: f64, n: u64| {
        if n == 0 {
            1.0
        } else {
            (s / n as f64).max(1e-12)
        }
    };
    let mut rows = Vec::new();
    for (h, c) in p.channels.iter().enumerate() {
        if let Some(cap) = c.capacity {
            rows.push(Row {
                kind: RowKind::Channel(h),
                limit: cap as f64,
                scale: 0.05 * mean(ch_sum[h], ch_n[h]),
            });
        }
    }
    for (c, camp) in p.campaigns.iter().enumerate() {
        if let Some(b) = camp.budget {
            let ratio = if cp_w[c] > 0.0 {
                cp_v[c] / cp_w[c]
            } else {
                1.0
            };
            rows.push(Row {
                kind: RowKind::Budget(c),
                limit: b,
                scale: 0.05 * ratio.max(1e-12),
            });
        }
    }
    for (o, offer) in p.offers.iter().enumerate() {
        let scale = 0.05 * mean(of_sum[o], of_n[o]);
        if let Some(mx) = offer.max {
            rows.push(Row {
                kind: RowKind::OfferMax(o),
                limit: mx as f64,
                scale,
            });
        }
        if offer.min > 0 {
            rows.push(Row {
                kind: RowKind::OfferMin(o),
                limit: offer.min as f64,
                scale,
            });
        }
    }
    rows
}

fn prices_for(p: &Problem, rows: &[Row], m: &[f64]) -> Prices {
    let mut prices = Prices {
        chan: vec![0.0; p.channels.len()],
        camp: vec![0.0; p.campaigns.len()],
        offer: vec![0.0; p.offers.len()],
    };
    for (r, &x) in rows.iter().zip(m) {
        match r.kind {
            RowKind::Channel(h) => prices.chan[h] = x,
            RowKind::Budget(c) => prices.camp[c] = x,
            RowKind::OfferMax(o) => prices.offer[o] += x,
            RowKind::OfferMin(o) => prices.offer[o] -= x,
        }
    }
    prices
}

/// `L(m) = Σ_customers best reduced value + Σ_≤ m·limit − Σ_≥ m·limit`.
fn dual_value(rows: &[Row], m: &[f64], best: f64) -> f64 {
    best + rows
        .iter()
        .zip(m)
        .map(|(r, &x)| match r.kind {
            RowKind::OfferMin(_) => -x * r.limit,
            _ => x * r.limit,
        })
        .sum::<f64>()
}

/// Positive when the Lagrangian choice over-uses the row (raise its price).
fn violation(r: &Row, pass: &Pass) -> f64 {
    match r.kind {
        RowKind::Channel(h) => pass.chan[h] - r.limit,
        RowKind::Budget(c) => pass.spend[c] - r.limit,
        RowKind::OfferMax(o) => pass.offer[o] - r.limit,
        RowKind::OfferMin(o) => r.limit - pass.offer[o],
    }
}

fn settled(r: &Row, a: &Adjust, v: f64, tol: f64) -> bool {
    if a.m == 0.0 && v <= 0.0 {
        return true;
    }
    if v.abs() <= tol * r.limit.max(1.0) {
        return true;
    }
    // The root is bracketed in an interval too small to matter: the usage jumps over the
    // limit at a single price (ties or few customers), so no price balances it.
    a.has_prev
        && a.m > 0.0
        && a.prev_v.signum() != v.signum()
        && (a.m - a.prev_m).abs() <= 1e-9 * (a.m.abs() + r.scale)
}

fn step(a: &mut Adjust, v: f64) {
    if v == 0.0 {
        return;
    }
    if a.m == 0.0 && v < 0.0 {
        // Slack at a zero price: nothing to bracket; restart the step size if it shrank.
        a.has_prev = false;
        a.delta = a.delta.max(a.scale);
        return;
    }
    let bracketed = a.has_prev && a.prev_v != 0.0 && a.prev_v.signum() != v.signum();
    let new = if bracketed && a.m != a.prev_m {
        let t = (a.prev_v / (a.prev_v - v)).clamp(0.05, 0.95);
        let x = a.prev_m + t * (a.m - a.prev_m);
        a.delta = 0.5 * (a.m - a.prev_m).abs();
        x
    } else {
        let x = a.m + v.signum() * a.delta.max(1e-12 * a.scale);
        a.delta *= 1.6;
        x
    };
    a.prev_m = a.m;
    a.prev_v = v;
    a.has_prev = true;
    a.m = new.max(0.0);
}

/// Maps `f32` to `u32` so that the integer order is the float order.
#[inline]
fn order_key(r: f32) -> u64 {
    let b = r.to_bits();
    (if b & 0x8000_0000 != 0 {
        !b
    } else {
        b | 0x8000_0000
    }) as u64
}

/// One Lagrangian pass over all customers, split over threads.
fn run_pass(p: &Problem, prices: &Prices, bounds: &[u32], collect: bool) -> Pass {
    let parts: Vec<Pass> = if bounds.len() <= 2 {
        vec![pass_range(
            p,
            prices,
            bounds[0],
            bounds[bounds.len() - 1],
            collect,
        )]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = bounds
                .windows(2)
                .map(|w| {
                    let (a, b) = (w[0], w[1]);
                    s.spawn(move || pass_range(p, prices, a, b, collect))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| match h.join() {
                    Ok(pass) => pass,
                    Err(e) => std::panic::resume_unwind(e),
                })
                .collect()
        })
    };
    merge(p, prices, parts)
}

/// A pass over every `stride`-th customer (the warm-start sample).
fn run_pass_strided(p: &Problem, prices: &Prices, bounds: &[u32], stride: u32) -> Pass {
    let parts: Vec<Pass> = std::thread::scope(|s| {
        let handles: Vec<_> = bounds
            .windows(2)
            .map(|w| {
                let (a, b) = (w[0], w[1]);
                s.spawn(move || {
                    pass_customers(
                        p,
                        prices,
                        (a.div_ceil(stride) * stride..b).step_by(stride as usize),
                        false,
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(pass) => pass,
                Err(e) => std::panic::resume_unwind(e),
            })
            .collect()
    });
    merge(p, prices, parts)
}

fn merge(p: &Problem, prices: &Prices, parts: Vec<Pass>) -> Pass {
    let mut it = parts.into_iter();
    let mut total = it
        .next()
        .unwrap_or_else(|| pass_customers(p, prices, 0..0, false));
    for part in it {
        total.best += part.best;
        add_into(&mut total.chan, &part.chan);
        add_into(&mut total.spend, &part.spend);
        add_into(&mut total.offer, &part.offer);
        total.selected.extend_from_slice(&part.selected);
    }
    total
}

fn add_into(a: &mut [f64], b: &[f64]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

/// Inserts `(r, j)` into a top-`k` list kept in descending order of `r`.
#[inline]
fn push_top(top: &mut Vec<(f64, u32)>, k: usize, r: f64, j: u32) {
    if top.len() == k {
        match top.last() {
            Some(&(last, _)) if r > last => {
                top.pop();
            }
            _ => return,
        }
    }
    let mut pos = top.len();
    while pos > 0 && top[pos - 1].0 < r {
        pos -= 1;
    }
    top.insert(pos, (r, j));
}

fn pass_range(p: &Problem, prices: &Prices, from: u32, to: u32, collect: bool) -> Pass {
    pass_customers(p, prices, from..to, collect)
}

fn pass_customers(
    p: &Problem,
    prices: &Prices,
    customers: impl Iterator<Item = u32>,
    collect: bool,
) -> Pass {
    let mut out = Pass {
        best: 0.0,
        chan: vec![0.0; p.channels.len()],
        spend: vec![0.0; p.campaigns.len()],
        offer: vec![0.0; p.offers.len()],
        selected: Vec::new(),
    };
    let mut top: Vec<(f64, u32)> = Vec::with_capacity(256);
    let (val, cost, ch, cp, of) = (&p.value, &p.cost, &p.channel, &p.campaign, &p.offer);
    let reduced = |j: usize| {
        val[j] as f64
            - prices.chan[ch[j] as usize]
            - prices.offer[of[j] as usize]
            - prices.camp[cp[j] as usize] * cost[j] as f64
    };
    for i in customers {
        let k = p.caps[i as usize] as usize;
        if k == 0 {
            continue;
        }
        top.clear();
        let range = p.candidate_range(i);
        if p.one_per_campaign {
            let mut j = range.start;
            while j < range.end {
                let c = cp[j];
                let (mut br, mut bj) = (reduced(j), j);
                j += 1;
                while j < range.end && cp[j] == c {
                    let r = reduced(j);
                    if r > br {
                        br = r;
                        bj = j;
                    }
                    j += 1;
                }
                if br > 0.0 {
                    push_top(&mut top, k, br, bj as u32);
                }
            }
        } else {
            for j in range {
                let r = reduced(j);
                if r > 0.0 {
                    push_top(&mut top, k, r, j as u32);
                }
            }
        }
        for &(r, j) in &top {
            let ju = j as usize;
            out.best += r;
            out.chan[ch[ju] as usize] += 1.0;
            out.spend[cp[ju] as usize] += cost[ju] as f64;
            out.offer[of[ju] as usize] += 1.0;
            if collect {
                out.selected.push(order_key(r as f32) << 32 | j as u64);
            }
        }
    }
    out
}

fn reduced_value(p: &Problem, prices: &Prices, j: usize) -> f64 {
    p.value[j] as f64
        - prices.chan[p.channel[j] as usize]
        - prices.offer[p.offer[j] as usize]
        - prices.camp[p.campaign[j] as usize] * p.cost[j] as f64
}

/// A feasible plan built by the repair.
pub(crate) struct Plan {
    pub chosen: Vec<bool>,
    pub objective: f64,
    pub chan: Vec<u64>,
    pub spend: Vec<f64>,
    pub camp_count: Vec<u64>,
    pub offer: Vec<u64>,
    pub cust: Vec<u8>,
}

impl Plan {
    fn customer_of(p: &Problem, j: usize) -> u32 {
        (p.offsets.partition_point(|&o| o as usize <= j) - 1) as u32
    }

    /// Accepts candidate `j` if every constraint still holds exactly afterwards.
    fn try_accept(&mut self, p: &Problem, j: usize) -> bool {
        self.try_accept_for(p, None, j)
    }

    /// As [`Plan::try_accept`], with the customer index when the caller knows it. The shared
    /// resources are checked first: they reject most candidates once the plan is full.
    fn try_accept_for(&mut self, p: &Problem, customer: Option<u32>, j: usize) -> bool {
        if self.chosen[j] {
            return false;
        }
        let h = p.channel[j] as usize;
        if let Some(cap) = p.channels[h].capacity
            && self.chan[h] >= cap
        {
            return false;
        }
        let c = p.campaign[j] as usize;
        let w = p.cost[j] as f64;
        if let Some(b) = p.campaigns[c].budget
            && self.spend[c] + w > b
        {
            return false;
        }
        let o = p.offer[j] as usize;
        if let Some(mx) = p.offers[o].max
            && self.offer[o] >= mx
        {
            return false;
        }
        let i = customer.unwrap_or_else(|| Self::customer_of(p, j));
        if self.cust[i as usize] >= p.caps[i as usize] {
            return false;
        }
        if p.one_per_campaign
            && p.candidate_range(i)
                .any(|k| self.chosen[k] && p.campaign[k] as usize == c)
        {
            return false;
        }
        self.chosen[j] = true;
        self.cust[i as usize] += 1;
        self.chan[h] += 1;
        self.spend[c] += w;
        self.camp_count[c] += 1;
        self.offer[o] += 1;
        self.objective += p.value[j] as f64;
        true
    }

    /// Whether any candidate could still be added: some channel, some campaign (for the
    /// cheapest candidate of it) and some offer have room.
    fn any_room(&self, p: &Problem, min_cost: &[f64]) -> bool {
        let channel = p
            .channels
            .iter()
            .zip(&self.chan)
            .any(|(c, &u)| c.capacity.is_none_or(|cap| u < cap));
        let campaign = p
            .campaigns
            .iter()
            .enumerate()
            .any(|(k, c)| c.budget.is_none_or(|b| self.spend[k] + min_cost[k] <= b));
        let offer = p
            .offers
            .iter()
            .zip(&self.offer)
            .any(|(o, &u)| o.max.is_none_or(|mx| u < mx));
        channel && campaign && offer
    }

    fn min_unmet(&self, p: &Problem, o: usize) -> bool {
        self.offer[o] < p.offers[o].min
    }
}

/// Greedy repair: the Lagrangian choices in descending reduced value (offers below their
/// minimum first), then a fill of leftover capacity with the best remaining candidates, then
/// a last pass for offer minimums still unmet.
fn repair(p: &Problem, prices: &Prices, mut selected: Vec<u64>) -> Plan {
    let mut plan = Plan {
        chosen: vec![false; p.candidate_count()],
        objective: 0.0,
        chan: vec![0; p.channels.len()],
        spend: vec![0.0; p.campaigns.len()],
        camp_count: vec![0; p.campaigns.len()],
        offer: vec![0; p.offers.len()],
        cust: vec![0; p.customer_count()],
    };
    selected.sort_unstable_by(|a, b| b.cmp(a));
    let has_mins = p.offers.iter().any(|o| o.min > 0);
    let idx = |packed: u64| (packed & 0xFFFF_FFFF) as usize;
    if has_mins {
        // Offers with a minimum first. The dual already raised them by the minimum's price,
        // so their Lagrangian choices come first; if those fall short, the candidates whose
        // customers lose least (reduced value minus the customer's best chosen one).
        for &s in &selected {
            let j = idx(s);
            if plan.min_unmet(p, p.offer[j] as usize) {
                plan.try_accept(p, j);
            }
        }
        if (0..p.offers.len()).any(|o| plan.min_unmet(p, o)) {
            let mut best_chosen = vec![0.0f64; p.customer_count()];
            for &s in &selected {
                let j = idx(s);
                let i = Plan::customer_of(p, j) as usize;
                best_chosen[i] = best_chosen[i].max(reduced_value(p, prices, j));
            }
            let mut forced: Vec<u64> = Vec::new();
            for i in 0..p.customer_count() as u32 {
                for j in p.candidate_range(i) {
                    if plan.min_unmet(p, p.offer[j] as usize) && !plan.chosen[j] {
                        let loss = reduced_value(p, prices, j) - best_chosen[i as usize];
                        forced.push(order_key(loss as f32) << 32 | j as u64);
                    }
                }
            }
            forced.sort_unstable_by(|a, b| b.cmp(a));
            for &s in &forced {
                let j = idx(s);
                if plan.min_unmet(p, p.offer[j] as usize) {
                    plan.try_accept(p, j);
                }
            }
        }
    }
    for &s in &selected {
        plan.try_accept(p, idx(s));
    }
    drop(selected);

    // Fill: candidates that could still fit when the scan starts, best reduced value first,
    // taken in batches so a plan that fills up early never sorts the whole list.
    let budget_left = |plan: &Plan, c: usize, w: f64| {
        p.campaigns[c].budget.is_none_or(|b| plan.spend[c] + w <= b)
    };
    let mut fill: Vec<(u64, u32)> = Vec::new();
    let mut min_cost = vec![f64::INFINITY; p.campaigns.len()];
    for i in 0..p.customer_count() as u32 {
        if plan.cust[i as usize] >= p.caps[i as usize] {
            continue;
        }
        for j in p.candidate_range(i) {
            let h = p.channel[j] as usize;
            let c = p.campaign[j] as usize;
            let o = p.offer[j] as usize;
            if plan.chosen[j]
                || p.channels[h]
                    .capacity
                    .is_some_and(|cap| plan.chan[h] >= cap)
                || !budget_left(&plan, c, p.cost[j] as f64)
                || p.offers[o].max.is_some_and(|mx| plan.offer[o] >= mx)
            {
                continue;
            }
            min_cost[c] = min_cost[c].min(p.cost[j] as f64);
            let r = reduced_value(p, prices, j);
            fill.push((order_key(r as f32) << 32 | j as u64, i));
        }
    }
    let mut rest: &mut [(u64, u32)] = &mut fill;
    let mut batch_size = 1usize << 16;
    while !rest.is_empty() && plan.any_room(p, &min_cost) {
        let take = rest.len().min(batch_size);
        batch_size *= 2;
        if take < rest.len() {
            rest.select_nth_unstable_by(take - 1, |a, b| b.0.cmp(&a.0));
        }
        let (batch, tail) = rest.split_at_mut(take);
        batch.sort_unstable_by_key(|e| std::cmp::Reverse(e.0));
        for &(s, i) in batch.iter() {
            plan.try_accept_for(p, Some(i), idx(s));
        }
        rest = tail;
    }
    drop(fill);

    if has_mins {
        for o in 0..p.offers.len() {
            if !plan.min_unmet(p, o) {
                continue;
            }
            let mut cands: Vec<u64> = (0..p.candidate_count())
                .filter(|&j| p.offer[j] as usize == o && !plan.chosen[j])
                .map(|j| order_key(p.value[j]) << 32 | j as u64)
                .collect();
            cands.sort_unstable_by(|a, b| b.cmp(a));
            for &s in &cands {
                if !plan.min_unmet(p, o) {
                    break;
                }
                plan.try_accept(p, idx(s));
            }
        }
    }
    plan
}

#[allow(clippy::too_many_arguments)]
fn assemble(
    p: &Problem,
    rows: &[Row],
    m: &[f64],
    plan: Plan,
    upper_bound: f64,
    iterations: u32,
    sample_passes: u32,
    converged: bool,
    started: Instant,
) -> Solution {
    let prices = prices_for(p, rows, m);
    let mut min_price = vec![0.0; p.offers.len()];
    let mut max_price = vec![0.0; p.offers.len()];
    for (r, &x) in rows.iter().zip(m) {
        match r.kind {
            RowKind::OfferMax(o) => max_price[o] = x,
            RowKind::OfferMin(o) => min_price[o] = x,
            _ => {}
        }
    }
    let max_cap = p.caps.iter().copied().max().unwrap_or(0) as usize;
    let mut histogram = vec![0u64; max_cap + 1];
    let mut assignments = Vec::new();
    for i in 0..p.customer_count() as u32 {
        histogram[plan.cust[i as usize] as usize] += 1;
        if plan.cust[i as usize] == 0 {
            continue;
        }
        for j in p.candidate_range(i) {
            if plan.chosen[j] {
                let c = p.candidate(j);
                assignments.push(Assignment {
                    customer: i,
                    candidate: j as u32,
                    campaign: c.campaign,
                    offer: c.offer,
                    channel: c.channel,
                    value: c.value,
                    cost: c.cost,
                });
            }
        }
    }
    let usage = Usage {
        channels: p
            .channels
            .iter()
            .enumerate()
            .map(|(h, c)| ChannelUsage {
                name: c.name.clone(),
                used: plan.chan[h],
                capacity: c.capacity,
                shadow_price: prices.chan[h],
            })
            .collect(),
        campaigns: p
            .campaigns
            .iter()
            .enumerate()
            .map(|(c, camp)| CampaignUsage {
                name: camp.name.clone(),
                contacts: plan.camp_count[c],
                spent: plan.spend[c],
                budget: camp.budget,
                shadow_price: prices.camp[c],
            })
            .collect(),
        offers: p
            .offers
            .iter()
            .enumerate()
            .map(|(o, offer)| OfferUsage {
                name: offer.name.clone(),
                count: plan.offer[o],
                min: offer.min,
                max: offer.max,
                shadow_price: max_price[o] - min_price[o],
            })
            .collect(),
    };
    let shortfalls = p
        .offers
        .iter()
        .enumerate()
        .filter(|(o, offer)| plan.offer[*o] < offer.min)
        .map(|(o, offer)| MinShortfall {
            offer: offer.name.clone(),
            min: offer.min,
            reached: plan.offer[o],
        })
        .collect();
    // The bound can never be below a feasible plan; if rounding made it so, the plan is optimal.
    let upper_bound = upper_bound.max(plan.objective);
    let gap = if upper_bound.abs() < 1e-12 {
        0.0
    } else {
        ((upper_bound - plan.objective) / upper_bound.abs()).max(0.0)
    };
    Solution {
        objective: plan.objective,
        upper_bound,
        gap,
        iterations,
        sample_passes,
        converged,
        seconds: started.elapsed().as_secs_f64(),
        customers: p.customer_count() as u64,
        candidates: p.candidate_count() as u64,
        customers_contacted: p.customer_count() as u64 - histogram[0],
        offers_per_customer: histogram,
        usage,
        shortfalls,
        assignments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_key_preserves_float_order() {
        let xs = [-1e9f32, -2.5, -0.0, 0.0, 1e-30, 0.5, 3.0, 1e20];
        for w in xs.windows(2) {
            assert!(order_key(w[0]) <= order_key(w[1]), "{} vs {}", w[0], w[1]);
        }
    }

    #[test]
    fn push_top_keeps_the_k_largest_in_order() {
        let mut top = Vec::new();
        for (j, r) in [3.0, 1.0, 5.0, 4.0, 2.0].into_iter().enumerate() {
            push_top(&mut top, 3, r, j as u32);
        }
        assert_eq!(top, vec![(5.0, 2), (4.0, 3), (3.0, 0)]);
    }

    #[test]
    fn step_brackets_and_shrinks() {
        // Usage falls linearly with the price: v(m) = 10 − m, root at 10.
        let mut a = Adjust {
            m: 0.0,
            scale: 1.0,
            delta: 1.0,
            prev_m: 0.0,
            prev_v: 0.0,
            has_prev: false,
        };
        for _ in 0..60 {
            let v = 10.0 - a.m;
            step(&mut a, v);
        }
        assert!((a.m - 10.0).abs() < 1e-6, "{}", a.m);
    }
}
