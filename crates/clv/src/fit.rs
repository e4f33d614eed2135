//! The multi-start maximum-likelihood driver shared by the three models, the fit options and
//! the fit report.

use crate::ClvError;
use crate::optim::{Minimum, Objective, bfgs, bfgs_warm, hessian, nelder_mead, spd_inverse};
use serde::{Deserialize, Serialize};

/// How hard to search. The defaults reproduce the published CDNOW fits to 4+ digits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FitOptions {
    /// Nelder-Mead iterations per start before BFGS takes over (0: BFGS straight from
    /// every start, which is cheaper with analytic gradients).
    pub nelder_mead_iterations: usize,
    /// How many of the best Nelder-Mead results BFGS polishes (every start when
    /// Nelder-Mead is skipped).
    pub polish: usize,
    /// Nelder-Mead iterations of the rescue run when the best BFGS result has not converged
    /// (a ridge or a kink stopped the line search); BFGS then restarts from its result.
    pub rescue_iterations: usize,
    /// BFGS iteration cap.
    pub max_iterations: usize,
    /// Convergence: gradient max-norm (in log-parameters) / max(1, |log-likelihood|).
    pub gradient_tolerance: f64,
    /// With more distinct rows than this, the starts are explored on a deterministic subset
    /// of this many rows and only the best is polished on all rows.
    pub explore_rows: usize,
    /// Seed of that subset.
    pub seed: u64,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            nelder_mead_iterations: 0,
            polish: 2,
            rescue_iterations: 300,
            max_iterations: 500,
            gradient_tolerance: 1e-9,
            explore_rows: 20_000,
            seed: 20_050_101,
        }
    }
}

/// What a fit returns: parameters, the maximised log-likelihood, and how it got there.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FitReport<P> {
    pub params: P,
    pub log_likelihood: f64,
    /// Asymptotic standard errors from the inverse Hessian (delta method from the
    /// log-parameters); `None` when the Hessian is not positive definite.
    pub standard_errors: Option<P>,
    /// Customers used (for Gamma-Gamma: those with `x > 0`).
    pub customers: usize,
    /// Distinct rows the likelihood was evaluated over.
    pub distinct_rows: usize,
    pub starts: usize,
    /// Starts polished by BFGS (the best after Nelder-Mead).
    pub polished: usize,
    /// Polished starts whose optimum was within 1e-6 relative of the best: a
    /// multimodality check.
    pub starts_agreeing: usize,
    pub iterations: usize,
    pub evaluations: usize,
    pub converged: bool,
    /// Final gradient max-norm / max(1, |LL|).
    pub relative_gradient: f64,
}

impl<P> FitReport<P> {
    /// The report of a [`solve`] result: `params` from its log-parameters, and standard
    /// errors by the delta method through `scale_se` (which multiplies each parameter by
    /// its log-parameter's standard error).
    pub(crate) fn from_solution(
        sol: Solution,
        params: P,
        scale_se: impl FnOnce(&P, &[f64]) -> P,
        customers: usize,
        distinct_rows: usize,
    ) -> Self {
        FitReport {
            standard_errors: sol.log_se.as_deref().map(|s| scale_se(&params, s)),
            params,
            log_likelihood: -sol.min.value,
            customers,
            distinct_rows,
            starts: sol.starts,
            polished: sol.polished,
            starts_agreeing: sol.agreeing,
            iterations: sol.iterations,
            evaluations: sol.evaluations,
            converged: sol.min.converged,
            relative_gradient: sol.min.relative_gradient,
        }
    }
}

/// The result of [`solve`] in log-parameter space.
pub(crate) struct Solution {
    pub min: Minimum,
    pub starts: usize,
    pub polished: usize,
    pub agreeing: usize,
    pub iterations: usize,
    pub evaluations: usize,
    /// Standard errors of the log-parameters.
    pub log_se: Option<Vec<f64>>,
}

