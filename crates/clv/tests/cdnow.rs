//! The CDNOW reference results of brief §5: the 2,357-customer calibration summary (39 weeks,
//! calibration end 1997-09-30) from Fader & Hardie, and the same summary rebuilt from the raw
//! `CDNOW_sample.txt` purchases.

use zhiying_clv::{
    BgNbdParams, FitOptions, GammaGammaParams, ParetoNbdParams, RfmRow, SummaryBuilder,
    SummaryOptions, TimeUnit, parse_day, read_summary_csv,
};

fn within(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want.abs()
}

fn summary() -> Vec<zhiying_clv::CustomerSummary> {
    let path = zhiying_datasets::locate_file("cdnow_customers_summary_with_transactions.csv")
        .expect("datasets/cdnow_customers_summary_with_transactions.csv ships with the repository");
    read_summary_csv(&path).expect("read the CDNOW summary")
}

fn rfm() -> Vec<RfmRow> {
    summary().iter().map(|c| c.rfm).collect()
}

/// Fader, Hardie & Lee (2005): r=0.243, α=4.414, a=0.793, b=2.426, LL −9,582.4.
#[test]
fn bgnbd_matches_fader_hardie_lee() {
    let rows = rfm();
    assert_eq!(rows.len(), 2357);
    let fit = BgNbdParams::fit(&rows, &FitOptions::default()).expect("fit");
    let p = fit.params;
    assert!(within(p.r, 0.243, 0.005), "r = {}", p.r);
    assert!(within(p.alpha, 4.414, 0.005), "alpha = {}", p.alpha);
    assert!(within(p.a, 0.793, 0.005), "a = {}", p.a);
    assert!(within(p.b, 2.426, 0.005), "b = {}", p.b);
    assert!(
        (fit.log_likelihood - -9582.4).abs() <= 0.5,
        "LL = {}",
        fit.log_likelihood
    );
    assert!(fit.converged, "{fit:?}");
    assert_eq!(
        fit.starts_agreeing, fit.polished,
        "every polished start should reach the same optimum"
    );
    // Far fewer distinct rows than customers: every cohort's non-repeaters share one row.
    assert!(fit.distinct_rows < 1500, "{}", fit.distinct_rows);
    // Standard errors equal lifetimes' documented `summary` of this fit (se(coef) 0.012557,
    // 0.378221, 0.185719, 0.705345), to 1%.
    let se = fit.standard_errors.expect("positive-definite Hessian");
    assert!(within(se.r, 0.012557, 0.01), "{se:?}");
    assert!(within(se.alpha, 0.378221, 0.01), "{se:?}");
    assert!(within(se.a, 0.185719, 0.01), "{se:?}");
    assert!(within(se.b, 0.705345, 0.01), "{se:?}");
    // The reported LL is the LL at the reported parameters.
    assert!((p.log_likelihood(&rows) - fit.log_likelihood).abs() < 1e-9);
}

/// FHL's Pareto/NBD reference: r=0.553, α=10.578, s=0.606, β=11.669, LL −9,595.0.
#[test]
fn pareto_nbd_matches_reference() {
    let rows = rfm();
    let fit = ParetoNbdParams::fit(&rows, &FitOptions::default()).expect("fit");
    let p = fit.params;
    assert!(within(p.r, 0.553, 0.01), "r = {}", p.r);
    assert!(within(p.alpha, 10.578, 0.01), "alpha = {}", p.alpha);
    assert!(within(p.s, 0.606, 0.01), "s = {}", p.s);
    assert!(within(p.beta, 11.669, 0.01), "beta = {}", p.beta);
    assert!(
        (fit.log_likelihood - -9595.0).abs() <= 0.5,
        "LL = {}",
        fit.log_likelihood
    );
}

/// Gamma-Gamma on the 946 repeat buyers: p=6.25, q=3.74, γ=15.44 (lifetimes' documented fit
/// of this summary).
#[test]
fn gamma_gamma_matches_reference() {
    let s = summary();
    let x: Vec<f64> = s.iter().map(|c| c.rfm.x).collect();
    let z: Vec<f64> = s.iter().map(|c| c.zbar.expect("zbar column")).collect();
    let fit = GammaGammaParams::fit(&x, &z, &FitOptions::default()).expect("fit");
    let p = fit.report.params;
    assert_eq!(fit.report.customers, 946);
    assert_eq!(fit.excluded_no_repeat, 2357 - 946);
    assert!(within(p.p, 6.25, 0.01), "p = {}", p.p);
    assert!(within(p.q, 3.74, 0.01), "q = {}", p.q);
    assert!(within(p.gamma, 15.44, 0.01), "gamma = {}", p.gamma);
    // Spend and frequency are nearly uncorrelated on CDNOW (the model's assumption).
    assert!(fit.frequency_spend_correlation.abs() < 0.2);
}

