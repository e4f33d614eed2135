//! The optimiser against an exact LP/MIP solver (microlp) on small instances:
//! our bound ≥ LP optimum ≥ MIP optimum ≥ our plan, and every constraint holds exactly.

use std::collections::HashMap;

use microlp::{ComparisonOp, OptimizationDirection, Problem as Lp};
use proptest::prelude::*;
use zhiying_optimizer::{
    CampaignId, Candidate, ChannelId, OfferId, Options, Problem, Solution, optimize, synth,
};

/// Solves the LP relaxation (`integer = false`) or the MIP exactly; `None` if infeasible.
fn exact(p: &Problem, integer: bool) -> Option<f64> {
    let mut lp = Lp::new(OptimizationDirection::Maximize);
    let vars: Vec<_> = (0..p.candidate_count())
        .map(|j| {
            let v = p.candidate(j).value;
            if integer {
                lp.add_binary_var(v)
            } else {
                lp.add_var(v, (0.0, 1.0))
            }
        })
        .collect();
    let mut chan: Vec<Vec<(microlp::Variable, f64)>> = vec![Vec::new(); p.channels().len()];
    let mut camp: Vec<Vec<(microlp::Variable, f64)>> = vec![Vec::new(); p.campaigns().len()];
    let mut offer: Vec<Vec<(microlp::Variable, f64)>> = vec![Vec::new(); p.offers().len()];
    for i in 0..p.customer_count() as u32 {
        let range = p.candidate_range(i);
        if range.is_empty() {
            continue;
        }
        let all: Vec<_> = range.clone().map(|j| (vars[j], 1.0)).collect();
        lp.add_constraint(&all[..], ComparisonOp::Le, p.customer_cap(i) as f64);
        let mut by_campaign: HashMap<u16, Vec<(microlp::Variable, f64)>> = HashMap::new();
        for j in range {
            let c = p.candidate(j);
            by_campaign
                .entry(c.campaign.0)
                .or_default()
                .push((vars[j], 1.0));
            chan[c.channel.0 as usize].push((vars[j], 1.0));
            camp[c.campaign.0 as usize].push((vars[j], c.cost));
            offer[c.offer.0 as usize].push((vars[j], 1.0));
        }
        if p.one_per_campaign() {
            for terms in by_campaign.values().filter(|t| t.len() > 1) {
                lp.add_constraint(&terms[..], ComparisonOp::Le, 1.0);
            }
        }
    }
    for (h, c) in p.channels().iter().enumerate() {
        if let Some(cap) = c.capacity
            && !chan[h].is_empty()
        {
            lp.add_constraint(&chan[h][..], ComparisonOp::Le, cap as f64);
        }
    }
    for (k, c) in p.campaigns().iter().enumerate() {
        if let Some(b) = c.budget
            && !camp[k].is_empty()
        {
            lp.add_constraint(&camp[k][..], ComparisonOp::Le, b);
        }
    }
    for (k, o) in p.offers().iter().enumerate() {
        if let Some(mx) = o.max
            && !offer[k].is_empty()
        {
            lp.add_constraint(&offer[k][..], ComparisonOp::Le, mx as f64);
        }
        if o.min > 0 {
            lp.add_constraint(&offer[k][..], ComparisonOp::Ge, o.min as f64);
        }
    }
    if p.candidate_count() == 0 {
        return Some(0.0);
    }
    match lp.solve() {
        Ok(outcome) => outcome.into_solution().ok().map(|s| s.objective()),
        Err(microlp::Error::Infeasible) => None,
        Err(e) => panic!("microlp failed: {e}"),
    }
}

/// Tolerance for comparing objectives built from the same `f32` values.
fn eps(x: f64) -> f64 {
    1e-6 * x.abs().max(1.0)
}

