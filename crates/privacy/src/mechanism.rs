//! Calibration: from a privacy cost and a sensitivity to a noise distribution.
//!
//! * **Laplace** (pure ε-DP): discrete Laplace with scale `b = Δ₁ / ε`. The discrete
//!   Laplace with this scale is ε-DP for integer statistics of ℓ₁ sensitivity Δ₁ exactly as
//!   the continuous one is (the ratio of probabilities of neighbouring outputs is at most
//!   `e^(Δ₁/b)`).
//! * **Gaussian** ((ε, δ)-DP): discrete Gaussian with `σ² = Δ₂² / (2ρ)`, which is ρ-zCDP
//!   (Canonne–Kamath–Steinke 2020, Theorem 4). ρ-zCDP implies
//!   `(ρ + 2·sqrt(ρ·ln(1/δ)), δ)`-DP (Bun–Steinke 2016, Proposition 1.3), so ρ is the
//!   largest value meeting the requested ε: `ρ = (sqrt(ln(1/δ) + ε) − sqrt(ln(1/δ)))²`.
//!   Unlike the textbook `σ = Δ·sqrt(2 ln(1.25/δ))/ε`, this holds for every ε > 0.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::PrivacyError;
use crate::sample::{
    MAX_SCALE, MAX_SIGMA2, Rational, discrete_gaussian, discrete_gaussian_variance,
    discrete_laplace, discrete_laplace_variance,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mechanism {
    Laplace,
    Gaussian,
}

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Laplace => "laplace",
            Mechanism::Gaussian => "gaussian",
        }
    }
}

/// A privacy cost (or budget): ε and δ. Pure ε-DP has `delta = 0`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    pub epsilon: f64,
    pub delta: f64,
}

impl Cost {
    pub fn new(epsilon: f64, delta: f64) -> Result<Self, PrivacyError> {
        if !(epsilon.is_finite() && epsilon > 0.0) {
            return Err(PrivacyError::InvalidParameter(format!(
                "epsilon must be a positive number, got {epsilon}"
            )));
        }
        if !(delta.is_finite() && (0.0..1.0).contains(&delta)) {
            return Err(PrivacyError::InvalidParameter(format!(
                "delta must be in [0, 1), got {delta}; typical values are below 1/n, e.g. 1e-6"
            )));
        }
        Ok(Cost { epsilon, delta })
    }

    pub fn pure(epsilon: f64) -> Result<Self, PrivacyError> {
        Cost::new(epsilon, 0.0)
    }

    /// Basic composition: costs add.
    pub fn plus(self, other: Cost) -> Cost {
        Cost {
            epsilon: self.epsilon + other.epsilon,
            delta: self.delta + other.delta,
        }
    }
}

/// Integer noise calibrated for one statistic.
#[derive(Debug, Clone, Copy)]
pub enum Noise {
    Laplace { scale: Rational },
    Gaussian { sigma2: Rational },
}

impl Noise {
    /// Noise for a statistic with ℓ₁ sensitivity `l1` and ℓ₂ sensitivity `l2` (in the integer
    /// units the statistic is computed in) at the given cost.
    pub fn calibrate(
        mechanism: Mechanism,
        cost: Cost,
        l1: f64,
        l2: f64,
    ) -> Result<Self, PrivacyError> {
        match mechanism {
            Mechanism::Laplace => {
                let b = l1 / cost.epsilon;
                if !(b.is_finite() && b > 0.0 && b <= MAX_SCALE) {
                    return Err(PrivacyError::InvalidParameter(format!(
                        "the Laplace scale {b:e} (sensitivity {l1} / epsilon {}) is out of range; raise epsilon or narrow the clamping bounds",
                        cost.epsilon
                    )));
                }
                Ok(Noise::Laplace {
                    scale: Rational::ceil_of(b),
                })
            }
            Mechanism::Gaussian => {
                if cost.delta <= 0.0 {
                    return Err(PrivacyError::InvalidParameter(
                        "the Gaussian mechanism needs delta > 0 (e.g. --delta 1e-6); use the Laplace mechanism for pure epsilon-DP".into(),
                    ));
                }
                let rho = gaussian_rho(cost);
                let s2 = l2 * l2 / (2.0 * rho);
                if !(s2.is_finite() && s2 > 0.0 && s2 <= MAX_SIGMA2) {
                    return Err(PrivacyError::InvalidParameter(format!(
                        "the Gaussian variance {s2:e} is out of range; raise epsilon or delta, or narrow the clamping bounds"
                    )));
                }
                Ok(Noise::Gaussian {
                    sigma2: Rational::ceil_of(s2),
                })
            }
        }
    }

    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> i128 {
        match *self {
            Noise::Laplace { scale } => discrete_laplace(rng, scale),
            Noise::Gaussian { sigma2 } => discrete_gaussian(rng, sigma2),
        }
    }

