//! Reason codes (adverse-action reasons): for one applicant, the variables where the
//! applicant lost the most points against a baseline, most points lost first.
//!
//! * [`Baseline::BestPossible`] compares each variable's points with the best bin of that
//!   variable — "what kept this score down". Used for US-style adverse-action notices and the
//!   usual choice for declines.
//! * [`Baseline::PopulationAverage`] compares with the training population's average points
//!   for that variable (bins weighted by their share), so only below-average attributes are
//!   cited.
//!
//! Only variables where the applicant lost strictly more than zero points are cited; ties
//! are broken by the variable's IV (stronger first), then by name, so the order is stable.

use crate::data::NamedFeature;
use crate::error::Result;
use crate::scorecard::{Scorecard, fmt_points};
use serde::{Deserialize, Serialize};

/// What "lost points" are measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Baseline {
    /// The best bin of the variable.
    #[default]
    BestPossible,
    /// The population-average points of the variable.
    PopulationAverage,
}

/// One reason for one applicant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// 1 for the reason that cost the most points.
    pub rank: usize,
    /// Stable code of the variable in this scorecard (`RC01` is its strongest variable).
    pub code: String,
    /// Variable name.
    pub variable: String,
    /// The applicant's bin.
    pub bin: String,
    /// The applicant's points for this variable.
    pub points: f64,
    /// The baseline's points.
    pub baseline_points: f64,
    /// `baseline_points − points` (> 0).
    pub points_lost: f64,
    /// English sentence.
    pub text_en: String,
    /// Chinese sentence.
    pub text_zh: String,
}

impl Scorecard {
    /// Baseline points of each scorecard variable, and the best bin's label.
    fn baselines(&self, baseline: Baseline) -> Vec<(f64, Option<String>)> {
        self.variables
            .iter()
            .map(|v| match baseline {
                Baseline::BestPossible => {
                    let (k, p) = v
                        .points
                        .iter()
                        .enumerate()
                        .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
                        .map(|(k, p)| (k, *p))
                        .unwrap_or((0, 0.0));
                    (p, v.binning.bins.get(k).map(|b| b.label.clone()))
                }
                Baseline::PopulationAverage => {
                    let total: u64 = v.binning.bins.iter().map(|b| b.count).sum();
                    let avg = v
                        .binning
                        .bins
                        .iter()
                        .zip(&v.points)
                        .map(|(b, p)| b.count as f64 * p)
                        .sum::<f64>()
                        / total.max(1) as f64;
                    (avg, None)
                }
            })
            .collect()
    }

    /// Up to `k` reasons for every row of `features`.
    pub fn reason_codes(
        &self,
        features: &[NamedFeature<'_>],
        k: usize,
        baseline: Baseline,
    ) -> Result<Vec<Vec<Reason>>> {
        let bins = self.bin_indices(features)?;
        let n = bins.first().map_or(0, Vec::len);
        let base = self.baselines(baseline);
        Ok((0..n)
            .map(|row| {
                let mut lost: Vec<(usize, usize, f64)> = Vec::new();
                for (j, (v, b)) in self.variables.iter().zip(&bins).enumerate() {
                    // Rows without a bin score 0 points for the variable.
                    let p = b[row].map_or(0.0, |k| v.points[k]);
                    let l = base[j].0 - p;
                    if l > 1e-9 {
                        lost.push((j, b[row].unwrap_or(usize::MAX), l));
                    }
                }
                // Variables are stored by descending IV, so j breaks ties by strength.
                lost.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
                lost.truncate(k);
                lost.into_iter()
                    .enumerate()
                    .map(|(r, (j, bin, l))| {
                        let v = &self.variables[j];
                        let label = v
                            .binning
                            .bins
                            .get(bin)
                            .map_or("(unseen value)".to_string(), |b| b.label.clone());
                        let points = v.points.get(bin).copied().unwrap_or(0.0);
                        let name = &v.binning.name;
                        let lost_s = fmt_points(l.round_to(2));
                        let (text_en, text_zh) = match (&base[j].1, baseline) {
                            (Some(best), Baseline::BestPossible) => (
                                format!("{name} is \"{label}\": {lost_s} points below its best band \"{best}\""),
                                format!("{name}为“{label}”，比最优区间“{best}”少{lost_s}分"),
                            ),
                            _ => (
                                format!("{name} is \"{label}\": {lost_s} points below the average applicant"),
                                format!("{name}为“{label}”，比申请人平均水平少{lost_s}分"),
                            ),
                        };
                        Reason {
                            rank: r + 1,
                            code: format!("RC{:02}", j + 1),
                            variable: name.clone(),
                            bin: label,
                            points,
                            baseline_points: base[j].0,
                            points_lost: l,
                            text_en,
                            text_zh,
                        }
                    })
                    .collect()
            })
            .collect())
    }
}

trait RoundTo {
    fn round_to(self, digits: i32) -> f64;
}

impl RoundTo for f64 {
    fn round_to(self, digits: i32) -> f64 {
        let m = 10f64.powi(digits);
        (self * m).round() / m
    }
}
