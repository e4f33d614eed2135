//! The statistics behind an experiment read-out. Every function here works on summary
//! statistics (n, mean, variance, covariances), so a 10M-row file is reduced in one pass
//! and the tests are instantaneous. Formulas follow statsmodels/scipy conventions and are
//! checked against them to 1e-6 in `tests/reference.rs`.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};
use statrs::function::gamma::{checked_gamma_ur, ln_gamma};

use crate::ExperimentError;

/// Count, mean and sum of squared deviations of one sample (Welford/Chan form, so merging
/// partial results from several threads stays accurate).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    /// Observations.
    pub n: f64,
    /// Mean.
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
}

impl Moments {
    /// Moments of a slice (two-pass, exact).
    pub fn from_slice(v: &[f64]) -> Self {
        let n = v.len() as f64;
        if v.is_empty() {
            return Moments::default();
        }
        let mean = v.iter().sum::<f64>() / n;
        let m2 = v.iter().map(|x| (x - mean) * (x - mean)).sum();
        Moments { n, mean, m2 }
    }
    /// Sample variance (ddof = 1); 0 for fewer than two observations.
    pub fn var(&self) -> f64 {
        if self.n > 1.0 {
            self.m2 / (self.n - 1.0)
        } else {
            0.0
        }
    }
    /// Variance of the mean.
    pub fn var_mean(&self) -> f64 {
        if self.n > 0.0 {
            self.var() / self.n
        } else {
            f64::NAN
        }
    }
    /// Chan et al. parallel merge.
    pub fn merge(&self, o: &Moments) -> Moments {
        if self.n == 0.0 {
            return *o;
        }
        if o.n == 0.0 {
            return *self;
        }
        let n = self.n + o.n;
        let d = o.mean - self.mean;
        Moments {
            n,
            mean: self.mean + d * o.n / n,
            m2: self.m2 + o.m2 + d * d * self.n * o.n / n,
        }
    }
}

/// Standard normal distribution.
fn std_normal() -> Normal {
    // Parameters are constants, so construction cannot fail.
    Normal::standard()
}

/// Two-sided critical value z_{1-alpha/2}.
pub fn z_crit(alpha: f64) -> f64 {
    std_normal().inverse_cdf(1.0 - alpha / 2.0)
}

/// Standard normal CDF.
pub fn norm_cdf(x: f64) -> f64 {
    std_normal().cdf(x)
}

/// Standard normal survival function.
pub fn norm_sf(x: f64) -> f64 {
    std_normal().sf(x)
}

fn norm_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Regularised incomplete beta I_x(a, b) by Lentz's continued fraction, with an
/// iteration budget that grows with sqrt(a + b) (statrs stops at 140 iterations, which
/// fails for the Beta posteriors of large experiments).
pub fn inc_beta(a: f64, b: f64, x: f64) -> Result<f64, ExperimentError> {
    if !(a > 0.0 && b > 0.0 && (0.0..=1.0).contains(&x)) {
        return Err(ExperimentError::Data(format!(
            "incomplete beta needs a, b > 0 and 0 <= x <= 1 (got a={a}, b={b}, x={x})"
        )));
    }
    if x == 0.0 {
        return Ok(0.0);
    }
    if x == 1.0 {
        return Ok(1.0);
    }
    let ln_bt = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    let (swap, a2, b2, x2) = if x < (a + 1.0) / (a + b + 2.0) {
        (false, a, b, x)
    } else {
        (true, b, a, 1.0 - x)
    };
    let cf = beta_cf(a2, b2, x2)?;
    let front = (ln_bt).exp() * cf / a2;
    Ok(if swap { 1.0 - front } else { front })
}

