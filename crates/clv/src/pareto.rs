//! Pareto/NBD (Schmittlein, Morrison & Colombo 1987), in the formulation of Fader, Hardie &
//! Lee's note "A Note on Deriving the Pareto/NBD Model and Related Expressions" (2005), as
//! lifetimes and BTYD implement it: Poisson purchases at a gamma(r, α) rate, an exponential
//! lifetime with a gamma(s, β) rate.
//!
//! The likelihood has the term
//! `A₀ = ∫_{t_x}^{T} (α+τ)^{-(r+x)} (β+τ)^{-(s+1)} dτ · (r+s+x)`, which is a difference of
//! two Gauss hypergeometric values `2F1(r+s+x, b; r+s+x+1; z)`. Following FHL, the larger of
//! α and β is factored out so that `0 <= z < 1`: with α ≥ β, `b = s+1` and
//! `z = (α−β)/(α+τ)`; with α < β, `b = r+x` and `z = (β−α)/(β+τ)`. Both values are computed in
//! logs and subtracted with `log_sub_exp`, so nothing overflows for large `x`.

use crate::ClvError;
use crate::data::{Aggregated, RfmRow, validate_rows};
use crate::fit::{FitOptions, FitReport, par_sum, solve};
use crate::optim::Objective;
use crate::special::{
    digamma, ln_gamma, ln_hyp2f1_a1_grad, ln_hyp2f1_positive, log_add_exp, log_sub_exp,
};
use serde::{Deserialize, Serialize};

/// Pareto/NBD parameters: purchase rate ~ gamma(r, α), drop-out rate ~ gamma(s, β).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ParetoNbdParams {
    pub r: f64,
    pub alpha: f64,
    pub s: f64,
    pub beta: f64,
}

impl ParetoNbdParams {
    /// `ln ∫_{t_x}^{T} (α+τ)^{-(r+x)} (β+τ)^{-(s+1)} dτ` (−∞ when `t_x == T`).
    fn ln_integral(&self, x: f64, t_x: f64, t: f64) -> f64 {
        let ParetoNbdParams { r, alpha, s, beta } = *self;
        let a = r + s + x;
        let (m, d, b) = if alpha >= beta {
            (alpha, alpha - beta, s + 1.0)
        } else {
            (beta, beta - alpha, r + x)
        };
        // F(τ) = (m+τ)^{-a} / a · 2F1(a, b; a+1; d/(m+τ)); the integral is F(t_x) − F(T).
        let ln_f = |tau: f64| {
            let q = m + tau;
            -a * q.ln() - a.ln() + ln_hyp2f1_positive(a, b, a + 1.0, d / q)
        };
        log_sub_exp(ln_f(t_x), ln_f(t))
    }

    /// `ln F(τ)` (see [`Self::ln_integral`]) and its gradient in (r, α, s, β).
    fn ln_f_grad(&self, x: f64, tau: f64) -> (f64, [f64; 4]) {
        let ParetoNbdParams { r, alpha, s, beta } = *self;
        let a = r + s + x;
        let alpha_larger = alpha >= beta;
        let (m, d, b) = if alpha_larger {
            (alpha, alpha - beta, s + 1.0)
        } else {
            (beta, beta - alpha, r + x)
        };
        let q = m + tau;
        let (ln_s, sa, sb, sz) = ln_hyp2f1_a1_grad(a, b, d / q);
        let ln_q = q.ln();
        let ln_f = -a * ln_q - a.ln() + ln_s;
        // Partial derivatives of ln F in (a, b, m, d).
        let da = -ln_q - 1.0 / a + sa;
        let db = sb;
        let dm = -a / q - sz * d / (q * q);
        let dd = sz / q;
        let g = if alpha_larger {
            // a = r+s+x, b = s+1, m = α, d = α−β
            [da, dm + dd, da + db, -dd]
        } else {
            // a = r+s+x, b = r+x, m = β, d = β−α
            [da + db, -dd, da, dm + dd]
        };
        (ln_f, g)
    }

