//! Whom to contact under a budget, ranked by predicted uplift.
//!
//! Ranking by uplift rather than by response probability is the point of uplift
//! modelling: customers who would buy anyway, and "sleeping dogs" whom a contact puts
//! off, are skipped. The plan contacts customers in descending order of net value
//! (`value_per_unit · uplift − cost`) while the budget lasts and the net value is
//! positive, and reports the expected incremental outcome: the sum of the predicted
//! uplifts of the customers contacted (conversions for a binary outcome, spend for a
//! continuous one). The curve covers the whole ranking, so a chart shows where extra
//! contacts stop paying.

use serde::{Deserialize, Serialize};

use crate::error::UpliftError;
use crate::learners::UpliftPrediction;
use crate::metrics::descending_order;

/// What limits the campaign.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Budget {
    /// At most this many contacts.
    Contacts { max: usize },
    /// At most this much money, each contact costing `cost_per_contact`.
    Money { budget: f64, cost_per_contact: f64 },
}

/// How to value the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TargetingOptions {
    pub budget: Budget,
    /// Money per unit of outcome (per conversion; 1.0 when the outcome is spend). With a
    /// money budget a contact is made only when `value_per_unit · uplift` exceeds its
    /// cost; with a contact budget, only when the uplift is positive.
    pub value_per_unit: f64,
}

/// One point of the targeting curve: the top `contacts` customers by uplift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetingPoint {
    pub contacts: usize,
    pub cost: f64,
    /// Expected incremental outcome (conversions or spend).
    pub incremental: f64,
    /// `value_per_unit · incremental − cost`.
    pub net_value: f64,
}

/// Why the plan stopped where it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The budget ran out.
    Budget,
    /// The next customer's uplift does not pay for the contact.
    NoPositiveValue,
    /// Everyone worth contacting was contacted.
    Everyone,
}

/// Whom to contact, and what to expect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetingPlan {
    /// Row indices to contact, best first.
    pub selected: Vec<usize>,
    pub contacts: usize,
    pub cost: f64,
    pub expected_incremental: f64,
    pub expected_net_value: f64,
    pub stopped_by: StopReason,
    /// The whole ranking, at most 101 points (every 1% of customers), for a chart.
    pub curve: Vec<TargetingPoint>,
}

impl std::fmt::Display for TargetingPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "contact {} customers (cost {:.2}): expected incremental outcome {:.2}, net value {:.2}; stopped by {:?}",
            self.contacts,
            self.cost,
            self.expected_incremental,
            self.expected_net_value,
            self.stopped_by
        )
    }
}

fn cost_per_contact(budget: &Budget) -> f64 {
    match budget {
        Budget::Contacts { .. } => 0.0,
        Budget::Money {
            cost_per_contact, ..
        } => *cost_per_contact,
    }
}

fn check_options(opts: &TargetingOptions) -> Result<(), UpliftError> {
    if !(opts.value_per_unit.is_finite() && opts.value_per_unit > 0.0) {
        return Err(UpliftError::Config(format!(
            "value_per_unit must be a positive amount (1.0 when the outcome is money), got {}",
            opts.value_per_unit
        )));
    }
    if let Budget::Money {
        budget,
        cost_per_contact,
    } = opts.budget
    {
        if !(budget.is_finite() && budget >= 0.0) {
            return Err(UpliftError::Config(format!(
                "the budget must be a non-negative amount, got {budget}"
            )));
        }
        if !(cost_per_contact.is_finite() && cost_per_contact > 0.0) {
            return Err(UpliftError::Config(format!(
                "the cost per contact must be positive, got {cost_per_contact}; use a contact budget for free channels"
            )));
        }
    }
    Ok(())
}

