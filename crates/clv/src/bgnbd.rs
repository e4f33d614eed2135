//! BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): purchases are
//! Poisson with a gamma(r, α) distributed rate while the customer is alive, and after each
//! repeat purchase the customer drops out with a beta(a, b) distributed probability.

use crate::ClvError;
use crate::data::{Aggregated, RfmRow, validate_rows};
use crate::fit::{FitOptions, FitReport, par_sum, solve};
use crate::optim::Objective;
use crate::special::{digamma, hyp2f1, ln_gamma};
use serde::{Deserialize, Serialize};

/// BG/NBD parameters. `r/alpha` is the mean purchase rate per time unit; `a/(a+b)` the mean
/// drop-out probability after a purchase.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbdParams {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

/// Per-frequency quantities shared by every row with that `x`.
struct XTerm {
    /// lnΓ(r+x) − lnΓ(r) + ln B(a, b+x) − ln B(a, b)
    g: f64,
    dr: f64,
    da: f64,
    db: f64,
    /// ln a − ln(b + x − 1), the log weight of the "dropped out after t_x" branch (x > 0).
    ln_drop: f64,
    inv_bx1: f64,
}

struct Likelihood<'a> {
    data: &'a Aggregated,
}

impl Likelihood<'_> {
    /// Log-likelihood at `p` and, when `GRAD`, its gradient in (r, α, a, b).
    fn eval<const GRAD: bool>(&self, p: &BgNbdParams) -> (f64, [f64; 4]) {
        let BgNbdParams { r, alpha, a, b } = *p;
        let d = self.data;
        let ln_alpha = alpha.ln();
        let max_x = d.xs.last().copied().unwrap_or(0.0);
        let terms = if max_x <= 100_000.0 {
            x_terms_by_recurrence::<GRAD>(&d.xs, r, a, b)
        } else {
            x_terms_by_gamma::<GRAD>(&d.xs, r, a, b)
        };
        let mut ll = 0.0;
        let mut grad = [0.0; 4];
        for (t, &w) in terms.iter().zip(&d.xw) {
            ll += w * (t.g + r * ln_alpha);
            if GRAD {
                grad[0] += w * (t.dr + ln_alpha);
                grad[1] += w * r / alpha;
                grad[2] += w * t.da;
                grad[3] += w * t.db;
            }
        }
        // ln(α+τ) and 1/(α+τ) once per distinct time τ (T or t_x).
        let lt: Vec<(f64, f64)> = d
            .times
            .iter()
            .map(|&t| ((alpha + t).ln(), 1.0 / (alpha + t)))
            .collect();
        let rows = par_sum::<5, _>(d.len(), |range| {
            let mut acc = [0.0; 5];
            for i in range {
                let x = d.x[i];
                let w = d.w[i];
                let t = &terms[d.xi[i] as usize];
                let rx = r + x;
                let (l_t, inv_t) = lt[d.ti[i] as usize];
                let a3 = -rx * l_t;
                if x == 0.0 {
                    acc[0] += w * a3;
                    if GRAD {
                        acc[1] -= w * l_t;
                        acc[2] -= w * rx * inv_t;
                    }
                    continue;
                }
                let (l_tx, inv_tx) = lt[d.txi[i] as usize];
                let a4 = t.ln_drop - rx * l_tx;
                // h = ln(e^a3 + e^a4); w4 = e^a4 / (e^a3 + e^a4).
                let (h, w4) = if a3 >= a4 {
                    let e = (a4 - a3).exp();
                    (a3 + e.ln_1p(), e / (1.0 + e))
                } else {
                    let e = (a3 - a4).exp();
                    (a4 + e.ln_1p(), 1.0 / (1.0 + e))
                };
                acc[0] += w * h;
                if GRAD {
                    let w3 = 1.0 - w4;
                    acc[1] -= w * (w3 * l_t + w4 * l_tx);
                    acc[2] -= w * rx * (w3 * inv_t + w4 * inv_tx);
                    acc[3] += w * w4;
                    acc[4] -= w * w4 * t.inv_bx1;
                }
            }
            acc
        });
        ll += rows[0];
        if GRAD {
            grad[0] += rows[1];
            grad[1] += rows[2];
            grad[2] += rows[3] / a;
            grad[3] += rows[4];
        }
        (ll, grad)
    }
}

