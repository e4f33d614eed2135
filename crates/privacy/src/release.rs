//! Noisy grouped aggregates: counts, sums and means per group, with contribution bounding.
//!
//! The privacy unit is one `unit` (normally a customer id): neighbouring datasets differ by
//! every row of one unit. To bound what one unit can change:
//!
//! * each unit contributes to **one group only** — the group of its first row; its rows in
//!   other groups are dropped (and counted in [`Release::dropped_rows`]);
//! * a unit's value is the sum of its rows' values in that group, **clamped** to
//!   `[lower, upper]` and quantised to a power-of-two granularity (2^16 steps of the larger
//!   bound), so a sum moves by at most `max(|lower|, |upper|)` when a unit comes or goes;
//! * a count moves by at most 1.
//!
//! The group keys are public when the caller supplies them (`keys`); otherwise the set of
//! groups present would itself leak (a group that exists because of one person), so groups
//! are released only when their noisy count reaches a threshold `τ = 1 + k` where
//! `P(noise >= k) <= δ_τ` (the stability-based histogram). That needs δ > 0.
//!
//! ε is split evenly over the statistics computed (count and/or sum); a mean is a noisy sum
//! over a noisy count, clamped to the bounds (post-processing costs nothing). With the
//! Gaussian mechanism δ is split between the threshold (if any) and the statistics.

use std::collections::HashMap;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::PrivacyError;
use crate::mechanism::{Cost, Mechanism, Noise};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    Count,
    Sum,
    Mean,
}

impl Aggregate {
    pub fn name(self) -> &'static str {
        match self {
            Aggregate::Count => "count",
            Aggregate::Sum => "sum",
            Aggregate::Mean => "mean",
        }
    }
}

/// One input row: the privacy unit, the group key and an optional value.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub unit: String,
    pub key: Vec<String>,
    pub value: Option<f64>,
}

/// What to release and at what cost.
#[derive(Debug, Clone)]
pub struct Spec {
    pub aggregate: Aggregate,
    pub mechanism: Mechanism,
    pub cost: Cost,
    /// Clamping bounds for sums and means (`lower <= upper`); required for them.
    pub bounds: Option<(f64, f64)>,
    /// Public group keys: every one is released (true count 0 when absent). `None` means
    /// the keys come from the data and are thresholded.
    pub keys: Option<Vec<Vec<String>>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Group {
    pub key: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
}

/// The noisy result, with what an analyst needs to read it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Release {
    pub aggregate: Aggregate,
    pub mechanism: Mechanism,
    pub cost: Cost,
    pub groups: Vec<Group>,
    /// Standard deviation of the noise on each count (people).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count_noise_sd: Option<f64>,
    /// Standard deviation of the noise on each sum (value units).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum_noise_sd: Option<f64>,
    /// Groups whose noisy count is below this were withheld (data-derived keys only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Granularity of the quantised per-unit values (sums and means).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub granularity: Option<f64>,
    /// Rows ignored because their unit had already contributed to another group, or their
    /// key is not among the public keys. Counts of rows are not released noisily, so they
    /// are not part of the output's guarantee: keep them for the operator, not the recipient.
    pub dropped_rows: u64,
}

struct Contribution {
    group: usize,
    value: f64,
}