fn beta_cf(a: f64, b: f64, x: f64) -> Result<f64, ExperimentError> {
    const TINY: f64 = 1e-300;
    let max_iter = 1000 + (20.0 * (a + b).sqrt()) as usize;
    let qab = a + b;
    let qap = a + 1.0;
    let qam = a - 1.0;
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=max_iter {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            return Ok(h);
        }
    }
    Err(ExperimentError::Data(format!(
        "incomplete beta did not converge for a={a}, b={b}, x={x}"
    )))
}

/// Student's t survival function P(T > t) with `df` degrees of freedom.
pub fn t_sf(t: f64, df: f64) -> Result<f64, ExperimentError> {
    if !df.is_finite() || df > 1e10 {
        return Ok(norm_sf(t));
    }
    let x = df / (df + t * t);
    let tail = 0.5 * inc_beta(df / 2.0, 0.5, x)?;
    Ok(if t >= 0.0 { tail } else { 1.0 - tail })
}

/// Two-sided critical value of Student's t: solves sf(t) = alpha/2 by Newton steps from
/// the normal quantile, falling back to bisection.
pub fn t_crit(alpha: f64, df: f64) -> Result<f64, ExperimentError> {
    let target = alpha / 2.0;
    let mut lo = 0.0;
    let mut hi = z_crit(alpha).max(1.0);
    while t_sf(hi, df)? > target {
        lo = hi;
        hi *= 2.0;
        if hi > 1e12 {
            return Err(ExperimentError::Data(format!(
                "t quantile diverged for df={df}"
            )));
        }
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_sf(mid, df)? > target {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-13 * hi {
            break;
        }
    }
    Ok(0.5 * (lo + hi))
}

/// A confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
}

/// A frequentist comparison of a treatment arm against control.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Treatment minus control.
    pub diff: f64,
    /// Standard error of the difference (unpooled).
    pub se: f64,
    /// Test statistic (t or z).
    pub statistic: f64,
    /// Welch–Satterthwaite degrees of freedom (None for z-tests).
    pub df: Option<f64>,
    /// Two-sided p-value.
    pub p_value: f64,
    /// Confidence interval of `diff`.
    pub ci: Interval,
    /// Relative lift treatment/control − 1.
    pub rel: f64,
    /// Delta-method standard error of `rel`.
    pub rel_se: f64,
    /// Normal confidence interval of `rel`.
    pub rel_ci: Interval,
}

/// Relative lift m_t/m_c − 1 and its delta-method standard error, given the variances of
/// the two means (independent arms).
pub fn relative_lift(m_t: f64, vm_t: f64, m_c: f64, vm_c: f64) -> (f64, f64) {
    let rel = m_t / m_c - 1.0;
    let var = vm_t / (m_c * m_c) + m_t * m_t * vm_c / m_c.powi(4);
    (rel, var.sqrt())
}

fn with_relative(
    mut c: Comparison,
    m_t: f64,
    vm_t: f64,
    m_c: f64,
    vm_c: f64,
    alpha: f64,
) -> Comparison {
    let (rel, rel_se) = relative_lift(m_t, vm_t, m_c, vm_c);
    let z = z_crit(alpha);
    c.rel = rel;
    c.rel_se = rel_se;
    c.rel_ci = Interval {
        lower: rel - z * rel_se,
        upper: rel + z * rel_se,
    };
    c
}

fn check_alpha(alpha: f64) -> Result<(), ExperimentError> {
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(ExperimentError::invalid(
            "alpha",
            format!("{alpha} must be in (0, 1), e.g. 0.05"),
        ));
    }
    Ok(())
}