/// Plans a single-treatment campaign from each customer's predicted uplift.
pub fn plan_targeting(
    uplift: &[f64],
    opts: &TargetingOptions,
) -> Result<TargetingPlan, UpliftError> {
    check_options(opts)?;
    if let Some((row, &value)) = uplift.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(UpliftError::NotFinite {
            what: "uplift",
            row,
            value,
        });
    }
    let cost = cost_per_contact(&opts.budget);
    let order = descending_order(uplift);
    let mut selected = Vec::new();
    let mut stopped_by = StopReason::Everyone;
    let (mut spent, mut inc) = (0.0, 0.0);
    for &i in &order {
        if opts.value_per_unit * uplift[i] - cost <= 0.0 {
            stopped_by = StopReason::NoPositiveValue;
            break;
        }
        let fits = match opts.budget {
            Budget::Contacts { max } => selected.len() < max,
            Budget::Money { budget, .. } => spent + cost <= budget + 1e-9,
        };
        if !fits {
            stopped_by = StopReason::Budget;
            break;
        }
        selected.push(i);
        spent += cost;
        inc += uplift[i];
    }
    let curve = curve_points(&order, uplift, cost, opts.value_per_unit);
    Ok(TargetingPlan {
        contacts: selected.len(),
        cost: spent,
        expected_incremental: inc,
        expected_net_value: opts.value_per_unit * inc - spent,
        selected,
        stopped_by,
        curve,
    })
}

/// The cumulative curve along the ranking: every row when there are fewer than 100,
/// otherwise every whole percent of customers.
fn curve_points(order: &[usize], uplift: &[f64], cost: f64, value: f64) -> Vec<TargetingPoint> {
    let n = order.len();
    let mut cum = Vec::with_capacity(n + 1);
    cum.push(0.0);
    for &i in order {
        let last = cum[cum.len() - 1];
        cum.push(last + uplift[i]);
    }
    let ks: Vec<usize> = if n < 100 {
        (0..=n).collect()
    } else {
        (0..=100).map(|p| n * p / 100).collect()
    };
    ks.into_iter()
        .map(|k| {
            let c = k as f64 * cost;
            TargetingPoint {
                contacts: k,
                cost: c,
                incremental: cum[k],
                net_value: value * cum[k] - c,
            }
        })
        .collect()
}

/// One customer's assignment in a multi-treatment plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmAssignment {
    pub row: usize,
    /// Treatment arm, 1-based as in the arm codes.
    pub arm: usize,
    pub uplift: f64,
    pub net_value: f64,
}

/// A multi-treatment plan: each contacted customer gets the arm with the best net value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmPlan {
    pub assignments: Vec<ArmAssignment>,
    pub cost: f64,
    pub expected_incremental: f64,
    pub expected_net_value: f64,
    /// Contacts per arm (index 0 = arm 1).
    pub per_arm: Vec<usize>,
}