/// Rebuilding the summary from the raw purchases reproduces Fader & Hardie's file: x counts
/// purchase days, times are days/7, zbar is the mean of the repeat days' totals.
#[test]
fn summary_from_raw_sample_matches_published_summary() {
    let path = zhiying_datasets::locate_file("CDNOW_sample.txt").expect("CDNOW_sample.txt ships");
    let text = std::fs::read_to_string(&path).expect("read");
    let mut b = SummaryBuilder::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 5 {
            continue;
        }
        let day = parse_day(f[2]).expect("date");
        let amount: f64 = f[4].parse().expect("dollars");
        // Column 2 is the sample's own customer number, the ID of the summary file.
        let id: u32 = f[1].parse().expect("id");
        b.push(&id.to_string(), day, Some(amount));
    }
    let built = b
        .build(&SummaryOptions {
            calibration_end: parse_day("1997-09-30").expect("date"),
            observation_end: Some(parse_day("1998-06-30").expect("date")),
            unit: TimeUnit::Weeks,
        })
        .expect("summary");
    let published = summary();
    assert_eq!(built.customers.len(), published.len());
    let by_id: std::collections::HashMap<&str, &zhiying_clv::CustomerSummary> = built
        .customers
        .iter()
        .map(|c| (c.customer.as_str(), c))
        .collect();
    for want in &published {
        let got = by_id[want.customer.as_str()];
        assert_eq!(got.rfm.x, want.rfm.x, "customer {}", want.customer);
        assert!(
            (got.rfm.t_x - want.rfm.t_x).abs() < 0.006,
            "{got:?} vs {want:?}"
        );
        assert!(
            (got.rfm.t - want.rfm.t).abs() < 0.006,
            "{got:?} vs {want:?}"
        );
        let (gz, wz) = (got.zbar.expect("amounts"), want.zbar.expect("zbar"));
        assert!((gz - wz).abs() < 0.006, "{got:?} vs {want:?}");
    }
    // Holdout, weeks 40–78: the BG/NBD fitted on weeks 1–39 forecasts 1,653 purchase days
    // against 1,882 observed (−12%). This is a sanity bound, not a published figure.
    let holdout: f64 = built.customers.iter().filter_map(|c| c.x_holdout).sum();
    assert_eq!(built.customers[0].holdout_duration, Some(39.0));
    let rows: Vec<RfmRow> = built.rfm();
    let fit = BgNbdParams::fit(&rows, &FitOptions::default()).expect("fit");
    let forecast: f64 = rows
        .iter()
        .map(|r| fit.params.conditional_expected_purchases(39.0, r))
        .sum();
    assert!(
        (forecast - holdout).abs() < 0.15 * holdout,
        "forecast {forecast:.1} vs actual {holdout}"
    );
}

/// Conditional predictions equal lifetimes' documented values for the CDNOW fit (its
/// quick-start table: customers 1516 and 509, t = 1 week).
#[test]
fn predictions_match_lifetimes_documentation() {
    let p = BgNbdParams::fit(&rfm(), &FitOptions::default())
        .expect("fit")
        .params;
    let e1516 = p.conditional_expected_purchases(1.0, &RfmRow::new(26.0, 30.86, 31.0));
    let e509 = p.conditional_expected_purchases(1.0, &RfmRow::new(18.0, 35.14, 35.86));
    assert!((e1516 - 0.710623).abs() < 1e-4, "{e1516}");
    assert!((e509 - 0.424877).abs() < 1e-4, "{e509}");
    // CLV for customer 1 (x=2, t_x=30.43, T=38.86, zbar=22.35), 12 months at 1%/month.
    let gg = GammaGammaParams {
        p: 6.2488,
        q: 3.7446,
        gamma: 15.4477,
    };
    let row = RfmRow::new(2.0, 30.43, 38.86);
    let spend = gg.conditional_expected_spend(2.0, 22.35).expect("q > 1");
    let opts = zhiying_clv::ClvOptions {
        months: 12,
        monthly_discount_rate: 0.01,
        unit: TimeUnit::Weeks,
    };
    let clv = zhiying_clv::customer_lifetime_value(&p, &row, spend, &opts).expect("clv");
    // The undiscounted value is spend × expected purchases over 12 × 4.345 weeks.
    let undiscounted = spend * p.conditional_expected_purchases(12.0 * 4.345, &row);
    assert!(
        clv < undiscounted && clv > undiscounted / 1.01f64.powi(12),
        "{clv} {undiscounted}"
    );
}
