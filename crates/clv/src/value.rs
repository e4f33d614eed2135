//! Customer lifetime value: expected purchases per month from a purchase model, times the
//! Gamma-Gamma expected spend, discounted monthly — lifetimes' `customer_lifetime_value`.

use crate::ClvError;
use crate::bgnbd::BgNbdParams;
use crate::data::RfmRow;
use crate::gamma_gamma::GammaGammaParams;
use crate::pareto::ParetoNbdParams;
use crate::summary::TimeUnit;
use serde::Serialize;

/// A fitted purchase-count model: BG/NBD or Pareto/NBD.
pub trait PurchaseModel {
    /// Expected purchases in the next `t` time units given the history.
    fn conditional_expected_purchases(&self, t: f64, row: &RfmRow) -> f64;
    /// Probability that the customer is alive at `T`.
    fn probability_alive(&self, row: &RfmRow) -> f64;
}

impl PurchaseModel for BgNbdParams {
    fn conditional_expected_purchases(&self, t: f64, row: &RfmRow) -> f64 {
        BgNbdParams::conditional_expected_purchases(self, t, row)
    }
    fn probability_alive(&self, row: &RfmRow) -> f64 {
        BgNbdParams::probability_alive(self, row)
    }
}

impl PurchaseModel for ParetoNbdParams {
    fn conditional_expected_purchases(&self, t: f64, row: &RfmRow) -> f64 {
        ParetoNbdParams::conditional_expected_purchases(self, t, row)
    }
    fn probability_alive(&self, row: &RfmRow) -> f64 {
        ParetoNbdParams::probability_alive(self, row)
    }
}

/// The discounting horizon and rate.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ClvOptions {
    /// Horizon in months.
    pub months: u32,
    /// Discount rate per month (lifetimes' default 0.01).
    pub monthly_discount_rate: f64,
    /// The time unit the model was fitted in.
    pub unit: TimeUnit,
}

/// Discounted expected value of the customer's purchases over the next `opts.months`
/// months: `Σ_i spend · (E[X(i·m)] − E[X((i−1)·m)]) / (1+d)^i` with `m` units per month.
/// `spend` is the expected spend per purchase, usually
/// [`GammaGammaParams::conditional_expected_spend`].
pub fn customer_lifetime_value<M: PurchaseModel + ?Sized>(
    model: &M,
    row: &RfmRow,
    spend: f64,
    opts: &ClvOptions,
) -> Result<f64, ClvError> {
    if opts.monthly_discount_rate.is_nan() || opts.monthly_discount_rate <= -1.0 {
        return Err(ClvError::Option {
            option: "discount-rate",
            message: format!(
                "{} must be greater than -1 (0.01 means 1% a month)",
                opts.monthly_discount_rate
            ),
        });
    }
    let m = opts.unit.per_month();
    let mut value = 0.0;
    let mut prev = 0.0;
    for i in 1..=opts.months {
        let cum = model.conditional_expected_purchases(i as f64 * m, row);
        if !cum.is_finite() {
            return Err(ClvError::Undefined(format!(
                "expected purchases at month {i} are not finite for x={}, t_x={}, T={}; \
                 the fitted parameters may be degenerate (e.g. BG/NBD with a = 1)",
                row.x, row.t_x, row.t
            )));
        }
        value += spend * (cum - prev) / (1.0 + opts.monthly_discount_rate).powi(i as i32);
        prev = cum;
    }
    Ok(value)
}

/// One customer's predictions, as the CLI prints them.
#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    pub customer: String,
    pub x: f64,
    pub t_x: f64,
    #[serde(rename = "T")]
    pub t: f64,
    pub probability_alive: f64,
    /// Expected purchases over the horizon (in the model's time unit).
    pub expected_purchases: f64,
    /// Gamma-Gamma expected spend per purchase, when a spend model is given.
    pub expected_spend: Option<f64>,
    /// Discounted CLV over the horizon, when a spend model is given.
    pub clv: Option<f64>,
}

/// Predicts for each customer: P(alive), purchases within `horizon` units, and with a spend
/// model the expected spend and CLV over `clv.months` months.
pub fn predict<M: PurchaseModel + ?Sized>(
    model: &M,
    spend: Option<&GammaGammaParams>,
    customers: &[crate::CustomerSummary],
    horizon: f64,
    clv: &ClvOptions,
) -> Result<Vec<Prediction>, ClvError> {
    customers
        .iter()
        .map(|c| {
            let (expected_spend, value) = match (spend, c.zbar) {
                (Some(gg), Some(z)) => {
                    let s = gg.conditional_expected_spend(c.rfm.x, z)?;
                    (
                        Some(s),
                        Some(customer_lifetime_value(model, &c.rfm, s, clv)?),
                    )
                }
                _ => (None, None),
            };
            Ok(Prediction {
                customer: c.customer.clone(),
                x: c.rfm.x,
                t_x: c.rfm.t_x,
                t: c.rfm.t,
                probability_alive: model.probability_alive(&c.rfm),
                expected_purchases: model.conditional_expected_purchases(horizon, &c.rfm),
                expected_spend,
                clv: value,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model with a constant purchase rate makes the CLV a hand-computable annuity.
    struct Constant(f64);
    impl PurchaseModel for Constant {
        fn conditional_expected_purchases(&self, t: f64, _: &RfmRow) -> f64 {
            self.0 * t
        }
        fn probability_alive(&self, _: &RfmRow) -> f64 {
            1.0
        }
    }

    #[test]
    fn clv_is_a_discounted_annuity_for_a_constant_rate() {
        let row = RfmRow::new(1.0, 1.0, 2.0);
        let opts = ClvOptions {
            months: 12,
            monthly_discount_rate: 0.01,
            unit: TimeUnit::Days,
        };
        // 0.1 purchases/day × 30 days × 50 per purchase = 150 per month.
        let got = customer_lifetime_value(&Constant(0.1), &row, 50.0, &opts).expect("clv");
        let want: f64 = (1..=12).map(|i| 150.0 / 1.01f64.powi(i)).sum();
        assert!((got - want).abs() < 1e-9, "{got} vs {want}");
        let zero = ClvOptions {
            monthly_discount_rate: 0.0,
            ..opts
        };
        let undiscounted = customer_lifetime_value(&Constant(0.1), &row, 50.0, &zero).expect("clv");
        assert!((undiscounted - 1800.0).abs() < 1e-9);
    }
}
