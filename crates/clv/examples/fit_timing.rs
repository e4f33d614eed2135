//! Fits the three models on a summary CSV (or on simulated customers) and prints parameters,
//! log-likelihoods and wall-clock seconds, for `scripts/bench/clv.sh`.
//!
//! ```text
//! cargo run --example fit_timing -p zhiying-clv -- datasets/cdnow_customers_summary_with_transactions.csv
//! cargo run --example fit_timing -p zhiying-clv -- --simulate 1000000
//! ```
//!
//! On a summary file each fit runs 7 times and the median wall time is printed (the fits take
//! milliseconds, so one run mostly measures the scheduler of a busy machine).

use std::time::Instant;
use zhiying_clv::simulate::{Cohorts, simulate_bgnbd, simulate_gamma_gamma};
use zhiying_clv::{BgNbdParams, FitOptions, GammaGammaParams, ParetoNbdParams, read_summary_csv};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = FitOptions::default();
    let (rows, zbar, pareto) = match args.as_slice() {
        [flag, n] if flag == "--simulate" => {
            let n: usize = n.parse()?;
            let started = Instant::now();
            let truth = BgNbdParams {
                r: 0.243,
                alpha: 4.414,
                a: 0.793,
                b: 2.426,
            };
            let cohorts = Cohorts {
                calibration_length: 39.0,
                cohort_span: 12.0,
            };
            let rows = simulate_bgnbd(&truth, n, &cohorts, 7);
            let x: Vec<f64> = rows.iter().map(|r| r.x).collect();
            let gg = GammaGammaParams {
                p: 6.25,
                q: 3.74,
                gamma: 15.44,
            };
            let z = simulate_gamma_gamma(&gg, &x, 8);
            eprintln!(
                "simulated {n} customers in {:.2}s",
                started.elapsed().as_secs_f64()
            );
            (rows, z, args.iter().any(|a| a == "--pareto"))
        }
        [path, ..] => {
            let s = read_summary_csv(std::path::Path::new(path))?;
            let rows = s.iter().map(|c| c.rfm).collect::<Vec<_>>();
            let z = s.iter().map(|c| c.zbar.unwrap_or(0.0)).collect::<Vec<_>>();
            (rows, z, true)
        }
        [] => return Err("usage: fit_timing SUMMARY.csv | --simulate N".into()),
    };
    let x: Vec<f64> = rows.iter().map(|r| r.x).collect();
    let repeat = if rows.len() > 100_000 { 1 } else { 7 };
    // Median wall time of `repeat` runs, and the last result.
    fn timed<T, E>(repeat: usize, mut f: impl FnMut() -> Result<T, E>) -> Result<(T, f64), E> {
        let mut times = Vec::with_capacity(repeat);
        let mut out = None;
        for _ in 0..repeat {
            let t = Instant::now();
            out = Some(f()?);
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        Ok((out.expect("repeat >= 1"), times[times.len() / 2]))
    }
    let (bg, bg_s) = timed(repeat, || BgNbdParams::fit(&rows, &opts))?;
    let (gg, gg_s) = timed(repeat, || GammaGammaParams::fit(&x, &zbar, &opts))?;
    println!(
        "bgnbd  {:?} LL {:.3} distinct_rows {} evals {} seconds {:.4}",
        bg.params, bg.log_likelihood, bg.distinct_rows, bg.evaluations, bg_s
    );
    println!(
        "gg     {:?} LL {:.3} customers {} evals {} seconds {:.4}",
        gg.report.params,
        gg.report.log_likelihood,
        gg.report.customers,
        gg.report.evaluations,
        gg_s
    );
    if pareto {
        let (pn, pn_s) = timed(repeat, || ParetoNbdParams::fit(&rows, &opts))?;
        println!(
            "pareto {:?} LL {:.3} evals {} seconds {:.4}",
            pn.params, pn.log_likelihood, pn.evaluations, pn_s
        );
    }
    println!(
        "bgnbd_plus_gg_seconds {:.4} (median of {repeat})",
        bg_s + gg_s
    );
    Ok(())
}