    /// [`Self::ln_row`] and its gradient.
    fn ln_row_grad(&self, x: f64, t_x: f64, t: f64) -> (f64, [f64; 4]) {
        let ParetoNbdParams { r, alpha, s, beta } = *self;
        let (lat, lbt) = ((alpha + t).ln(), (beta + t).ln());
        let alive = -(r + x) * lat - s * lbt;
        let g_alive = [-lat, -(r + x) / (alpha + t), -lbt, -s / (beta + t)];
        let (l1, g1) = self.ln_f_grad(x, t_x);
        let (l2, g2) = self.ln_f_grad(x, t);
        let died = s.ln() + log_sub_exp(l1, l2);
        let h = log_add_exp(alive, died);
        let mut g = [alpha.ln(), r / alpha, beta.ln(), s / beta];
        let w = if died == f64::NEG_INFINITY {
            0.0
        } else {
            (died - h).exp()
        };
        for k in 0..4 {
            g[k] += (1.0 - w) * g_alive[k];
        }
        if w > 0.0 {
            // ∂ln I = (g1 − e^{l2−l1} g2) / (1 − e^{l2−l1})
            let e = (l2 - l1).exp();
            let inv = 1.0 / -(l2 - l1).exp_m1();
            for k in 0..4 {
                g[k] += w * (g1[k] - e * g2[k]) * inv;
            }
            g[2] += w / s;
        }
        (r * alpha.ln() + s * beta.ln() + h, g)
    }

    fn ll_grad(&self, d: &Aggregated) -> (f64, [f64; 4]) {
        let (lg_r, dg_r) = (ln_gamma(self.r), digamma(self.r));
        let mut ll = 0.0;
        let mut g = [0.0; 4];
        for (&x, &w) in d.xs.iter().zip(&d.xw) {
            ll += w * (ln_gamma(self.r + x) - lg_r);
            g[0] += w * (digamma(self.r + x) - dg_r);
        }
        let rows = par_sum::<5, _>(d.len(), |range| {
            let mut acc = [0.0; 5];
            for i in range {
                let (v, gr) = self.ln_row_grad(d.x[i], d.t_x[i], d.t[i]);
                acc[0] += d.w[i] * v;
                for k in 0..4 {
                    acc[k + 1] += d.w[i] * gr[k];
                }
            }
            acc
        });
        ll += rows[0];
        for k in 0..4 {
            g[k] += rows[k + 1];
        }
        (ll, g)
    }

    /// Log-likelihood of one customer without the `lnΓ(r+x) − lnΓ(r)` term.
    fn ln_row(&self, x: f64, t_x: f64, t: f64) -> f64 {
        let ParetoNbdParams { r, alpha, s, beta } = *self;
        let alive = -(r + x) * (alpha + t).ln() - s * (beta + t).ln();
        let died = s.ln() + self.ln_integral(x, t_x, t);
        r * alpha.ln() + s * beta.ln() + log_add_exp(alive, died)
    }

    fn ll(&self, d: &Aggregated) -> f64 {
        let lg_r = ln_gamma(self.r);
        let mut ll: f64 =
            d.xs.iter()
                .zip(&d.xw)
                .map(|(&x, &w)| w * (ln_gamma(self.r + x) - lg_r))
                .sum();
        let [rows] = par_sum::<1, _>(d.len(), |range| {
            let mut acc = 0.0;
            for i in range {
                acc += d.w[i] * self.ln_row(d.x[i], d.t_x[i], d.t[i]);
            }
            [acc]
        });
        ll += rows;
        ll
    }