/// Welch's unequal-variance t-test of treatment vs control means, as statsmodels
/// `ttest_ind(usevar='unequal')` and `CompareMeans.tconfint_diff(usevar='unequal')`.
pub fn welch(t: &Moments, c: &Moments, alpha: f64) -> Result<Comparison, ExperimentError> {
    check_alpha(alpha)?;
    if t.n < 2.0 || c.n < 2.0 {
        return Err(ExperimentError::Data(format!(
            "Welch's t-test needs at least 2 observations per arm (treatment {}, control {})",
            t.n, c.n
        )));
    }
    let (vt, vc) = (t.var_mean(), c.var_mean());
    let se = (vt + vc).sqrt();
    let diff = t.mean - c.mean;
    let df = (vt + vc).powi(2) / (vt * vt / (t.n - 1.0) + vc * vc / (c.n - 1.0));
    let (statistic, p_value, half) = if se > 0.0 {
        let stat = diff / se;
        (
            stat,
            (2.0 * t_sf(stat.abs(), df)?).min(1.0),
            t_crit(alpha, df)? * se,
        )
    } else {
        (f64::NAN, f64::NAN, 0.0)
    };
    let cmp = Comparison {
        diff,
        se,
        statistic,
        df: Some(df),
        p_value,
        ci: Interval {
            lower: diff - half,
            upper: diff + half,
        },
        rel: 0.0,
        rel_se: 0.0,
        rel_ci: Interval {
            lower: 0.0,
            upper: 0.0,
        },
    };
    Ok(with_relative(cmp, t.mean, vt, c.mean, vc, alpha))
}

/// Two-proportion z-test (pooled variance for the p-value, as statsmodels
/// `proportions_ztest`) with a Wald interval for the difference (unpooled, as
/// `confint_proportions_2indep(method='wald')`).
pub fn two_proportions(
    x_t: f64,
    n_t: f64,
    x_c: f64,
    n_c: f64,
    alpha: f64,
) -> Result<Comparison, ExperimentError> {
    check_alpha(alpha)?;
    if n_t <= 0.0 || n_c <= 0.0 {
        return Err(ExperimentError::Data(
            "two-proportion test needs observations in both arms".into(),
        ));
    }
    let (pt, pc) = (x_t / n_t, x_c / n_c);
    let pool = (x_t + x_c) / (n_t + n_c);
    let se_pool = (pool * (1.0 - pool) * (1.0 / n_t + 1.0 / n_c)).sqrt();
    let diff = pt - pc;
    let (vt, vc) = (pt * (1.0 - pt) / n_t, pc * (1.0 - pc) / n_c);
    let se = (vt + vc).sqrt();
    let (statistic, p_value) = if se_pool > 0.0 {
        let z = diff / se_pool;
        (z, 2.0 * norm_sf(z.abs()))
    } else {
        (f64::NAN, f64::NAN)
    };
    let half = z_crit(alpha) * se;
    let cmp = Comparison {
        diff,
        se,
        statistic,
        df: None,
        p_value,
        ci: Interval {
            lower: diff - half,
            upper: diff + half,
        },
        rel: 0.0,
        rel_se: 0.0,
        rel_ci: Interval {
            lower: 0.0,
            upper: 0.0,
        },
    };
    Ok(with_relative(cmp, pt, vt, pc, vc, alpha))
}

/// Joint moments of a numerator and a denominator per unit, for ratio metrics
/// (e.g. revenue per session, where sessions vary per customer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RatioMoments {
    /// Numerator moments.
    pub num: Moments,
    /// Denominator moments.
    pub den: Moments,
    /// Sample covariance of numerator and denominator (ddof = 1).
    pub cov: f64,
}

impl RatioMoments {
    /// The ratio of means.
    pub fn ratio(&self) -> f64 {
        self.num.mean / self.den.mean
    }
    /// Delta-method variance of the ratio of means:
    /// (1/n)·(σ²ₙ/μ²_d − 2μₙσₙd/μ³_d + μ²ₙσ²_d/μ⁴_d).
    pub fn ratio_var(&self) -> f64 {
        let (mn, md) = (self.num.mean, self.den.mean);
        (self.num.var() / (md * md) - 2.0 * mn * self.cov / md.powi(3)
            + mn * mn * self.den.var() / md.powi(4))
            / self.num.n
    }
}