fn assert_sandwich(p: &Problem, s: &Solution, label: &str) -> (f64, f64) {
    let violations = s.check(p);
    assert!(violations.is_empty(), "{label}: {violations:?}");
    let direct: f64 = s.assignments.iter().map(|a| a.value).sum();
    assert!(
        (direct - s.objective).abs() <= eps(direct),
        "{label}: objective {} vs assignments {direct}",
        s.objective
    );
    let lp = exact(p, false).expect("LP feasible without minimums");
    let mip = exact(p, true).expect("MIP feasible without minimums");
    assert!(
        s.upper_bound >= lp - eps(lp),
        "{label}: bound {} below LP {lp}",
        s.upper_bound
    );
    assert!(lp >= mip - eps(mip), "{label}: LP {lp} below MIP {mip}");
    assert!(
        mip >= s.objective - eps(mip),
        "{label}: MIP {mip} below ours {}",
        s.objective
    );
    (lp, mip)
}

#[test]
fn random_small_instances_sandwich_the_exact_optimum() {
    let mut worst_bound: f64 = 0.0;
    for seed in 0..60u64 {
        let p = synth::random_small(3 + (seed as usize % 10), seed).expect("instance");
        let s = optimize(&p, &Options::default()).expect("optimises");
        let (lp, _) = assert_sandwich(&p, &s, &format!("seed {seed}"));
        worst_bound = worst_bound.max((s.upper_bound - lp) / lp.abs().max(1.0));
    }
    // The dual converges to the LP optimum (the per-customer problem is a matroid, so the
    // Lagrangian bound equals the LP bound).
    assert!(worst_bound < 1e-3, "bound exceeds LP by {worst_bound}");
}

#[test]
fn unconstrained_problem_is_solved_exactly() {
    // No coupling constraints: each customer's top-K is optimal and the bound is tight.
    let mut p = Problem::new(2).unwrap();
    let h = p.add_channel("email", None).unwrap();
    let c = p.add_campaign("c", None).unwrap();
    let o = p.add_offer("o", 0, None).unwrap();
    for i in 0..50 {
        let cands: Vec<_> = (0..5)
            .map(|k| Candidate {
                campaign: c,
                offer: o,
                channel: h,
                value: ((i * 7 + k * 3) % 11) as f64 - 3.0,
                cost: 1.0,
            })
            .collect();
        p.add_customer(&format!("c{i}"), &cands).unwrap();
    }
    let s = optimize(&p, &Options::default()).unwrap();
    let (lp, mip) = assert_sandwich(&p, &s, "unconstrained");
    assert!((s.objective - mip).abs() < 1e-9 && (s.upper_bound - lp).abs() < 1e-9);
    assert_eq!(s.gap, 0.0);
    assert!(s.converged);
}

#[test]
fn realistic_instance_is_near_the_lp_bound() {
    let p = synth::realistic(400, 7).expect("instance");
    let s = optimize(&p, &Options::default()).expect("optimises");
    let violations = s.check(&p);
    assert!(violations.is_empty(), "{violations:?}");
    let lp = exact(&p, false).expect("LP");
    assert!(s.upper_bound >= lp - eps(lp));
    // Tight channels and budgets with 400 customers: the bound is within 0.5% of the LP and
    // the plan within 3% of it (the integrality gap shrinks as customers grow).
    assert!(
        s.upper_bound <= lp * 1.005,
        "bound {} vs LP {lp}",
        s.upper_bound
    );
    assert!(s.objective >= lp * 0.97, "plan {} vs LP {lp}", s.objective);
}

#[test]
fn warm_start_from_a_sample_keeps_the_bound_valid_and_tight() {
    let p = synth::realistic(400, 11).expect("instance");
    let lp = exact(&p, false).expect("LP");
    // A 50-customer strided sample warms the prices up before the full passes.
    let opts = Options {
        warm_start_sample: 50,
        target_gap: 0.0,
        ..Options::default()
    };
    let s = optimize(&p, &opts).expect("optimises");
    assert!(s.sample_passes > 0, "the warm start ran");
    assert!(s.check(&p).is_empty());
    assert!(
        s.upper_bound >= lp - eps(lp) && s.upper_bound <= lp * 1.005,
        "bound {} vs LP {lp}",
        s.upper_bound
    );
    assert!(s.objective >= lp * 0.97, "plan {} vs LP {lp}", s.objective);
}