/// Per-frequency terms for whole-number `x` by the recurrences
/// `lnΓ(y+x) − lnΓ(y) = Σ_{k<x} ln(y+k)` and `ψ(y+x) − ψ(y) = Σ_{k<x} 1/(y+k)`, walked once up
/// the sorted distinct frequencies: a few logs per unit of the largest `x` instead of a dozen
/// gamma-function calls per distinct `x`.
fn x_terms_by_recurrence<const GRAD: bool>(xs: &[f64], r: f64, a: f64, b: f64) -> Vec<XTerm> {
    let ab = a + b;
    let ln_a = a.ln();
    let (mut k, mut ln_r, mut ln_b, mut ln_ab) = (0usize, 0.0, 0.0, 0.0);
    let (mut inv_r, mut inv_b, mut inv_ab) = (0.0, 0.0, 0.0);
    xs.iter()
        .map(|&x| {
            let target = x as usize;
            while k < target {
                let kf = k as f64;
                ln_r += (r + kf).ln();
                ln_b += (b + kf).ln();
                ln_ab += (ab + kf).ln();
                if GRAD {
                    inv_r += 1.0 / (r + kf);
                    inv_b += 1.0 / (b + kf);
                    inv_ab += 1.0 / (ab + kf);
                }
                k += 1;
            }
            let (ln_drop, inv_bx1) = if x > 0.0 {
                (ln_a - (b + x - 1.0).ln(), 1.0 / (b + x - 1.0))
            } else {
                (f64::NEG_INFINITY, 0.0)
            };
            XTerm {
                g: ln_r + ln_b - ln_ab,
                dr: inv_r,
                da: -inv_ab,
                db: inv_b - inv_ab,
                ln_drop,
                inv_bx1,
            }
        })
        .collect()
}

/// The same terms from lnΓ and ψ directly, for very large frequencies.
fn x_terms_by_gamma<const GRAD: bool>(xs: &[f64], r: f64, a: f64, b: f64) -> Vec<XTerm> {
    let (lg_r, lg_ab, lg_b) = (ln_gamma(r), ln_gamma(a + b), ln_gamma(b));
    let (dg_r, dg_ab, dg_b) = if GRAD {
        (digamma(r), digamma(a + b), digamma(b))
    } else {
        (0.0, 0.0, 0.0)
    };
    xs.iter()
        .map(|&x| {
            let g = if x == 0.0 {
                0.0
            } else {
                ln_gamma(r + x) - lg_r + lg_ab + ln_gamma(b + x) - lg_b - ln_gamma(a + b + x)
            };
            let (dr, da, db) = if GRAD && x > 0.0 {
                let dabx = digamma(a + b + x);
                (
                    digamma(r + x) - dg_r,
                    dg_ab - dabx,
                    dg_ab + digamma(b + x) - dg_b - dabx,
                )
            } else {
                (0.0, 0.0, 0.0)
            };
            let (ln_drop, inv_bx1) = if x > 0.0 {
                (a.ln() - (b + x - 1.0).ln(), 1.0 / (b + x - 1.0))
            } else {
                (f64::NEG_INFINITY, 0.0)
            };
            XTerm {
                g,
                dr,
                da,
                db,
                ln_drop,
                inv_bx1,
            }
        })
        .collect()
}

fn from_log(theta: &[f64]) -> BgNbdParams {
    BgNbdParams {
        r: theta[0].exp(),
        alpha: theta[1].exp(),
        a: theta[2].exp(),
        b: theta[3].exp(),
    }
}

impl Objective for Likelihood<'_> {
    fn dim(&self) -> usize {
        4
    }
    fn value(&self, theta: &[f64]) -> f64 {
        let p = from_log(theta);
        let v = -self.eval::<false>(&p).0;
        if v.is_nan() { f64::INFINITY } else { v }
    }
    fn value_grad(&self, theta: &[f64], g: &mut [f64]) -> f64 {
        let p = from_log(theta);
        let (ll, gp) = self.eval::<true>(&p);
        let v = [p.r, p.alpha, p.a, p.b];
        for k in 0..4 {
            g[k] = -gp[k] * v[k];
        }
        if ll.is_nan() { f64::INFINITY } else { -ll }
    }
    fn analytic_gradient(&self) -> bool {
        true
    }
}