/// z-test of two ratio metrics with delta-method variances.
pub fn ratio_test(
    t: &RatioMoments,
    c: &RatioMoments,
    alpha: f64,
) -> Result<Comparison, ExperimentError> {
    check_alpha(alpha)?;
    if t.den.mean == 0.0 || c.den.mean == 0.0 {
        return Err(ExperimentError::Data(
            "ratio metric has a zero mean denominator in an arm".into(),
        ));
    }
    let (rt, rc) = (t.ratio(), c.ratio());
    let (vt, vc) = (t.ratio_var(), c.ratio_var());
    let se = (vt + vc).sqrt();
    let diff = rt - rc;
    let z = diff / se;
    let half = z_crit(alpha) * se;
    let cmp = Comparison {
        diff,
        se,
        statistic: z,
        df: None,
        p_value: 2.0 * norm_sf(z.abs()),
        ci: Interval {
            lower: diff - half,
            upper: diff + half,
        },
        rel: 0.0,
        rel_se: 0.0,
        rel_ci: Interval {
            lower: 0.0,
            upper: 0.0,
        },
    };
    Ok(with_relative(cmp, rt, vt, rc, vc, alpha))
}

/// Chi-square survival function P(X > x) with `df` degrees of freedom.
pub fn chi2_sf(x: f64, df: f64) -> Result<f64, ExperimentError> {
    if x <= 0.0 {
        return Ok(1.0);
    }
    checked_gamma_ur(df / 2.0, x / 2.0)
        .map_err(|e| ExperimentError::Data(format!("chi-square p-value: {e}")))
}

/// Sample-ratio-mismatch check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Srm {
    /// Pearson chi-square statistic.
    pub chi2: f64,
    /// Degrees of freedom (arms − 1).
    pub df: f64,
    /// p-value (scipy `chisquare`).
    pub p_value: f64,
    /// True when p < 0.001: the split is broken; do not trust the lifts.
    pub mismatch: bool,
}

/// SRM threshold: GrowthBook and most platforms flag at p < 0.001.
pub const SRM_THRESHOLD: f64 = 0.001;

/// Chi-square goodness of fit of observed arm sizes against planned weights.
pub fn srm(observed: &[f64], weights: &[f64]) -> Result<Srm, ExperimentError> {
    if observed.len() != weights.len() || observed.len() < 2 {
        return Err(ExperimentError::invalid(
            "weights",
            format!(
                "{} planned weights for {} arms; give one weight per arm",
                weights.len(),
                observed.len()
            ),
        ));
    }
    if weights.iter().any(|w| !(w.is_finite() && *w > 0.0)) {
        return Err(ExperimentError::invalid(
            "weights",
            "every planned weight must be > 0",
        ));
    }
    let total: f64 = observed.iter().sum();
    let wsum: f64 = weights.iter().sum();
    let chi2: f64 = observed
        .iter()
        .zip(weights)
        .map(|(o, w)| {
            let e = total * w / wsum;
            (o - e) * (o - e) / e
        })
        .sum();
    let df = (observed.len() - 1) as f64;
    let p_value = chi2_sf(chi2, df)?;
    Ok(Srm {
        chi2,
        df,
        p_value,
        mismatch: p_value < SRM_THRESHOLD,
    })
}

/// Bayesian read-out of treatment vs control.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bayes {
    /// P(treatment > control).
    pub prob_beat_control: f64,
    /// Expected loss (absolute units) of shipping the treatment: E[max(control − treatment, 0)].
    pub expected_loss_treatment: f64,
    /// Expected loss of keeping control: E[max(treatment − control, 0)].
    pub expected_loss_control: f64,
    /// "beta-binomial quadrature" or "normal approximation".
    pub method: String,
}

