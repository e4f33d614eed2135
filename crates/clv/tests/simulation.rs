//! Parameter recovery from seeded simulations, and invariants of the predictions.

use proptest::prelude::*;
use zhiying_clv::simulate::{Cohorts, simulate_bgnbd, simulate_gamma_gamma, simulate_pareto_nbd};
use zhiying_clv::{BgNbdParams, FitOptions, GammaGammaParams, ParetoNbdParams, RfmRow};

const COHORTS: Cohorts = Cohorts {
    calibration_length: 52.0,
    cohort_span: 26.0,
};

/// Each estimate within 4 standard errors of the truth and within `rel` of it.
fn recovered(name: &str, est: f64, se: f64, truth: f64, rel: f64) {
    assert!(
        (est - truth).abs() <= 4.0 * se && (est - truth).abs() <= rel * truth,
        "{name}: estimate {est} ± {se} vs truth {truth}"
    );
}

#[test]
fn bgnbd_recovers_simulated_parameters() {
    let truth = BgNbdParams {
        r: 0.8,
        alpha: 6.0,
        a: 0.6,
        b: 3.0,
    };
    let rows = simulate_bgnbd(&truth, 30_000, &COHORTS, 42);
    let fit = BgNbdParams::fit(&rows, &FitOptions::default()).expect("fit");
    let (p, se) = (fit.params, fit.standard_errors.expect("standard errors"));
    recovered("r", p.r, se.r, truth.r, 0.1);
    recovered("alpha", p.alpha, se.alpha, truth.alpha, 0.1);
    recovered("a", p.a, se.a, truth.a, 0.2);
    recovered("b", p.b, se.b, truth.b, 0.25);
    // The truth cannot beat the maximum.
    assert!(truth.log_likelihood(&rows) <= fit.log_likelihood);
}

/// Above the exploration threshold the starts run on a subset; the polished answer must still
/// be the full-data optimum, i.e. the same as exploring on everything.
#[test]
fn subset_exploration_reaches_the_full_optimum() {
    let truth = BgNbdParams {
        r: 0.5,
        alpha: 3.0,
        a: 1.2,
        b: 4.0,
    };
    let rows = simulate_bgnbd(&truth, 8_000, &COHORTS, 5);
    let all = BgNbdParams::fit(&rows, &FitOptions::default()).expect("fit");
    let sub = BgNbdParams::fit(
        &rows,
        &FitOptions {
            explore_rows: 500,
            ..FitOptions::default()
        },
    )
    .expect("fit");
    assert!(
        (all.log_likelihood - sub.log_likelihood).abs() < 1e-6,
        "{all:?} {sub:?}"
    );
    assert!((all.params.r - sub.params.r).abs() < 1e-4 * all.params.r);
}

#[test]
fn pareto_nbd_recovers_simulated_parameters() {
    let truth = ParetoNbdParams {
        r: 0.7,
        alpha: 8.0,
        s: 0.8,
        beta: 15.0,
    };
    let rows = simulate_pareto_nbd(&truth, 6_000, &COHORTS, 11);
    let fit = ParetoNbdParams::fit(&rows, &FitOptions::default()).expect("fit");
    let (p, se) = (fit.params, fit.standard_errors.expect("standard errors"));
    recovered("r", p.r, se.r, truth.r, 0.15);
    recovered("alpha", p.alpha, se.alpha, truth.alpha, 0.2);
    recovered("s", p.s, se.s, truth.s, 0.5);
    recovered("beta", p.beta, se.beta, truth.beta, 0.8);
}

#[test]
fn gamma_gamma_recovers_simulated_parameters() {
    let truth = GammaGammaParams {
        p: 4.0,
        q: 5.0,
        gamma: 40.0,
    };
    let x: Vec<f64> = (0..20_000).map(|i| (1 + i % 9) as f64).collect();
    let z = simulate_gamma_gamma(&truth, &x, 3);
    let fit = GammaGammaParams::fit(&x, &z, &FitOptions::default()).expect("fit");
    let (p, se) = (
        fit.report.params,
        fit.report.standard_errors.expect("standard errors"),
    );
    recovered("p", p.p, se.p, truth.p, 0.05);
    recovered("q", p.q, se.q, truth.q, 0.1);
    recovered("gamma", p.gamma, se.gamma, truth.gamma, 0.15);
}

fn row() -> impl Strategy<Value = RfmRow> {
    (0u32..40, 0.0f64..1.0, 0.5f64..100.0).prop_map(|(x, frac, t)| {
        let t_x = if x == 0 { 0.0 } else { frac * t };
        RfmRow::new(x as f64, t_x, t)
    })
}

proptest! {
    /// P(alive) is a probability and expected purchases grow with the horizon, for both models.
    #[test]
    fn predictions_are_well_formed(
        r in row(),
        pr in 0.1f64..3.0, alpha in 0.5f64..20.0, a in 0.2f64..3.0, b in 0.5f64..6.0,
        s in 0.2f64..3.0, beta in 0.5f64..30.0, t in 0.5f64..60.0,
    ) {
        let bg = BgNbdParams { r: pr, alpha, a, b };
        let pa = bg.probability_alive(&r);
        prop_assert!((0.0..=1.0).contains(&pa));
        if (a - 1.0).abs() > 0.05 {
            let e1 = bg.conditional_expected_purchases(t, &r);
            let e2 = bg.conditional_expected_purchases(2.0 * t, &r);
            prop_assert!(e1 >= 0.0 && e2 >= e1 - 1e-9, "{e1} {e2}");
        }
        let pn = ParetoNbdParams { r: pr, alpha, s, beta };
        let pa = pn.probability_alive(&r);
        prop_assert!((0.0..=1.0 + 1e-12).contains(&pa), "{pa}");
        let e1 = pn.conditional_expected_purchases(t, &r);
        let e2 = pn.conditional_expected_purchases(2.0 * t, &r);
        prop_assert!(e1 >= 0.0 && e2 >= e1 - 1e-9, "{e1} {e2}");
    }
}