impl BgNbdParams {
    /// Fits by maximum likelihood over `rows` (validated first).
    pub fn fit(rows: &[RfmRow], opts: &FitOptions) -> Result<FitReport<Self>, ClvError> {
        validate_rows(rows)?;
        let data = Aggregated::new(rows);
        let total_x: f64 = rows.iter().map(|r| r.x).sum();
        if total_x == 0.0 {
            return Err(ClvError::Empty(
                "no customer has a repeat purchase, so the purchase rate cannot be estimated"
                    .into(),
            ));
        }
        let rate = total_x / rows.iter().map(|r| r.t).sum::<f64>();
        // Starts spread over plausible shapes; α follows the data's time scale via r/α ≈ rate.
        let starts: Vec<Vec<f64>> = [
            (1.0, 1.0, 1.0, 1.0),
            (0.5, 0.5, 0.5, 3.0),
            (2.0, 2.0, 2.0, 8.0),
        ]
        .iter()
        .map(|&(r, k, a, b)| vec![f64::ln(r), f64::ln(k / rate), f64::ln(a), f64::ln(b)])
        .collect();
        let sub =
            (data.len() > opts.explore_rows).then(|| data.subsample(opts.explore_rows, opts.seed));
        let full = Likelihood { data: &data };
        let explore = sub.as_ref().map(|d| Likelihood { data: d });
        let share = sub
            .as_ref()
            .map(|d| d.w.iter().sum::<f64>() / rows.len() as f64);
        let sol = solve("BG/NBD", &full, explore.as_ref().zip(share), &starts, opts)?;
        let params = from_log(&sol.min.theta);
        Ok(FitReport::from_solution(
            sol,
            params,
            |p, s| BgNbdParams {
                r: p.r * s[0],
                alpha: p.alpha * s[1],
                a: p.a * s[2],
                b: p.b * s[3],
            },
            rows.len(),
            data.len(),
        ))
    }

    /// Total log-likelihood of `rows` at these parameters.
    pub fn log_likelihood(&self, rows: &[RfmRow]) -> f64 {
        let data = Aggregated::new(rows);
        Likelihood { data: &data }.eval::<false>(self).0
    }

    /// Expected purchases in `(0, t]` for a customer who has just made a first purchase.
    pub fn expected_purchases(&self, t: f64) -> f64 {
        let BgNbdParams { r, alpha, a, b } = *self;
        let z = t / (alpha + t);
        (a + b - 1.0) / (a - 1.0)
            * (1.0 - (alpha / (alpha + t)).powf(r) * hyp2f1(r, b, a + b - 1.0, z))
    }

    /// Expected purchases in the next `t` time units given the customer's history
    /// (FHL 2005 eq. 10; lifetimes' `conditional_expected_number_of_purchases_up_to_time`).
    pub fn conditional_expected_purchases(&self, t: f64, row: &RfmRow) -> f64 {
        let BgNbdParams { r, alpha, a, b } = *self;
        let RfmRow { x, t_x, t: big_t } = *row;
        if t <= 0.0 {
            return 0.0;
        }
        let z = t / (alpha + big_t + t);
        let f = hyp2f1(r + x, b + x, a + b + x - 1.0, z);
        let first = (a + b + x - 1.0) / (a - 1.0);
        let second = 1.0 - (f.ln() + (r + x) * ((alpha + big_t) / (alpha + big_t + t)).ln()).exp();
        let denom = if x > 0.0 {
            1.0 + a / (b + x - 1.0) * ((alpha + big_t) / (alpha + t_x)).powf(r + x)
        } else {
            1.0
        };
        first * second / denom
    }