/// Normal approximation: flat prior, posterior of the difference N(diff, se²); closed form.
pub fn bayes_normal(diff: f64, se: f64) -> Bayes {
    let (p, lt, lc) = if se > 0.0 {
        let z = diff / se;
        (
            norm_cdf(z),
            se * norm_pdf(z) - diff * norm_cdf(-z),
            diff * norm_cdf(z) + se * norm_pdf(z),
        )
    } else {
        (
            if diff > 0.0 { 1.0 } else { 0.0 },
            (-diff).max(0.0),
            diff.max(0.0),
        )
    };
    Bayes {
        prob_beat_control: p,
        expected_loss_treatment: lt,
        expected_loss_control: lc,
        method: "normal approximation".into(),
    }
}

/// Beta-binomial model with a Beta(1, 1) prior per arm, by deterministic quadrature (no
/// Monte Carlo). With T, C the posteriors:
/// P(T > C) = ∫ f_T(y) F_C(y) dy and E[max(C − T, 0)] = ∫ f_T(y) E[(C − y)⁺] dy, where
/// E[(C − y)⁺] = μ_C(1 − I_y(a_C+1, b_C)) − y(1 − I_y(a_C, b_C)); when C is the narrower
/// posterior the mirrored forms ∫ f_C(y)(1 − F_T(y)) dy and ∫ f_C(y) E[(y − T)⁺] dy are used,
/// so the integrand is always smooth on the panel scale. 10-point Gauss–Legendre on panels
/// of half the narrower posterior's sd, over ±40 sd.
pub fn bayes_binary(x_t: f64, n_t: f64, x_c: f64, n_c: f64) -> Result<Bayes, ExperimentError> {
    let (at, bt) = (x_t + 1.0, n_t - x_t + 1.0);
    let (ac, bc) = (x_c + 1.0, n_c - x_c + 1.0);
    if !(at > 0.0 && bt > 0.0 && ac > 0.0 && bc > 0.0) || n_t > 1e12 || n_c > 1e12 {
        return Err(ExperimentError::Data(format!(
            "binary metric needs 0 <= conversions <= n (treatment {x_t}/{n_t}, control {x_c}/{n_c})"
        )));
    }
    let (mu_t, sd_t) = beta_mean_sd(at, bt);
    let (mu_c, sd_c) = beta_mean_sd(ac, bc);
    // Integrate against the narrower posterior's density.
    let over_t = sd_t <= sd_c;
    let (a, b, mu, sd) = if over_t {
        (at, bt, mu_t, sd_t)
    } else {
        (ac, bc, mu_c, sd_c)
    };
    let ln_norm = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b);
    let lo = (mu - 40.0 * sd).max(0.0);
    let hi = (mu + 40.0 * sd).min(1.0);
    let panels = (((hi - lo) / (0.5 * sd)).ceil() as usize).clamp(16, 400);
    let h = (hi - lo) / panels as f64;
    let (mut p, mut loss_t) = (0.0, 0.0);
    for i in 0..panels {
        let mid = lo + (i as f64 + 0.5) * h;
        for (x, w) in GL10 {
            let y = mid + 0.5 * h * x;
            if y <= 0.0 || y >= 1.0 {
                continue;
            }
            let fy = (ln_norm + (a - 1.0) * y.ln() + (b - 1.0) * (1.0 - y).ln()).exp();
            if fy == 0.0 {
                continue;
            }
            let wy = 0.5 * h * w * fy;
            if over_t {
                // Against f_T: F_C(y) and E[(C - y)+].
                let cdf = inc_beta(ac, bc, y)?;
                let cdf1 = inc_beta(ac + 1.0, bc, y)?;
                p += wy * cdf;
                loss_t += wy * (mu_c * (1.0 - cdf1) - y * (1.0 - cdf)).max(0.0);
            } else {
                // Against f_C: 1 - F_T(y) and E[(y - T)+].
                let cdf = inc_beta(at, bt, y)?;
                let cdf1 = inc_beta(at + 1.0, bt, y)?;
                p += wy * (1.0 - cdf);
                loss_t += wy * (y * cdf - mu_t * cdf1).max(0.0);
            }
        }
    }
    Ok(Bayes {
        prob_beat_control: p.clamp(0.0, 1.0),
        expected_loss_treatment: loss_t,
        expected_loss_control: (mu_t - mu_c + loss_t).max(0.0),
        method: "beta-binomial quadrature".into(),
    })
}

