//! Power and sample size for two-arm tests, on the normal approximation statsmodels uses
//! (`NormalIndPower`, `zt_ind_solve_power`): power = Φ(d·√ñ − z) + Φ(−d·√ñ − z) with
//! ñ = 1/(1/n₁ + 1/n₂), z = z_{1−α/2}, d the standardised effect. Proportions use Cohen's
//! h = 2·asin√p₁ − 2·asin√p₂ (statsmodels `proportion_effectsize`).

use serde::{Deserialize, Serialize};

use crate::ExperimentError;
use crate::stats::{norm_cdf, norm_sf, z_crit};

/// Power of a two-sided two-sample z-test with standardised effect `d`, `n1` control
/// observations and `ratio`·`n1` treatment observations.
pub fn power(d: f64, n1: f64, alpha: f64, ratio: f64) -> f64 {
    let n2 = n1 * ratio;
    let n = 1.0 / (1.0 / n1 + 1.0 / n2);
    let z = z_crit(alpha);
    let s = d.abs() * n.sqrt();
    norm_sf(z - s) + norm_cdf(-z - s)
}

fn check(alpha: f64, pow: f64, ratio: f64) -> Result<(), ExperimentError> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(ExperimentError::invalid(
            "alpha",
            format!("{alpha} must be in (0, 1)"),
        ));
    }
    if !(pow > alpha && pow < 1.0) {
        return Err(ExperimentError::invalid(
            "power",
            format!("{pow} must be in (alpha, 1), e.g. 0.8"),
        ));
    }
    if !(ratio > 0.0 && ratio.is_finite()) {
        return Err(ExperimentError::invalid(
            "ratio",
            format!("{ratio} must be > 0 (treatment size / control size)"),
        ));
    }
    Ok(())
}

/// Control-arm size n₁ (treatment = ratio·n₁) that reaches `pow` for effect `d`
/// (not rounded up; round up yourself when planning).
pub fn solve_n(d: f64, alpha: f64, pow: f64, ratio: f64) -> Result<f64, ExperimentError> {
    check(alpha, pow, ratio)?;
    if !(d.abs() > 0.0 && d.is_finite()) {
        return Err(ExperimentError::invalid(
            "mde",
            "the minimum detectable effect must be non-zero",
        ));
    }
    let (mut lo, mut hi) = (1e-9, 2.0);
    while power(d, hi, alpha, ratio) < pow {
        lo = hi;
        hi *= 2.0;
        if hi > 1e15 {
            return Err(ExperimentError::invalid(
                "mde",
                "effect too small: more than 1e15 observations needed",
            ));
        }
    }
    for _ in 0..300 {
        let mid = 0.5 * (lo + hi);
        if power(d, mid, alpha, ratio) < pow {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-12 * hi {
            break;
        }
    }
    Ok(0.5 * (lo + hi))
}

/// Standardised effect detectable with power `pow` at control size `n1`.
pub fn solve_effect(n1: f64, alpha: f64, pow: f64, ratio: f64) -> Result<f64, ExperimentError> {
    check(alpha, pow, ratio)?;
    if n1.is_nan() || n1 <= 0.0 {
        return Err(ExperimentError::invalid("n", "sample size must be > 0"));
    }
    let (mut lo, mut hi) = (0.0, 1.0);
    while power(hi, n1, alpha, ratio) < pow {
        lo = hi;
        hi *= 2.0;
        if hi > 1e6 {
            return Err(ExperimentError::invalid(
                "n",
                "sample size too small for any effect",
            ));
        }
    }
    for _ in 0..300 {
        let mid = 0.5 * (lo + hi);
        if power(mid, n1, alpha, ratio) < pow {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-15 * hi {
            break;
        }
    }
    Ok(0.5 * (lo + hi))
}

/// Cohen's h for proportions p₁ vs p₂.
pub fn cohens_h(p1: f64, p2: f64) -> f64 {
    2.0 * p1.sqrt().asin() - 2.0 * p2.sqrt().asin()
}

/// A sample-size plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplePlan {
    /// Standardised effect size (Cohen's d or h).
    pub effect_size: f64,
    /// Control observations (exact solution, not rounded).
    pub n_control: f64,
    /// Treatment observations (ratio · n_control).
    pub n_treatment: f64,
    /// Both arms, rounded up.
    pub n_total: u64,
}

fn plan(d: f64, alpha: f64, pow: f64, ratio: f64) -> Result<SamplePlan, ExperimentError> {
    let n1 = solve_n(d, alpha, pow, ratio)?;
    Ok(SamplePlan {
        effect_size: d,
        n_control: n1,
        n_treatment: n1 * ratio,
        n_total: n1.ceil() as u64 + (n1 * ratio).ceil() as u64,
    })
}

fn check_p(name: &str, p: f64) -> Result<(), ExperimentError> {
    if !(p > 0.0 && p < 1.0) {
        return Err(ExperimentError::invalid(
            name,
            format!("{p} must be a rate in (0, 1)"),
        ));
    }
    Ok(())
}

/// Sample size to detect `baseline` → `baseline + mde_abs` (absolute change in a rate).
pub fn sample_size_proportions(
    baseline: f64,
    mde_abs: f64,
    alpha: f64,
    pow: f64,
    ratio: f64,
) -> Result<SamplePlan, ExperimentError> {
    check_p("baseline", baseline)?;
    check_p("baseline + mde", baseline + mde_abs)?;
    plan(cohens_h(baseline + mde_abs, baseline), alpha, pow, ratio)
}

/// Sample size to detect an absolute change `mde` in a mean with standard deviation `sd`.
pub fn sample_size_means(
    mde: f64,
    sd: f64,
    alpha: f64,
    pow: f64,
    ratio: f64,
) -> Result<SamplePlan, ExperimentError> {
    if sd.is_nan() || sd <= 0.0 {
        return Err(ExperimentError::invalid(
            "sd",
            "standard deviation must be > 0",
        ));
    }
    plan(mde / sd, alpha, pow, ratio)
}

/// Smallest absolute increase over `baseline` detectable with `n_control` control units.
pub fn mde_proportions(
    baseline: f64,
    n_control: f64,
    alpha: f64,
    pow: f64,
    ratio: f64,
) -> Result<f64, ExperimentError> {
    check_p("baseline", baseline)?;
    let h = solve_effect(n_control, alpha, pow, ratio)?;
    let angle = baseline.sqrt().asin() + h / 2.0;
    if angle >= std::f64::consts::FRAC_PI_2 {
        return Ok(1.0 - baseline);
    }
    Ok(angle.sin().powi(2) - baseline)
}

/// Smallest absolute change in a mean detectable with `n_control` control units.
pub fn mde_means(
    sd: f64,
    n_control: f64,
    alpha: f64,
    pow: f64,
    ratio: f64,
) -> Result<f64, ExperimentError> {
    if sd.is_nan() || sd <= 0.0 {
        return Err(ExperimentError::invalid(
            "sd",
            "standard deviation must be > 0",
        ));
    }
    Ok(solve_effect(n_control, alpha, pow, ratio)? * sd)
}