    /// The noise's standard deviation, in the statistic's integer units.
    pub fn std_dev(&self) -> f64 {
        match *self {
            Noise::Laplace { scale } => discrete_laplace_variance(scale.to_f64()).sqrt(),
            Noise::Gaussian { sigma2 } => {
                let s2 = sigma2.to_f64();
                if s2 > 1e6 {
                    s2.sqrt()
                } else {
                    discrete_gaussian_variance(s2).sqrt()
                }
            }
        }
    }

    /// `k` such that `P(noise >= k) <= p` (a one-sided tail bound): for the discrete
    /// Laplace `P(X >= k) = q^k / (1 + q) <= e^(-k/b)`; the discrete Gaussian is
    /// σ-subgaussian (CKS 2020), so `P(X >= k) <= e^(-k²/2σ²)`.
    pub fn tail_bound(&self, p: f64) -> f64 {
        let l = (1.0 / p).ln();
        match *self {
            Noise::Laplace { scale } => (scale.to_f64() * l).ceil(),
            Noise::Gaussian { sigma2 } => (2.0 * sigma2.to_f64() * l).sqrt().ceil(),
        }
    }
}

/// ρ of the zCDP Gaussian meeting `(ε, δ)`: `(sqrt(ln(1/δ) + ε) − sqrt(ln(1/δ)))²`.
pub fn gaussian_rho(cost: Cost) -> f64 {
    let l = (1.0 / cost.delta).ln();
    let r = (l + cost.epsilon).sqrt() - l.sqrt();
    r * r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_rho_converts_back_to_the_requested_epsilon() {
        for (e, d) in [(0.1, 1e-6), (1.0, 1e-5), (5.0, 1e-9)] {
            let rho = gaussian_rho(Cost::new(e, d).unwrap());
            let back = rho + 2.0 * (rho * (1.0f64 / d).ln()).sqrt();
            assert!((back - e).abs() < 1e-9, "{e}: {back}");
        }
    }

    #[test]
    fn laplace_scale_is_sensitivity_over_epsilon() {
        let n = Noise::calibrate(Mechanism::Laplace, Cost::pure(0.5).unwrap(), 3.0, 3.0).unwrap();
        let Noise::Laplace { scale } = n else {
            panic!("not laplace")
        };
        assert!((scale.to_f64() - 6.0).abs() < 1e-9);
        assert!(
            Noise::calibrate(Mechanism::Gaussian, Cost::pure(1.0).unwrap(), 1.0, 1.0).is_err(),
            "gaussian without delta must be refused"
        );
    }

    #[test]
    fn invalid_costs_are_refused() {
        assert!(Cost::new(0.0, 0.0).is_err());
        assert!(Cost::new(-1.0, 0.0).is_err());
        assert!(Cost::new(f64::NAN, 0.0).is_err());
        assert!(Cost::new(1.0, 1.0).is_err());
        assert!(Cost::new(1.0, -1e-9).is_err());
    }
}