#[test]
fn offer_minimums_are_met_and_bounded() {
    let mut p = Problem::new(1).unwrap();
    let sms = p.add_channel("sms", Some(30)).unwrap();
    let c = p.add_campaign("c", Some(40.0)).unwrap();
    let rich = p.add_offer("rich", 0, None).unwrap();
    let poor = p.add_offer("poor", 10, Some(12)).unwrap();
    for i in 0..40u32 {
        let cands = [
            Candidate {
                campaign: c,
                offer: rich,
                channel: sms,
                value: 5.0 + (i % 7) as f64,
                cost: 1.0,
            },
            Candidate {
                campaign: c,
                offer: poor,
                channel: sms,
                value: 1.0 + (i % 3) as f64 * 0.1,
                cost: 1.0,
            },
        ];
        p.add_customer(&format!("c{i}"), &cands).unwrap();
    }
    let s = optimize(&p, &Options::default()).unwrap();
    assert!(s.shortfalls.is_empty(), "{:?}", s.shortfalls);
    let (_, mip) = assert_sandwich_with_mins(&p, &s);
    assert!(s.usage.offers[poor.0 as usize].count >= 10);
    assert!(
        s.objective >= mip * 0.95,
        "plan {} vs MIP {mip}",
        s.objective
    );
}

fn assert_sandwich_with_mins(p: &Problem, s: &Solution) -> (f64, f64) {
    let lp = exact(p, false).expect("LP feasible");
    let mip = exact(p, true).expect("MIP feasible");
    assert!(s.check(p).is_empty(), "{:?}", s.check(p));
    assert!(s.upper_bound >= lp - eps(lp) && lp >= mip - eps(mip) && mip >= s.objective - eps(mip));
    (lp, mip)
}

#[test]
fn unreachable_minimum_is_refused() {
    let mut p = Problem::new(1).unwrap();
    let h = p.add_channel("sms", None).unwrap();
    let c = p.add_campaign("c", None).unwrap();
    let o = p.add_offer("o", 5, None).unwrap();
    p.add_customer(
        "a",
        &[Candidate {
            campaign: c,
            offer: o,
            channel: h,
            value: 1.0,
            cost: 0.0,
        }],
    )
    .unwrap();
    let err = optimize(&p, &Options::default()).unwrap_err();
    assert!(err.to_string().contains("lower its min"), "{err}");
}

#[test]
fn empty_problem_gives_an_empty_plan() {
    let p = Problem::new(1).unwrap();
    let s = optimize(&p, &Options::default()).unwrap();
    assert_eq!((s.objective, s.upper_bound, s.gap), (0.0, 0.0, 0.0));
    assert!(s.assignments.is_empty() && s.check(&p).is_empty());
}

#[test]
fn invalid_input_names_the_field() {
    let mut p = Problem::new(1).unwrap();
    let h = p.add_channel("sms", None).unwrap();
    let c = p.add_campaign("c", None).unwrap();
    let o = p.add_offer("o", 0, None).unwrap();
    let bad = Candidate {
        campaign: c,
        offer: o,
        channel: h,
        value: f64::NAN,
        cost: 0.0,
    };
    assert!(
        p.add_customer("a", &[bad])
            .unwrap_err()
            .to_string()
            .contains("value is NaN")
    );
    let bad = Candidate {
        campaign: c,
        offer: o,
        channel: ChannelId(9),
        value: 1.0,
        cost: 0.0,
    };
    assert!(
        p.add_customer("a", &[bad])
            .unwrap_err()
            .to_string()
            .contains("channel id 9")
    );
    p.add_customer("a", &[]).unwrap();
    assert!(
        p.add_customer("a", &[])
            .unwrap_err()
            .to_string()
            .contains("added twice")
    );
    assert!(Problem::new(0).is_err());
    assert!(p.add_campaign("neg", Some(-1.0)).is_err());
    assert!(p.add_offer("x", 3, Some(2)).is_err());
    let opts = Options {
        tolerance: 0.0,
        ..Options::default()
    };
    assert!(
        optimize(&p, &opts)
            .unwrap_err()
            .to_string()
            .contains("tolerance")
    );
}