/// Plans a campaign with several treatments (offers, channels) of different costs under
/// a money budget: each customer's best arm by net value, customers by descending net
/// value, greedily while the budget lasts (a customer whose best arm no longer fits is
/// skipped, cheaper ones after may still fit).
pub fn plan_arms(
    prediction: &UpliftPrediction,
    cost_per_arm: &[f64],
    value_per_unit: f64,
    budget: f64,
) -> Result<ArmPlan, UpliftError> {
    if cost_per_arm.len() != prediction.n_treatments {
        return Err(UpliftError::LengthMismatch {
            what: "cost per arm",
            expected: prediction.n_treatments,
            found: cost_per_arm.len(),
        });
    }
    if let Some(&c) = cost_per_arm.iter().find(|c| !(c.is_finite() && **c >= 0.0)) {
        return Err(UpliftError::Config(format!(
            "every arm's cost must be a non-negative amount, got {c}"
        )));
    }
    check_options(&TargetingOptions {
        budget: Budget::Money {
            budget,
            cost_per_contact: 1.0,
        },
        value_per_unit,
    })?;
    let best = prediction.best_arm_net(cost_per_arm, value_per_unit);
    let mut candidates: Vec<(usize, usize, f64, f64)> = best
        .iter()
        .enumerate()
        .filter_map(|(i, b)| b.map(|(a, net, u)| (i, a, net, u)))
        .collect();
    candidates.sort_by(|x, y| y.2.total_cmp(&x.2).then(x.0.cmp(&y.0)));
    let mut plan = ArmPlan {
        assignments: Vec::new(),
        cost: 0.0,
        expected_incremental: 0.0,
        expected_net_value: 0.0,
        per_arm: vec![0; prediction.n_treatments],
    };
    for (row, arm, net, uplift) in candidates {
        let c = cost_per_arm[arm - 1];
        if plan.cost + c > budget + 1e-9 {
            continue;
        }
        plan.cost += c;
        plan.expected_incremental += uplift;
        plan.expected_net_value += net;
        plan.per_arm[arm - 1] += 1;
        plan.assignments.push(ArmAssignment {
            row,
            arm,
            uplift,
            net_value: net,
        });
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: [f64; 6] = [0.05, 0.30, -0.10, 0.20, 0.01, 0.10];

    #[test]
    fn contact_budget_takes_the_best_positive_uplifts() {
        let plan = plan_targeting(
            &U,
            &TargetingOptions {
                budget: Budget::Contacts { max: 3 },
                value_per_unit: 1.0,
            },
        )
        .unwrap();
        assert_eq!(plan.selected, vec![1, 3, 5]);
        assert!((plan.expected_incremental - 0.6).abs() < 1e-12);
        assert_eq!(plan.stopped_by, StopReason::Budget);
        // A large budget stops at the sleeping dog (row 2).
        let plan = plan_targeting(
            &U,
            &TargetingOptions {
                budget: Budget::Contacts { max: 100 },
                value_per_unit: 1.0,
            },
        )
        .unwrap();
        assert_eq!(plan.contacts, 5);
        assert_eq!(plan.stopped_by, StopReason::NoPositiveValue);
        assert_eq!(plan.curve.len(), 7);
        assert!((plan.curve[6].incremental - 0.56).abs() < 1e-12);
    }

    #[test]
    fn money_budget_respects_cost_and_value() {
        // 40 per conversion, 3 per contact: uplift must exceed 0.075.
        let opts = TargetingOptions {
            budget: Budget::Money {
                budget: 100.0,
                cost_per_contact: 3.0,
            },
            value_per_unit: 40.0,
        };
        let plan = plan_targeting(&U, &opts).unwrap();
        assert_eq!(plan.selected, vec![1, 3, 5]);
        assert_eq!(plan.cost, 9.0);
        assert!((plan.expected_net_value - (40.0 * 0.6 - 9.0)).abs() < 1e-9);
        assert_eq!(plan.stopped_by, StopReason::NoPositiveValue);
        // Only 6 money: two contacts.
        let tight = TargetingOptions {
            budget: Budget::Money {
                budget: 6.0,
                cost_per_contact: 3.0,
            },
            ..opts
        };
        let plan = plan_targeting(&U, &tight).unwrap();
        assert_eq!(plan.selected, vec![1, 3]);
        assert_eq!(plan.stopped_by, StopReason::Budget);
        let bad = TargetingOptions {
            budget: Budget::Money {
                budget: 6.0,
                cost_per_contact: 0.0,
            },
            ..opts
        };
        assert!(
            plan_targeting(&U, &bad)
                .unwrap_err()
                .to_string()
                .contains("cost per contact")
        );
    }

    #[test]
    fn curve_is_sampled_per_percent_for_large_inputs() {
        let u: Vec<f64> = (0..1000).map(|i| (i as f64 - 500.0) / 1000.0).collect();
        let plan = plan_targeting(
            &u,
            &TargetingOptions {
                budget: Budget::Contacts { max: 1000 },
                value_per_unit: 1.0,
            },
        )
        .unwrap();
        assert_eq!(plan.curve.len(), 101);
        assert_eq!(plan.curve[100].contacts, 1000);
        let peak = plan
            .curve
            .iter()
            .max_by(|a, b| a.incremental.total_cmp(&b.incremental))
            .unwrap();
        assert_eq!(peak.contacts, 500);
        assert_eq!(plan.contacts, 499);
    }

    #[test]
    fn arm_plan_greedy_under_budget() {
        let p = UpliftPrediction {
            n_rows: 3,
            n_treatments: 2,
            values: vec![0.10, 0.12, 0.30, 0.05, 0.02, 0.20],
        };
        let plan = plan_arms(&p, &[1.0, 5.0], 100.0, 7.0).unwrap();
        // Nets: row 0 arm 1 = 9; row 1 arm 1 = 29; row 2 arm 2 = 15 (cost 5).
        let got: Vec<(usize, usize)> = plan.assignments.iter().map(|a| (a.row, a.arm)).collect();
        assert_eq!(got, vec![(1, 1), (2, 2), (0, 1)]);
        assert_eq!(plan.cost, 7.0);
        assert_eq!(plan.per_arm, vec![2, 1]);
        assert!(plan_arms(&p, &[1.0], 100.0, 7.0).is_err());
    }
}
