//! Adaptive propensity models that learn online from every response.
//!
//! One model per (offer, channel), as Pega's ADM keys them. Each is a Bayesian probit
//! regression over binary features (binned profile predictors, hashed context values and a
//! bias), learned by assumed-density filtering: AdPredictor (Graepel et al., ICML 2010,
//! the model behind Bing's ad click prediction). Every weight has a Gaussian posterior
//! `N(mean, var)`; one response updates only the active weights, in closed form.
//!
//! Why this rather than naive Bayes over bins: naive Bayes counts correlated predictors
//! (age band, lifecycle stage, asset tier) as independent evidence and becomes
//! over-confident, which breaks both calibration and Thompson sampling. The probit model
//! shares the evidence between active features, keeps an honest posterior variance, and is
//! just as cheap: O(active features) per score and per update.
//!
//! Thompson sampling needs one normal draw per offer: with independent Gaussian weights
//! the score `w·x` is itself Gaussian, `N(Σ mean, Σ var)`, so we sample the score rather
//! than each weight and pass it through the probit link.

use serde::{Deserialize, Serialize};

/// Settings of the adaptive models.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdaptiveConfig {
    /// Propensity assumed before any response (sets the prior mean of the bias).
    pub prior_propensity: f64,
    /// Prior variance of the whole score (shared out between the active features): the
    /// exploration budget of a new offer. 1.0 lets a new offer with prior 2% sample
    /// anywhere from about 0.1% to 13%.
    pub prior_score_variance: f64,
    /// Probit noise β.
    pub beta: f64,
    /// Per update, each touched weight decays this far back towards its prior, so a model
    /// keeps adapting when behaviour drifts (0 = stationary).
    pub forgetting: f64,
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        AdaptiveConfig {
            prior_propensity: 0.02,
            prior_score_variance: 1.0,
            beta: 1.0,
            forgetting: 1e-4,
        }
    }
}

/// Response counts of one model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelStats {
    pub positives: u64,
    pub negatives: u64,
}

/// One adaptive model: a Gaussian posterior per feature weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveModel {
    pub mean: Vec<f64>,
    pub var: Vec<f64>,
    prior_mean: Vec<f64>,
    prior_var: Vec<f64>,
    pub stats: ModelStats,
}

/// A score: the posterior-mean propensity and a Thompson sample of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    pub mean: f64,
    pub sample: f64,
}

impl AdaptiveModel {
    /// A model over `features` weights (feature 0 is the bias), for examples with about
    /// `active` features on each.
    pub fn new(features: usize, active: usize, cfg: &AdaptiveConfig) -> Self {
        let features = features.max(1);
        let active = active.max(1) as f64;
        let v = cfg.prior_score_variance / active;
        // Predictive Φ(μ0 / sqrt(β² + active·v)) = prior_propensity.
        let p0 = cfg.prior_propensity.clamp(1e-6, 1.0 - 1e-6);
        let mu0 = inverse_normal_cdf(p0) * (cfg.beta * cfg.beta + cfg.prior_score_variance).sqrt();
        let mut prior_mean = vec![0.0; features];
        prior_mean[0] = mu0;
        let prior_var = vec![v; features];
        AdaptiveModel {
            mean: prior_mean.clone(),
            var: prior_var.clone(),
            prior_mean,
            prior_var,
            stats: ModelStats::default(),
        }
    }

    fn moments(&self, active: &[u32]) -> (f64, f64) {
        let mut m = 0.0;
        let mut v = 0.0;
        for &i in active {
            if let (Some(a), Some(b)) = (self.mean.get(i as usize), self.var.get(i as usize)) {
                m += a;
                v += b;
            }
        }
        (m, v)
    }

    /// Posterior-mean propensity and a Thompson sample; `z` is a standard normal draw.
    pub fn score(&self, active: &[u32], beta: f64, z: f64) -> Score {
        let (m, v) = self.moments(active);
        Score {
            mean: normal_cdf(m / (beta * beta + v).sqrt()),
            sample: normal_cdf((m + v.sqrt() * z) / beta),
        }
    }