#[test]
fn report_serialises_and_displays() {
    let p = synth::realistic(200, 1).unwrap();
    let s = optimize(
        &p,
        &Options {
            threads: 2,
            ..Options::default()
        },
    )
    .unwrap();
    let json = serde_json::to_string(&s).unwrap();
    let back: Solution = serde_json::from_str(&json).unwrap();
    assert_eq!(back.assignments.len(), s.assignments.len());
    let summary = serde_json::to_value(s.summary()).unwrap();
    assert_eq!(
        summary["assignments"].as_u64(),
        Some(s.assignments.len() as u64)
    );
    assert_eq!(summary["usage"]["channels"][0]["name"], "call");
    let text = s.to_string();
    assert!(
        text.contains("upper bound") && text.contains("call") && text.contains("card_upgrade"),
        "{text}"
    );
    let mut csv = Vec::new();
    s.write_assignments_csv(&p, &mut csv).unwrap();
    let lines = String::from_utf8(csv).unwrap().lines().count();
    assert_eq!(lines, s.assignments.len() + 1);
    for a in s.assignments_of(s.assignments[0].customer) {
        assert_eq!(a.customer, s.assignments[0].customer);
    }
    // Single-threaded and two-threaded runs agree exactly (the passes are deterministic).
    let one = optimize(
        &p,
        &Options {
            threads: 1,
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(one.assignments, s.assignments);
}

/// (campaign, offer, channel, value, cost).
type RawCandidate = (u16, u16, u16, f64, f64);

/// A proptest-generated instance: customers with 0–5 candidates over 2 channels, 2 campaigns,
/// 3 offers, with random capacities, budgets and offer maxima.
#[derive(Debug, Clone)]
struct Spec {
    cap: u32,
    one_per_campaign: bool,
    capacities: Vec<Option<u64>>,
    budgets: Vec<Option<f64>>,
    maxima: Vec<Option<u64>>,
    customers: Vec<Vec<RawCandidate>>,
}

fn spec() -> impl Strategy<Value = Spec> {
    let cand = (0u16..2, 0u16..3, 0u16..2, -2.0f64..10.0, 0.0f64..3.0);
    (
        1u32..3,
        any::<bool>(),
        prop::collection::vec(prop::option::of(0u64..8), 2),
        prop::collection::vec(prop::option::of(0.0f64..12.0), 2),
        prop::collection::vec(prop::option::of(0u64..6), 3),
        prop::collection::vec(prop::collection::vec(cand, 0..5), 1..9),
    )
        .prop_map(
            |(cap, one_per_campaign, capacities, budgets, maxima, customers)| Spec {
                cap,
                one_per_campaign,
                capacities,
                budgets,
                maxima,
                customers,
            },
        )
}

fn build(s: &Spec) -> Problem {
    let mut p = Problem::new(s.cap).unwrap();
    p.set_one_per_campaign(s.one_per_campaign);
    for (h, cap) in s.capacities.iter().enumerate() {
        p.add_channel(format!("h{h}"), *cap).unwrap();
    }
    for (c, b) in s.budgets.iter().enumerate() {
        p.add_campaign(format!("c{c}"), *b).unwrap();
    }
    for (o, mx) in s.maxima.iter().enumerate() {
        p.add_offer(format!("o{o}"), 0, *mx).unwrap();
    }
    for (i, cands) in s.customers.iter().enumerate() {
        let cands: Vec<_> = cands
            .iter()
            .map(|&(c, o, h, value, cost)| Candidate {
                campaign: CampaignId(c),
                offer: OfferId(o),
                channel: ChannelId(h),
                value,
                cost,
            })
            .collect();
        p.add_customer(&format!("c{i}"), &cands).unwrap();
    }
    p
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn plan_is_feasible_and_sandwiched(s in spec()) {
        let p = build(&s);
        let sol = optimize(&p, &Options::default()).unwrap();
        assert_sandwich(&p, &sol, &format!("{s:?}"));
        prop_assert!(sol.gap >= 0.0 && sol.gap.is_finite() || sol.upper_bound == 0.0);
        prop_assert!(sol.assignments.iter().all(|a| a.value > 0.0));
    }
}