    /// Fits by maximum likelihood, with gradients from the 2F1 series' own derivatives.
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
        let mean_t = rows.iter().map(|r| r.t).sum::<f64>() / rows.len() as f64;
        let rate = total_x / (mean_t * rows.len() as f64);
        let starts: Vec<Vec<f64>> = [
            (1.0, 1.0, 1.0, 1.0),
            (0.5, 0.5, 0.5, 0.5),
            (2.0, 2.0, 1.0, 2.0),
        ]
        .iter()
        .map(|&(r, k, s, m)| {
            vec![
                f64::ln(r),
                f64::ln(k / rate),
                f64::ln(s),
                f64::ln(m * mean_t),
            ]
        })
        .collect();
        let sub =
            (data.len() > opts.explore_rows).then(|| data.subsample(opts.explore_rows, opts.seed));
        let full = Likelihood { data: &data };
        let explore = sub.as_ref().map(|d| Likelihood { data: d });
        let share = sub
            .as_ref()
            .map(|d| d.w.iter().sum::<f64>() / rows.len() as f64);
        let sol = solve(
            "Pareto/NBD",
            &full,
            explore.as_ref().zip(share),
            &starts,
            opts,
        )?;
        let params = from_log(&sol.min.theta);
        Ok(FitReport::from_solution(
            sol,
            params,
            |p, s| ParetoNbdParams {
                r: p.r * s[0],
                alpha: p.alpha * s[1],
                s: p.s * s[2],
                beta: p.beta * s[3],
            },
            rows.len(),
            data.len(),
        ))
    }

    /// Total log-likelihood of `rows`.
    pub fn log_likelihood(&self, rows: &[RfmRow]) -> f64 {
        self.ll(&Aggregated::new(rows))
    }

    /// Probability that the customer is alive at `T`.
    pub fn probability_alive(&self, row: &RfmRow) -> f64 {
        let ParetoNbdParams { r, alpha, s, beta } = *self;
        let RfmRow { x, t_x, t } = *row;
        let ln_ratio =
            s.ln() + self.ln_integral(x, t_x, t) + (r + x) * (alpha + t).ln() + s * (beta + t).ln();
        1.0 / (1.0 + ln_ratio.exp())
    }

    /// Expected purchases in the next `t` time units given the history (lifetimes'
    /// `conditional_expected_number_of_purchases_up_to_time`).
    pub fn conditional_expected_purchases(&self, t: f64, row: &RfmRow) -> f64 {
        let ParetoNbdParams { r, alpha, s, beta } = *self;
        let RfmRow {
            x,
            t_x: _,
            t: big_t,
        } = *row;
        if t <= 0.0 {
            return 0.0;
        }
        // E[purchases | alive] = (r+x)/(α+T) · (β+T)/(s−1) · [1 − ((β+T)/(β+T+t))^{s−1}],
        // times P(alive); (1 − e^{(s−1)L})/(s−1) is evaluated with expm1 so s → 1 is exact.
        let l = ((beta + big_t) / (beta + big_t + t)).ln();
        let k = if (s - 1.0).abs() < 1e-12 {
            -l
        } else {
            -((s - 1.0) * l).exp_m1() / (s - 1.0)
        };
        (r + x) / (alpha + big_t) * (beta + big_t) * k * self.probability_alive(row)
    }

    /// Expected purchases in `(0, t]` for a new customer.
    pub fn expected_purchases(&self, t: f64) -> f64 {
        let ParetoNbdParams { r, alpha, s, beta } = *self;
        if (s - 1.0).abs() < 1e-12 {
            return r * beta / alpha * (1.0 + t / beta).ln();
        }
        r * beta / (alpha * (s - 1.0)) * (1.0 - (beta / (beta + t)).powf(s - 1.0))
    }
}

fn from_log(theta: &[f64]) -> ParetoNbdParams {
    ParetoNbdParams {
        r: theta[0].exp(),
        alpha: theta[1].exp(),
        s: theta[2].exp(),
        beta: theta[3].exp(),
    }
}

struct Likelihood<'a> {
    data: &'a Aggregated,
}