/// 10-point Gauss–Legendre nodes and weights on [-1, 1].
const GL10: [(f64, f64); 10] = [
    (-0.973_906_528_517_171_7, 0.066_671_344_308_688_14),
    (-0.865_063_366_688_984_5, 0.149_451_349_150_580_6),
    (-0.679_409_568_299_024_4, 0.219_086_362_515_982_04),
    (-0.433_395_394_129_247_2, 0.269_266_719_309_996_35),
    (-0.148_874_338_981_631_2, 0.295_524_224_714_752_87),
    (0.148_874_338_981_631_2, 0.295_524_224_714_752_87),
    (0.433_395_394_129_247_2, 0.269_266_719_309_996_35),
    (0.679_409_568_299_024_4, 0.219_086_362_515_982_04),
    (0.865_063_366_688_984_5, 0.149_451_349_150_580_6),
    (0.973_906_528_517_171_7, 0.066_671_344_308_688_14),
];

fn beta_mean_sd(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    (a / s, (a * b / (s * s * (s + 1.0))).sqrt())
}

/// An always-valid confidence sequence for a difference, safe under continuous peeking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sequential {
    /// The interval at the current sample size.
    pub ci: Interval,
    /// Always-valid p-value: the smallest alpha whose sequence excludes 0.
    pub p_value: f64,
    /// Tuning sample size N* the boundary is tightest at.
    pub tuning: f64,
}

/// Asymptotic confidence sequence of Waudby-Smith et al. (2023) with Howard et al.'s
/// normal-mixture boundary, as GrowthBook uses it: half-width
/// `sqrt(v·N) · sqrt(2(Nρ²+1)/(N²ρ²) · ln(sqrt(Nρ²+1)/α))`, with v the variance of the
/// estimate, N the total sample size and ρ² = (−2 ln α + ln(−2 ln α + 1)) / N*.
pub fn confidence_sequence(
    estimate: f64,
    var_estimate: f64,
    n_total: f64,
    alpha: f64,
    tuning: f64,
) -> Result<Sequential, ExperimentError> {
    check_alpha(alpha)?;
    if tuning.is_nan() || tuning <= 0.0 {
        return Err(ExperimentError::invalid(
            "sequential_tuning",
            "must be > 0 (e.g. 5000)",
        ));
    }
    let la = -2.0 * alpha.ln();
    let rho2 = (la + (la + 1.0).ln()) / tuning;
    let k = n_total * rho2 + 1.0;
    let s2 = var_estimate * n_total;
    let scale = 2.0 * k / (n_total * n_total * rho2);
    let half = (s2 * scale * (k.sqrt() / alpha).ln()).sqrt();
    // Solve half(α) = |estimate| for α: α = sqrt(k)·exp(−est² / (s2·scale)).
    let p_value = if s2 > 0.0 {
        (k.sqrt() * (-estimate * estimate / (s2 * scale)).exp()).min(1.0)
    } else {
        f64::NAN
    };
    Ok(Sequential {
        ci: Interval {
            lower: estimate - half,
            upper: estimate + half,
        },
        p_value,
        tuning,
    })
}

/// Multiple-testing correction across metrics and arms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Correction {
    /// Holm–Bonferroni step-down (controls the family-wise error rate).
    #[default]
    Holm,
    /// Benjamini–Hochberg (controls the false discovery rate).
    BenjaminiHochberg,
    /// No correction.
    None,
}