/// Runs Nelder-Mead then BFGS from every start on `explore` (or `full` when no subset is
/// given; its second field is the subset's share of the total weight), keeps the best,
/// polishes it on `full`, and derives standard errors there.
pub(crate) fn solve<O: Objective>(
    model: &'static str,
    full: &O,
    explore: Option<(&O, f64)>,
    starts: &[Vec<f64>],
    opts: &FitOptions,
) -> Result<Solution, ClvError> {
    let on = explore.map(|e| e.0).unwrap_or(full);
    let (mut iterations, mut evaluations) = (0, 0);
    // Stage 1: Nelder-Mead from every start to find the basins cheaply.
    let mut seeds: Vec<(f64, Vec<f64>)> = Vec::with_capacity(starts.len());
    for s in starts {
        if opts.nelder_mead_iterations == 0 {
            seeds.push((on.value(s), s.clone()));
            continue;
        }
        let nm = nelder_mead(on, s, 0.5, opts.nelder_mead_iterations);
        iterations += nm.iterations;
        evaluations += nm.evaluations;
        if nm.value.is_finite() {
            seeds.push((nm.value, nm.theta));
        } else {
            seeds.push((f64::INFINITY, s.clone()));
        }
    }
    // Stage 2: BFGS from the most promising.
    seeds.sort_by(|a, b| a.0.total_cmp(&b.0));
    let polish = if opts.nelder_mead_iterations == 0 {
        seeds.len()
    } else {
        opts.polish.clamp(1, seeds.len().max(1))
    };
    let mut results: Vec<Minimum> = Vec::with_capacity(polish);
    for (_, from) in seeds.iter().take(polish) {
        let m = bfgs(on, from, opts.gradient_tolerance, opts.max_iterations);
        iterations += m.iterations;
        evaluations += m.evaluations;
        if m.value.is_finite() {
            results.push(m);
        }
    }
    let Some(best) = results
        .iter()
        .min_by(|a, b| a.value.total_cmp(&b.value))
        .cloned()
    else {
        return Err(ClvError::NoConvergence {
            model,
            starts: starts.len(),
            hint: "check the data (are there repeat purchases at all?) and the time unit".into(),
        });
    };
    let best = if best.converged || opts.rescue_iterations == 0 {
        best
    } else {
        let nm = nelder_mead(on, &best.theta, 0.1, opts.rescue_iterations);
        let m = bfgs(on, &nm.theta, opts.gradient_tolerance, opts.max_iterations);
        iterations += nm.iterations + m.iterations;
        evaluations += nm.evaluations + m.evaluations;
        if m.value <= best.value { m } else { best }
    };
    let agreeing = results
        .iter()
        .filter(|m| (m.value - best.value).abs() <= 1e-6 * best.value.abs().max(1.0))
        .count();
    let best = if let Some((_, share)) = explore {
        // The full-data Hessian is about 1/share times the subset's: warm-start BFGS with
        // the subset's inverse Hessian scaled by share.
        let h0 = (!best.inverse_hessian.is_empty()).then(|| {
            best.inverse_hessian
                .iter()
                .map(|row| row.iter().map(|v| v * share).collect())
                .collect()
        });
        let m = bfgs_warm(
            full,
            &best.theta,
            h0,
            opts.gradient_tolerance,
            opts.max_iterations,
        );
        iterations += m.iterations;
        evaluations += m.evaluations;
        m
    } else {
        best
    };
    let h = hessian(full, &best.theta);
    let log_se = spd_inverse(&h).map(|cov| (0..cov.len()).map(|i| cov[i][i].sqrt()).collect());
    Ok(Solution {
        min: best,
        starts: starts.len(),
        polished: polish,
        agreeing,
        iterations,
        evaluations,
        log_se,
    })
}

/// Sums `f` over `0..n` split across the available cores when `n` is large enough for the
/// thread start-up (tens of microseconds) to pay off.
pub(crate) fn par_sum<const K: usize, F>(n: usize, f: F) -> [f64; K]
where
    F: Fn(std::ops::Range<usize>) -> [f64; K] + Sync,
{
    const MIN_CHUNK: usize = 16_384;
    // `available_parallelism` reads cgroup files on Linux (tens of microseconds): ask once.
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    if n < 2 * MIN_CHUNK {
        return f(0..n);
    }
    let cores = *CORES.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|t| t.get())
            .unwrap_or(1)
    });
    let threads = cores.min(n / MIN_CHUNK).max(1);
    if threads == 1 {
        return f(0..n);
    }
    let chunk = n.div_ceil(threads);
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let range = t * chunk..((t + 1) * chunk).min(n);
                s.spawn(move || f(range))
            })
            .collect();
        let mut total = [0.0; K];
        for h in handles {
            // A panic in a worker is a bug in the likelihood code: surface it as NaN.
            let part = h.join().unwrap_or([f64::NAN; K]);
            for k in 0..K {
                total[k] += part[k];
            }
        }
        total
    })
}
