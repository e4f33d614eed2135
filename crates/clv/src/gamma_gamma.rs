//! Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV"; Colombo & Jiang 1999):
//! each transaction's value is gamma(p, ν) around a customer-specific ν ~ gamma(q, γ), so the
//! mean of a customer's `x` repeat transactions has a closed-form marginal likelihood and a
//! posterior mean that shrinks the observed average towards the population mean.

use crate::ClvError;
use crate::fit::{FitOptions, FitReport, par_sum, solve};
use crate::optim::Objective;
use crate::special::{digamma, ln_gamma};
use serde::{Deserialize, Serialize};

/// Gamma-Gamma parameters (lifetimes calls γ `v`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GammaGammaParams {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
}

/// Extra diagnostics of a Gamma-Gamma fit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GammaGammaFit {
    #[serde(flatten)]
    pub report: FitReport<GammaGammaParams>,
    /// Customers left out because `x == 0` (no repeat purchase, so no spend observation).
    pub excluded_no_repeat: usize,
    /// Pearson correlation of `x` and `zbar` among the customers used. The model assumes spend
    /// is independent of frequency; a large |correlation| (say > 0.3) makes it suspect.
    pub frequency_spend_correlation: f64,
}

struct Data {
    x: Vec<f64>,
    z: Vec<f64>,
    xs: Vec<f64>,
    xw: Vec<f64>,
    /// Σ x (ln zbar + ln x) and Σ ln zbar: parameter-free parts of the likelihood.
    s1: f64,
    sum_ln_z: f64,
}

impl Data {
    fn eval<const GRAD: bool>(&self, par: &GammaGammaParams) -> (f64, [f64; 3]) {
        let GammaGammaParams { p, q, gamma } = *par;
        let n = self.x.len() as f64;
        let mut ll = -n * ln_gamma(q) + n * q * gamma.ln() + p * self.s1 - self.sum_ln_z;
        let mut g = [0.0; 3];
        if GRAD {
            g[0] = self.s1;
            g[1] = -n * digamma(q) + n * gamma.ln();
            g[2] = n * q / gamma;
        }
        for (&x, &w) in self.xs.iter().zip(&self.xw) {
            ll += w * (ln_gamma(p * x + q) - ln_gamma(p * x));
            if GRAD {
                let dpq = digamma(p * x + q);
                g[0] += w * x * (dpq - digamma(p * x));
                g[1] += w * dpq;
            }
        }
        let rows = par_sum::<4, _>(self.x.len(), |range| {
            let mut acc = [0.0; 4];
            for i in range {
                let x = self.x[i];
                let den = gamma + x * self.z[i];
                let l = den.ln();
                acc[0] -= (p * x + q) * l;
                if GRAD {
                    acc[1] -= x * l;
                    acc[2] -= l;
                    acc[3] -= (p * x + q) / den;
                }
            }
            acc
        });
        ll += rows[0];
        if GRAD {
            g[0] += rows[1];
            g[1] += rows[2];
            g[2] += rows[3];
        }
        (ll, g)
    }
}

fn from_log(theta: &[f64]) -> GammaGammaParams {
    GammaGammaParams {
        p: theta[0].exp(),
        q: theta[1].exp(),
        gamma: theta[2].exp(),
    }
}

impl Objective for Data {
    fn dim(&self) -> usize {
        3
    }
    fn value(&self, theta: &[f64]) -> f64 {
        let v = -self.eval::<false>(&from_log(theta)).0;
        if v.is_nan() { f64::INFINITY } else { v }
    }
    fn value_grad(&self, theta: &[f64], g: &mut [f64]) -> f64 {
        let p = from_log(theta);
        let (ll, gp) = self.eval::<true>(&p);
        let v = [p.p, p.q, p.gamma];
        for k in 0..3 {
            g[k] = -gp[k] * v[k];
        }
        if ll.is_nan() { f64::INFINITY } else { -ll }
    }
    fn analytic_gradient(&self) -> bool {
        true
    }
}

fn build(x: &[f64], zbar: &[f64]) -> Result<(Data, usize), ClvError> {
    if x.len() != zbar.len() {
        return Err(ClvError::Option {
            option: "zbar",
            message: format!("{} frequencies but {} spend values", x.len(), zbar.len()),
        });
    }
    let mut xs_map: std::collections::BTreeMap<u64, f64> = Default::default();
    let (mut dx, mut dz) = (Vec::new(), Vec::new());
    let mut excluded = 0;
    let (mut s1, mut sum_ln_z) = (0.0, 0.0);
    for (i, (&xi, &zi)) in x.iter().zip(zbar).enumerate() {
        if !(xi.is_finite() && xi >= 0.0 && xi.fract() == 0.0) {
            return Err(ClvError::InvalidRow {
                row: i + 1,
                message: format!("x = {xi} must be a whole number >= 0"),
            });
        }
        if xi == 0.0 {
            excluded += 1;
            continue;
        }
        if !(zi.is_finite() && zi > 0.0) {
            return Err(ClvError::InvalidRow {
                row: i + 1,
                message: format!(
                    "zbar = {zi} with x = {xi}: Gamma-Gamma needs a positive mean spend; \
                     net out refunds or drop the customer"
                ),
            });
        }
        dx.push(xi);
        dz.push(zi);
        s1 += xi * (zi.ln() + xi.ln());
        sum_ln_z += zi.ln();
        *xs_map.entry(xi.to_bits()).or_default() += 1.0;
    }
    if dx.is_empty() {
        return Err(ClvError::Empty(
            "no customer has a repeat purchase with a spend value".into(),
        ));
    }
    let (xs, xw) = xs_map
        .into_iter()
        .map(|(k, w)| (f64::from_bits(k), w))
        .unzip();
    Ok((
        Data {
            x: dx,
            z: dz,
            xs,
            xw,
            s1,
            sum_ln_z,
        },
        excluded,
    ))
}

