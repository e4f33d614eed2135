//! Fits the three models on a summary CSV (or on simulated customers) and prints parameters,
//! log-likelihoods and wall-clock seconds, for `scripts/bench/clv.sh`.
//!
//! ```text
//! cargo run --example fit_timing -p zhiying-clv -- datasets/cdnow_customers_summary_with_transactions.csv
//! cargo run --example fit_timing -p zhiying-clv -- --simulate 1000000
//! ```
//!
//! On a summary file each fit runs 7 times and the medians of wall time and of process CPU time
//! are printed. The fits take milliseconds, so on a busy shared machine the wall time mostly
//! measures the scheduler; CPU time is the fairer comparison there (lifetimes is timed the
//! same way by `scripts/bench/clv.sh`).

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
    // Median wall and CPU seconds of `repeat` runs, and the last result.
    fn timed<T, E>(repeat: usize, mut f: impl FnMut() -> Result<T, E>) -> Result<(T, Times), E> {
        let (mut wall, mut cpu) = (Vec::new(), Vec::new());
        let mut out = None;
        for _ in 0..repeat {
            let (t, c) = (Instant::now(), cpu_seconds());
            out = Some(f()?);
            wall.push(t.elapsed().as_secs_f64());
            cpu.push(cpu_seconds() - c);
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        Ok((
            out.expect("repeat >= 1"),
            Times {
                wall: median(wall),
                cpu: median(cpu),
            },
        ))
    }
    let (bg, bg_s) = timed(repeat, || BgNbdParams::fit(&rows, &opts))?;
    let (gg, gg_s) = timed(repeat, || GammaGammaParams::fit(&x, &zbar, &opts))?;
    println!(
        "bgnbd  {:?} LL {:.3} distinct_rows {} evals {} {}",
        bg.params, bg.log_likelihood, bg.distinct_rows, bg.evaluations, bg_s
    );
    println!(
        "gg     {:?} LL {:.3} customers {} evals {} {}",
        gg.report.params,
        gg.report.log_likelihood,
        gg.report.customers,
        gg.report.evaluations,
        gg_s
    );
    if pareto {
        let (pn, pn_s) = timed(repeat, || ParetoNbdParams::fit(&rows, &opts))?;
        println!(
            "pareto {:?} LL {:.3} evals {} {pn_s}",
            pn.params, pn.log_likelihood, pn.evaluations
        );
    }
    println!(
        "bgnbd_plus_gg seconds {:.4} cpu_seconds {:.4} (medians of {repeat})",
        bg_s.wall + gg_s.wall,
        bg_s.cpu + gg_s.cpu
    );
    Ok(())
}

struct Times {
    wall: f64,
    cpu: f64,
}

impl std::fmt::Display for Times {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "seconds {:.4} cpu_seconds {:.4}", self.wall, self.cpu)
    }
}

/// CPU time of the whole process (all threads), like Python's `time.process_time()`.
fn cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return f64::NAN;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}