impl Objective for Likelihood<'_> {
    fn dim(&self) -> usize {
        4
    }
    fn value(&self, theta: &[f64]) -> f64 {
        let v = -from_log(theta).ll(self.data);
        if v.is_nan() { f64::INFINITY } else { v }
    }
    fn value_grad(&self, theta: &[f64], g: &mut [f64]) -> f64 {
        let p = from_log(theta);
        let (ll, gp) = p.ll_grad(self.data);
        let v = [p.r, p.alpha, p.s, p.beta];
        for k in 0..4 {
            g[k] = -gp[k] * v[k];
        }
        if ll.is_nan() { f64::INFINITY } else { -ll }
    }
    fn analytic_gradient(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The closed form must equal direct numerical integration of the likelihood's integral,
    /// on both sides of α = β.
    #[test]
    fn integral_matches_quadrature() {
        for p in [
            ParetoNbdParams {
                r: 0.55,
                alpha: 10.6,
                s: 0.61,
                beta: 11.7,
            },
            ParetoNbdParams {
                r: 0.55,
                alpha: 11.7,
                s: 0.61,
                beta: 10.6,
            },
            ParetoNbdParams {
                r: 2.0,
                alpha: 0.3,
                s: 0.4,
                beta: 30.0,
            },
            ParetoNbdParams {
                r: 1.0,
                alpha: 5.0,
                s: 1.0,
                beta: 5.0,
            },
        ] {
            for &(x, tx, t) in &[(0.0, 0.0, 38.0), (3.0, 12.5, 38.0), (20.0, 30.0, 39.0)] {
                let f =
                    |tau: f64| (p.alpha + tau).powf(-(p.r + x)) * (p.beta + tau).powf(-(p.s + 1.0));
                // Composite Simpson with 20,000 panels.
                let n = 20_000;
                let h = (t - tx) / n as f64;
                let mut acc = f(tx) + f(t);
                for i in 1..n {
                    acc += f(tx + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
                }
                let want = (acc * h / 3.0).ln();
                let got = p.ln_integral(x, tx, t);
                assert!((got - want).abs() < 1e-9, "{p:?} x={x}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn analytic_gradient_matches_numeric() {
        let rows = vec![
            RfmRow::new(0.0, 0.0, 38.0),
            RfmRow::new(2.0, 30.4, 38.9),
            RfmRow::new(1.0, 1.7, 38.9),
            RfmRow::new(7.0, 29.0, 31.0),
            RfmRow::new(3.0, 33.0, 33.0),
        ];
        let data = Aggregated::new(&rows);
        let lik = Likelihood { data: &data };
        // Both orderings of α and β, and equality.
        for (a, b) in [(10.5, 11.6), (11.6, 10.5), (4.0, 4.0), (0.5, 30.0)] {
            let theta = [0.55f64.ln(), f64::ln(a), 0.6f64.ln(), f64::ln(b)];
            let mut g = [0.0; 4];
            let v = lik.value_grad(&theta, &mut g);
            assert!((v - lik.value(&theta)).abs() < 1e-9 * v.abs());
            let mut num = [0.0; 4];
            crate::optim::numeric_gradient(&lik, &theta, &mut num);
            for k in 0..4 {
                assert!(
                    (g[k] - num[k]).abs() < 1e-5 * (1.0 + num[k].abs()),
                    "{a} {b} {k}: {g:?} vs {num:?}"
                );
            }
        }
    }

    #[test]
    fn probability_alive_and_expectation() {
        let p = ParetoNbdParams {
            r: 0.553,
            alpha: 10.578,
            s: 0.606,
            beta: 11.669,
        };
        let recent = p.probability_alive(&RfmRow::new(4.0, 37.0, 38.0));
        let quiet = p.probability_alive(&RfmRow::new(4.0, 3.0, 38.0));
        assert!(
            recent > quiet && recent < 1.0 && quiet > 0.0,
            "{recent} {quiet}"
        );
        // Someone who bought at T has had no time to die: P(alive) = 1.
        assert!((p.probability_alive(&RfmRow::new(2.0, 38.0, 38.0)) - 1.0).abs() < 1e-12);
        // For a brand-new customer (T → 0) the conditional expectation is the unconditional one.
        let e_new = p.conditional_expected_purchases(39.0, &RfmRow::new(0.0, 0.0, 1e-9));
        assert!((e_new - p.expected_purchases(39.0)).abs() < 1e-6, "{e_new}");
    }
}