impl GammaGammaParams {
    /// Fits on customers with `x > 0` (others are counted and skipped), like lifetimes.
    pub fn fit(x: &[f64], zbar: &[f64], opts: &FitOptions) -> Result<GammaGammaFit, ClvError> {
        let (data, excluded) = build(x, zbar)?;
        let n = data.x.len() as f64;
        let mean_z = data.z.iter().sum::<f64>() / n;
        // Starts match the population mean pγ/(q−1) to the observed mean spend.
        let starts: Vec<Vec<f64>> = [(1.0, 2.0), (4.0, 3.0), (15.0, 10.0)]
            .iter()
            .map(|&(p, q)| vec![f64::ln(p), f64::ln(q), f64::ln(mean_z * (q - 1.0) / p)])
            .collect();
        let sol = solve("Gamma-Gamma", &data, None, &starts, opts)?;
        let params = from_log(&sol.min.theta);
        let corr = {
            let mx = data.x.iter().sum::<f64>() / n;
            let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
            for (a, b) in data.x.iter().zip(&data.z) {
                sxy += (a - mx) * (b - mean_z);
                sxx += (a - mx) * (a - mx);
                syy += (b - mean_z) * (b - mean_z);
            }
            sxy / (sxx * syy).sqrt()
        };
        Ok(GammaGammaFit {
            report: FitReport::from_solution(
                sol,
                params,
                |p, s| GammaGammaParams {
                    p: p.p * s[0],
                    q: p.q * s[1],
                    gamma: p.gamma * s[2],
                },
                data.x.len(),
                data.x.len(),
            ),
            excluded_no_repeat: excluded,
            frequency_spend_correlation: corr,
        })
    }

    /// Log-likelihood of the customers with `x > 0`.
    pub fn log_likelihood(&self, x: &[f64], zbar: &[f64]) -> Result<f64, ClvError> {
        Ok(build(x, zbar)?.0.eval::<false>(self).0)
    }

    /// Population mean spend per transaction, `pγ/(q−1)`; undefined for `q <= 1`.
    pub fn population_mean_spend(&self) -> Result<f64, ClvError> {
        if self.q <= 1.0 {
            return Err(ClvError::Undefined(format!(
                "Gamma-Gamma with q = {} <= 1 has no finite mean spend",
                self.q
            )));
        }
        Ok(self.p * self.gamma / (self.q - 1.0))
    }

    /// Expected spend per transaction for a customer with `x` repeat purchases averaging
    /// `zbar`: a weighted average of the population mean and `zbar` (lifetimes'
    /// `conditional_expected_average_profit`). With `x == 0` it is the population mean.
    pub fn conditional_expected_spend(&self, x: f64, zbar: f64) -> Result<f64, ClvError> {
        let pop = self.population_mean_spend()?;
        let w = self.p * x / (self.p * x + self.q - 1.0);
        Ok((1.0 - w) * pop + w * zbar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_numeric() {
        let (data, _) =
            build(&[1.0, 2.0, 5.0, 2.0, 0.0], &[10.0, 35.5, 20.0, 14.0, 0.0]).expect("data");
        let theta = [1.5f64.ln(), 3.0f64.ln(), 12.0f64.ln()];
        let mut g = [0.0; 3];
        data.value_grad(&theta, &mut g);
        let mut num = [0.0; 3];
        crate::optim::numeric_gradient(&data, &theta, &mut num);
        for k in 0..3 {
            assert!(
                (g[k] - num[k]).abs() < 1e-6 * (1.0 + num[k].abs()),
                "{g:?} {num:?}"
            );
        }
    }

    /// One customer by hand: f(zbar) = Γ(px+q)/(Γ(px)Γ(q)) γ^q zbar^{px−1} x^{px} / (γ+x zbar)^{px+q}.
    #[test]
    fn single_customer_density_by_hand() {
        let par = GammaGammaParams {
            p: 2.0,
            q: 3.0,
            gamma: 10.0,
        };
        let (x, z): (f64, f64) = (3.0, 20.0);
        let (px, q, g) = (par.p * x, par.q, par.gamma);
        // Γ(9)/(Γ(6)Γ(3)) = 40320/(120·2) = 168
        let f = 168.0 * g.powf(q) * z.powf(px - 1.0) * x.powf(px) / (g + x * z).powf(px + q);
        let ll = par.log_likelihood(&[x], &[z]).expect("ll");
        assert!((ll - f.ln()).abs() < 1e-12, "{ll} vs {}", f.ln());
    }

    #[test]
    fn shrinkage_and_errors() {
        let par = GammaGammaParams {
            p: 6.25,
            q: 3.74,
            gamma: 15.44,
        };
        let pop = par.population_mean_spend().expect("q > 1");
        assert!((pop - 6.25 * 15.44 / 2.74).abs() < 1e-12);
        assert_eq!(par.conditional_expected_spend(0.0, 0.0).expect("ok"), pop);
        // More purchases: closer to the customer's own average.
        let few = par.conditional_expected_spend(1.0, 100.0).expect("ok");
        let many = par.conditional_expected_spend(20.0, 100.0).expect("ok");
        assert!(pop < few && few < many && many < 100.0);
        let bad = GammaGammaParams { q: 0.9, ..par };
        assert!(bad.population_mean_spend().is_err());
        let e = GammaGammaParams::fit(&[2.0], &[-5.0], &FitOptions::default()).unwrap_err();
        assert!(e.to_string().contains("positive mean spend"), "{e}");
    }
}