    /// Probability that the customer is still alive at `T`.
    pub fn probability_alive(&self, row: &RfmRow) -> f64 {
        let BgNbdParams { r, alpha, a, b } = *self;
        if row.x == 0.0 {
            return 1.0;
        }
        let log_div =
            (r + row.x) * ((alpha + row.t) / (alpha + row.t_x)).ln() + (a / (b + row.x - 1.0)).ln();
        1.0 / (1.0 + log_div.exp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ways of computing the per-frequency terms agree.
    #[test]
    fn recurrence_matches_gamma_functions() {
        let xs = [0.0, 1.0, 2.0, 7.0, 30.0, 31.0, 250.0];
        let rec = x_terms_by_recurrence::<true>(&xs, 0.243, 0.793, 2.426);
        let gam = x_terms_by_gamma::<true>(&xs, 0.243, 0.793, 2.426);
        for (p, q) in rec.iter().zip(&gam) {
            for (u, v) in [
                (p.g, q.g),
                (p.dr, q.dr),
                (p.da, q.da),
                (p.db, q.db),
                (p.inv_bx1, q.inv_bx1),
            ] {
                assert!((u - v).abs() < 1e-10 * (1.0 + v.abs()), "{u} vs {v}");
            }
        }
    }

    /// The gradient must match central differences of the value.
    #[test]
    fn analytic_gradient_matches_numeric() {
        let rows = vec![
            RfmRow::new(0.0, 0.0, 38.0),
            RfmRow::new(2.0, 30.4, 38.9),
            RfmRow::new(1.0, 1.7, 38.9),
            RfmRow::new(7.0, 29.0, 31.0),
            RfmRow::new(1.0, 20.0, 33.0),
        ];
        let data = Aggregated::new(&rows);
        let lik = Likelihood { data: &data };
        let theta = [0.3f64.ln(), 4.0f64.ln(), 0.8f64.ln(), 2.5f64.ln()];
        let mut g = [0.0; 4];
        lik.value_grad(&theta, &mut g);
        let mut num = [0.0; 4];
        crate::optim::numeric_gradient(&lik, &theta, &mut num);
        for k in 0..4 {
            assert!(
                (g[k] - num[k]).abs() < 1e-6 * (1.0 + num[k].abs()),
                "{k}: {g:?} vs {num:?}"
            );
        }
    }

    /// One customer, hand-computed from FHL 2005 eq. 6.
    #[test]
    fn single_customer_likelihood_by_hand() {
        let p = BgNbdParams {
            r: 0.5,
            alpha: 2.0,
            a: 1.5,
            b: 3.0,
        };
        let (x, tx, t): (f64, f64, f64) = (2.0, 5.0, 10.0);
        let beta = |a: f64, b: f64| (ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)).exp();
        let common = (ln_gamma(p.r + x) - ln_gamma(p.r)).exp() * p.alpha.powf(p.r);
        let l = beta(p.a, p.b + x) / beta(p.a, p.b) * common / (p.alpha + t).powf(p.r + x)
            + beta(p.a + 1.0, p.b + x - 1.0) / beta(p.a, p.b) * common
                / (p.alpha + tx).powf(p.r + x);
        let got = p.log_likelihood(&[RfmRow::new(x, tx, t)]);
        assert!((got - l.ln()).abs() < 1e-12, "{got} vs {}", l.ln());
    }

    #[test]
    fn probability_alive_bounds() {
        let p = BgNbdParams {
            r: 0.243,
            alpha: 4.414,
            a: 0.793,
            b: 2.426,
        };
        assert_eq!(p.probability_alive(&RfmRow::new(0.0, 0.0, 30.0)), 1.0);
        // Buying recently means more likely alive than having gone quiet long ago.
        let recent = p.probability_alive(&RfmRow::new(3.0, 37.0, 38.0));
        let quiet = p.probability_alive(&RfmRow::new(3.0, 5.0, 38.0));
        assert!(recent > quiet && recent < 1.0 && quiet > 0.0);
        // At T = t_x nobody can have died after the last purchase yet... except via the
        // drop-out at that purchase: P = 1 / (1 + a/(b+x-1)).
        let at_end = p.probability_alive(&RfmRow::new(3.0, 38.0, 38.0));
        assert!((at_end - 1.0 / (1.0 + p.a / (p.b + 2.0))).abs() < 1e-12);
    }
}