impl Correction {
    /// Adjusted p-values, in input order (NaNs are left out of the family and stay NaN).
    pub fn adjust(&self, p: &[f64]) -> Vec<f64> {
        let idx: Vec<usize> = (0..p.len()).filter(|&i| !p[i].is_nan()).collect();
        let mut out = vec![f64::NAN; p.len()];
        let vals: Vec<f64> = idx.iter().map(|&i| p[i]).collect();
        let adj = match self {
            Correction::Holm => holm(&vals),
            Correction::BenjaminiHochberg => benjamini_hochberg(&vals),
            Correction::None => vals,
        };
        for (k, &i) in idx.iter().enumerate() {
            out[i] = adj[k];
        }
        out
    }
}

fn order(p: &[f64]) -> Vec<usize> {
    let mut o: Vec<usize> = (0..p.len()).collect();
    o.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    o
}

/// Holm step-down adjusted p-values (statsmodels `multipletests(method='holm')`).
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let o = order(p);
    let mut out = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in o.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p[i]).min(1.0));
        out[i] = running;
    }
    out
}

/// Benjamini–Hochberg adjusted p-values (statsmodels `multipletests(method='fdr_bh')`).
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let o = order(p);
    let mut out = vec![0.0; m];
    let mut running: f64 = 1.0;
    for rank in (0..m).rev() {
        let i = o[rank];
        running = running.min((m as f64 / (rank + 1) as f64 * p[i]).min(1.0));
        out[i] = running;
    }
    out
}

/// CUPED: pooled θ and the adjusted moments per arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cuped {
    /// θ = cov(y, x) / var(x) over all arms pooled.
    pub theta: f64,
    /// Adjusted moments of y − θ(x − x̄_all), per arm in input order.
    pub adjusted: Vec<Moments>,
    /// 1 − var(adjusted)/var(y), pooled over arms.
    pub variance_reduction: f64,
}

/// Per-arm joint moments of a metric y and a pre-period covariate x.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct JointMoments {
    /// Metric.
    pub y: Moments,
    /// Covariate.
    pub x: Moments,
    /// Co-moment Σ(y − ȳ)(x − x̄).
    pub cxy: f64,
}

impl JointMoments {
    /// Chan merge including the co-moment.
    pub fn merge(&self, o: &JointMoments) -> JointMoments {
        let n = self.y.n + o.y.n;
        if self.y.n == 0.0 {
            return *o;
        }
        if o.y.n == 0.0 {
            return *self;
        }
        let dy = o.y.mean - self.y.mean;
        let dx = o.x.mean - self.x.mean;
        JointMoments {
            y: self.y.merge(&o.y),
            x: self.x.merge(&o.x),
            cxy: self.cxy + o.cxy + dy * dx * self.y.n * o.y.n / n,
        }
    }
}

/// CUPED with θ pooled across arms (Deng et al. 2013). The adjustment is
/// y − θ(x − x̄_all), so adjusted means stay on the metric's scale.
pub fn cuped(arms: &[JointMoments]) -> Result<Cuped, ExperimentError> {
    let all = arms.iter().fold(JointMoments::default(), |a, b| a.merge(b));
    if all.x.m2 <= 0.0 {
        return Err(ExperimentError::Data(
            "CUPED covariate is constant across all rows; pick a pre-period covariate that varies"
                .into(),
        ));
    }
    let theta = all.cxy / all.x.m2;
    let adjusted: Vec<Moments> = arms
        .iter()
        .map(|a| Moments {
            n: a.y.n,
            mean: a.y.mean - theta * (a.x.mean - all.x.mean),
            m2: (a.y.m2 - 2.0 * theta * a.cxy + theta * theta * a.x.m2).max(0.0),
        })
        .collect();
    let m2y: f64 = arms.iter().map(|a| a.y.m2).sum();
    let m2a: f64 = adjusted.iter().map(|a| a.m2).sum();
    Ok(Cuped {
        theta,
        adjusted,
        variance_reduction: if m2y > 0.0 { 1.0 - m2a / m2y } else { 0.0 },
    })
}