/// Computes the release. Spend the budget (see [`crate::BudgetLedger::charge`]) before
/// calling this, so that a refused charge releases nothing.
pub fn release<R: Rng + ?Sized>(
    spec: &Spec,
    rows: impl IntoIterator<Item = Row>,
    rng: &mut R,
) -> Result<Release, PrivacyError> {
    let needs_bounds = matches!(spec.aggregate, Aggregate::Sum | Aggregate::Mean);
    let bounds = match (needs_bounds, spec.bounds) {
        (true, None) => {
            return Err(PrivacyError::InvalidParameter(format!(
                "a {} needs clamping bounds: give --lower and --upper (the range one person's value is clipped to)",
                spec.aggregate.name()
            )));
        }
        (true, Some((lo, hi))) => {
            if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                return Err(PrivacyError::InvalidParameter(format!(
                    "clamping bounds must be finite with lower <= upper, got [{lo}, {hi}]"
                )));
            }
            if lo == 0.0 && hi == 0.0 {
                return Err(PrivacyError::InvalidParameter(
                    "clamping bounds [0, 0] leave nothing to measure; widen them".into(),
                ));
            }
            Some((lo, hi))
        }
        (false, _) => None,
    };

    // Group index: public keys first (in the caller's order), else discovered.
    let public = spec.keys.is_some();
    let mut keys: Vec<Vec<String>> = Vec::new();
    let mut index: HashMap<Vec<String>, usize> = HashMap::new();
    if let Some(k) = &spec.keys {
        for key in k {
            if !index.contains_key(key) {
                index.insert(key.clone(), keys.len());
                keys.push(key.clone());
            }
        }
    }

    let mut units: HashMap<String, Contribution> = HashMap::new();
    let mut dropped_rows = 0u64;
    for row in rows {
        if let Some(v) = row.value
            && !v.is_finite()
        {
            return Err(PrivacyError::InvalidData(format!(
                "unit {:?} has a non-finite value {v}",
                row.unit
            )));
        }
        let group = match index.get(&row.key) {
            Some(&g) => g,
            None if public => {
                dropped_rows += 1;
                continue;
            }
            None => {
                let g = keys.len();
                index.insert(row.key.clone(), g);
                keys.push(row.key);
                g
            }
        };
        match units.get_mut(&row.unit) {
            Some(c) if c.group == group => c.value += row.value.unwrap_or(0.0),
            Some(_) => dropped_rows += 1,
            None => {
                units.insert(
                    row.unit,
                    Contribution {
                        group,
                        value: row.value.unwrap_or(0.0),
                    },
                );
            }
        }
    }

    // True statistics in integer units.
    let granularity = bounds.map(|(lo, hi)| {
        let m = lo.abs().max(hi.abs());
        2f64.powi(m.log2().ceil() as i32 - 16)
    });
    if let Some(g) = granularity
        && !(g.is_finite() && g > 0.0)
    {
        return Err(PrivacyError::InvalidParameter(
            "the clamping bounds are too close to zero to quantise; rescale the values".into(),
        ));
    }
    let mut counts = vec![0i128; keys.len()];
    let mut sums = vec![0i128; keys.len()];
    for c in units.values() {
        counts[c.group] += 1;
        if let (Some((lo, hi)), Some(g)) = (bounds, granularity) {
            sums[c.group] += (c.value.clamp(lo, hi) / g).round() as i128;
        }
    }

    // Budget split.
    let need_count = matches!(spec.aggregate, Aggregate::Count | Aggregate::Mean) || !public;
    let need_sum = needs_bounds;
    let stats = need_count as u32 + need_sum as u32;
    let threshold_delta = if public {
        0.0
    } else {
        if spec.cost.delta <= 0.0 {
            return Err(PrivacyError::InvalidParameter(
                "without public group keys the set of groups itself is private: give the keys (--keys) or a delta > 0 (e.g. --delta 1e-6) so rare groups can be withheld".into(),
            ));
        }
        match spec.mechanism {
            Mechanism::Laplace => spec.cost.delta,
            Mechanism::Gaussian => spec.cost.delta / 2.0,
        }
    };
    let per_stat = Cost {
        epsilon: spec.cost.epsilon / stats as f64,
        delta: match spec.mechanism {
            Mechanism::Laplace => 0.0,
            Mechanism::Gaussian => (spec.cost.delta - threshold_delta) / stats as f64,
        },
    };
    let count_noise = if need_count {
        Some(Noise::calibrate(spec.mechanism, per_stat, 1.0, 1.0)?)
    } else {
        None
    };
    let sum_noise = match (need_sum, bounds, granularity) {
        (true, Some((lo, hi)), Some(g)) => {
            let sens = (lo.abs().max(hi.abs()) / g).ceil();
            Some(Noise::calibrate(spec.mechanism, per_stat, sens, sens)?)
        }
        _ => None,
    };
    let threshold = match (public, count_noise) {
        (false, Some(n)) => Some(1.0 + n.tail_bound(threshold_delta)),
        _ => None,
    };

    let mut groups = Vec::with_capacity(keys.len());
    for (i, key) in keys.into_iter().enumerate() {
        let noisy_count = count_noise.map(|n| counts[i] + n.sample(rng));
        if let (Some(t), Some(c)) = (threshold, noisy_count)
            && (c as f64) < t
        {
            continue;
        }
        let noisy_sum = match (sum_noise, granularity) {
            (Some(n), Some(g)) => Some((sums[i] + n.sample(rng)) as f64 * g),
            _ => None,
        };
        let count_out = noisy_count.map(|c| c.max(0).min(i64::MAX as i128) as i64);
        let mean = match (spec.aggregate, noisy_sum, noisy_count, bounds) {
            (Aggregate::Mean, Some(s), Some(c), Some((lo, hi))) => {
                Some((s / (c.max(1) as f64)).clamp(lo, hi))
            }
            _ => None,
        };
        groups.push(Group {
            key,
            count: count_out,
            sum: noisy_sum,
            mean,
        });
    }

    Ok(Release {
        aggregate: spec.aggregate,
        mechanism: spec.mechanism,
        cost: spec.cost,
        groups,
        count_noise_sd: count_noise.map(|n| n.std_dev()),
        sum_noise_sd: match (sum_noise, granularity) {
            (Some(n), Some(g)) => Some(n.std_dev() * g),
            _ => None,
        },
        threshold,
        granularity,
        dropped_rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_pcg::Pcg64Mcg;

    fn row(unit: &str, key: &str, value: f64) -> Row {
        Row {
            unit: unit.into(),
            key: vec![key.into()],
            value: Some(value),
        }
    }

    fn city_rows() -> Vec<Row> {
        let mut rows = Vec::new();
        for i in 0..500 {
            rows.push(row(&format!("c{i}"), "Shanghai", 1000.0));
        }
        for i in 500..700 {
            rows.push(row(&format!("c{i}"), "Beijing", 50.0));
        }
        rows
    }

    fn spec(aggregate: Aggregate, mechanism: Mechanism, e: f64, d: f64) -> Spec {
        Spec {
            aggregate,
            mechanism,
            cost: Cost::new(e, d).unwrap(),
            bounds: Some((0.0, 2000.0)),
            keys: Some(vec![
                vec!["Shanghai".into()],
                vec!["Beijing".into()],
                vec!["Shenzhen".into()],
            ]),
        }
    }

    #[test]
    fn noisy_counts_are_unbiased_with_the_calibrated_variance() {
        let mut rng = Pcg64Mcg::seed_from_u64(3);
        let s = spec(Aggregate::Count, Mechanism::Laplace, 0.5, 0.0);
        let runs = 4000;
        let mut got = Vec::new();
        let mut sd = 0.0;
        for _ in 0..runs {
            let r = release(&s, city_rows(), &mut rng).unwrap();
            assert_eq!(r.groups.len(), 3, "public keys are all released");
            sd = r.count_noise_sd.unwrap();
            got.push(r.groups[0].count.unwrap() as f64);
        }
        let mean = got.iter().sum::<f64>() / runs as f64;
        let var = got.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (runs as f64 - 1.0);
        assert!(
            (mean - 500.0).abs() < 5.0 * sd / (runs as f64).sqrt(),
            "{mean}"
        );
        assert!(
            (var.sqrt() / sd - 1.0).abs() < 0.06,
            "sd {} want {sd}",
            var.sqrt()
        );
        // Laplace scale 1/0.5 = 2: sd = sqrt(2 q)/(1-q), q = e^-0.5.
        assert!((sd - 2.7).abs() < 0.1, "{sd}");
    }

    #[test]
    fn a_unit_contributes_to_one_group_and_values_are_clamped() {
        let rows = vec![
            row("a", "Shanghai", 10.0),
            row("a", "Beijing", 10.0),
            row("a", "Shanghai", 5.0),
            row("b", "Beijing", 1e12),
            row("x", "Paris", 1.0),
        ];
        let mut rng = Pcg64Mcg::seed_from_u64(5);
        let s = Spec {
            cost: Cost::pure(1e6).unwrap(), // almost no noise: check the arithmetic
            ..spec(Aggregate::Sum, Mechanism::Laplace, 1.0, 0.0)
        };
        let r = release(&s, rows, &mut rng).unwrap();
        assert_eq!(r.dropped_rows, 2, "a's Beijing row and the unknown key");
        let sh = &r.groups[0];
        let bj = &r.groups[1];
        assert!((sh.sum.unwrap() - 15.0).abs() < 0.5, "{sh:?}");
        assert!((bj.sum.unwrap() - 2000.0).abs() < 0.5, "clamped: {bj:?}");
        assert!(
            sh.count.is_none(),
            "a sum over public keys spends nothing on counts"
        );
    }

    #[test]
    fn means_stay_within_bounds_and_track_the_truth() {
        let mut rng = Pcg64Mcg::seed_from_u64(9);
        let s = spec(Aggregate::Mean, Mechanism::Gaussian, 1.0, 1e-6);
        let r = release(&s, city_rows(), &mut rng).unwrap();
        for g in &r.groups {
            let m = g.mean.unwrap();
            assert!((0.0..=2000.0).contains(&m), "{g:?}");
        }
        assert!(
            (r.groups[0].mean.unwrap() - 1000.0).abs() < 100.0,
            "{:?}",
            r.groups[0]
        );
        assert!(
            (r.groups[1].mean.unwrap() - 50.0).abs() < 100.0,
            "{:?}",
            r.groups[1]
        );
    }

    #[test]
    fn data_derived_keys_withhold_rare_groups() {
        let mut rows = city_rows();
        rows.push(row("lonely", "Lhasa", 1.0));
        let s = Spec {
            keys: None,
            ..spec(Aggregate::Count, Mechanism::Laplace, 1.0, 1e-6)
        };
        let mut rng = Pcg64Mcg::seed_from_u64(21);
        for _ in 0..2000 {
            let r = release(&s, rows.clone(), &mut rng).unwrap();
            assert!(r.threshold.unwrap() > 10.0);
            assert!(
                !r.groups.iter().any(|g| g.key == vec!["Lhasa".to_string()]),
                "a one-person group must not appear"
            );
            assert_eq!(r.groups.len(), 2);
        }
        let no_delta = Spec {
            keys: None,
            ..spec(Aggregate::Count, Mechanism::Laplace, 1.0, 0.0)
        };
        assert!(matches!(
            release(&no_delta, city_rows(), &mut rng),
            Err(PrivacyError::InvalidParameter(_))
        ));
    }

    #[test]
    fn sums_need_bounds_and_values_must_be_finite() {
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        let s = Spec {
            bounds: None,
            ..spec(Aggregate::Sum, Mechanism::Laplace, 1.0, 0.0)
        };
        assert!(release(&s, city_rows(), &mut rng).is_err());
        let s = spec(Aggregate::Sum, Mechanism::Laplace, 1.0, 0.0);
        assert!(release(&s, vec![row("a", "Shanghai", f64::NAN)], &mut rng).is_err());
    }
}