    /// Learns one response (`positive`: accepted) by assumed-density filtering.
    pub fn update(&mut self, active: &[u32], positive: bool, cfg: &AdaptiveConfig) {
        let (m, v) = self.moments(active);
        let y = if positive { 1.0 } else { -1.0 };
        let s2 = cfg.beta * cfg.beta + v;
        let s = s2.sqrt();
        let t = y * m / s;
        let vt = v_func(t);
        let wt = vt * (vt + t);
        let eps = cfg.forgetting.clamp(0.0, 1.0);
        for &i in active {
            let i = i as usize;
            if i >= self.mean.len() {
                continue;
            }
            let vi = self.var[i];
            let mut mean = self.mean[i] + y * vi / s * vt;
            let mut var = vi * (1.0 - vi / s2 * wt).max(1e-9);
            if eps > 0.0 {
                mean = (1.0 - eps) * mean + eps * self.prior_mean[i];
                var = (1.0 - eps) * var + eps * self.prior_var[i];
            }
            self.mean[i] = mean;
            self.var[i] = var;
        }
        if positive {
            self.stats.positives += 1;
        } else {
            self.stats.negatives += 1;
        }
    }

    /// Responses learned so far.
    pub fn evidence(&self) -> u64 {
        self.stats.positives + self.stats.negatives
    }
}

/// v(t) = φ(t)/Φ(t), the ADF mean correction; stable far into the left tail.
fn v_func(t: f64) -> f64 {
    if t < -35.0 {
        return -t;
    }
    let cdf = normal_cdf(t);
    if cdf <= 0.0 { -t } else { normal_pdf(t) / cdf }
}

pub fn normal_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Φ(x) via the complementary error function.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// erfc with fractional error below 1.2e-7 everywhere (Numerical Recipes' Chebyshev
/// fit), so the tails keep their relative accuracy, which v(t) depends on.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Φ⁻¹(p), Acklam's rational approximation (relative error below 1.2e-9).
pub fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let lo = 0.024_25;
    if p < lo {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - lo {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn normal_functions_match_reference_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.96) - 0.975_002_1).abs() < 1e-6);
        assert!((normal_cdf(-3.0) - 0.001_349_898).abs() < 1e-8);
        for p in [1e-6, 0.02, 0.3, 0.5, 0.9, 0.999] {
            assert!((normal_cdf(inverse_normal_cdf(p)) - p).abs() < 1e-6 * p.max(1e-3));
        }
        // v(t) stays finite and ≈ -t deep in the tail.
        assert!((v_func(-40.0) - 40.0).abs() < 1e-9);
        assert!((v_func(-20.0) - 20.05).abs() < 0.01);
    }

    #[test]
    fn prior_matches_prior_propensity() {
        let cfg = AdaptiveConfig::default();
        let m = AdaptiveModel::new(10, 4, &cfg);
        let s = m.score(&[0, 1, 2, 3], cfg.beta, 0.0);
        assert!((s.mean - 0.02).abs() < 1e-6, "{}", s.mean);
    }

    /// Learns a planted segment effect: 20% acceptance with feature 1, 2% with feature 2.
    #[test]
    fn learns_segment_propensities_online() {
        let cfg = AdaptiveConfig {
            forgetting: 0.0,
            ..Default::default()
        };
        let mut m = AdaptiveModel::new(3, 2, &cfg);
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(7);
        for _ in 0..20_000 {
            let hi = rng.random_bool(0.5);
            let x = if hi { [0, 1] } else { [0, 2] };
            let p = if hi { 0.20 } else { 0.02 };
            m.update(&x, rng.random_bool(p), &cfg);
        }
        let hi = m.score(&[0, 1], 1.0, 0.0).mean;
        let lo = m.score(&[0, 2], 1.0, 0.0).mean;
        assert!((hi - 0.20).abs() < 0.02, "high segment {hi}");
        assert!((lo - 0.02).abs() < 0.006, "low segment {lo}");
        // The posterior has narrowed: samples sit close to the mean.
        let spread = m.score(&[0, 1], 1.0, 2.0).sample - m.score(&[0, 1], 1.0, -2.0).sample;
        assert!(spread < 0.05, "spread {spread}");
        assert_eq!(m.evidence(), 20_000);
    }
}
