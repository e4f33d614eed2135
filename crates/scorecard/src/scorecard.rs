//! The scorecard pipeline: bin every candidate variable, keep those with enough IV and not
//! too correlated with a stronger one, regress bad on their WOE values, drop variables whose
//! coefficient has the wrong sign, and scale to points.

use crate::binning::{BinningOptions, VariableBinning, bin_variable, truncate};
use crate::data::NamedFeature;
use crate::error::{Result, ScorecardError};
use crate::logistic::{IrlsOptions, LogitFit, find, fit_irls, sigmoid};
use crate::scaling::Scaling;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Everything that shapes a scorecard.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScorecardOptions {
    /// Binning of every candidate variable.
    pub binning: BinningOptions,
    /// Keep variables with IV at least this (0.02 = "not useless").
    pub min_iv: f64,
    /// Drop a variable whose WOE correlates (|Pearson r|) above this with a stronger one.
    pub max_correlation: f64,
    /// Drop variables whose WOE coefficient is ≤ 0 (points would then run against the
    /// bins' own risk ordering, which validators reject), refitting after each drop.
    pub drop_wrong_sign: bool,
    /// Newton settings for the WOE regression (λ = 0: plain maximum likelihood).
    pub irls: IrlsOptions,
    /// Points scaling.
    pub scaling: Scaling,
    /// Round base and bin points to integers, as printed scorecards do.
    pub round_points: bool,
}

impl Default for ScorecardOptions {
    fn default() -> Self {
        Self {
            binning: BinningOptions::default(),
            min_iv: 0.02,
            max_correlation: 0.7,
            drop_wrong_sign: true,
            irls: IrlsOptions::default(),
            scaling: Scaling::default(),
            round_points: true,
        }
    }
}

/// Why a candidate variable is in or out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Selection {
    /// In the model.
    Selected,
    /// IV below `min_iv`.
    LowIv,
    /// Too correlated with a stronger variable.
    Correlated {
        /// The stronger variable.
        with: String,
        /// Pearson r of their WOE values.
        r: f64,
    },
    /// Its coefficient came out ≤ 0.
    WrongSign {
        /// The coefficient when it was dropped.
        coefficient: f64,
    },
}

/// A candidate variable's IV and selection outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Variable name.
    pub name: String,
    /// Its information value.
    pub iv: f64,
    /// In or out, and why.
    #[serde(flatten)]
    pub selection: Selection,
}

/// A variable in the scorecard: its bins, coefficient and points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardVariable {
    /// Binning (with the IV table rows).
    pub binning: VariableBinning,
    /// Coefficient of its WOE.
    pub coefficient: f64,
    /// Points per bin, aligned with `binning.bins`.
    pub points: Vec<f64>,
}

/// A fitted credit scorecard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scorecard {
    /// Binnings of every candidate variable (the full IV table).
    pub binnings: Vec<VariableBinning>,
    /// Every candidate by descending IV, with why it is in or out.
    pub candidates: Vec<Candidate>,
    /// The variables in the model, by descending IV.
    pub variables: Vec<CardVariable>,
    /// Logistic regression of bad on the WOE values.
    pub fit: LogitFit,
    /// Scaling used for the points.
    pub scaling: Scaling,
    /// Points every applicant starts from.
    pub base_points: f64,
}

/// Pearson correlation (0 when either side is constant).
fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    if saa <= 0.0 || sbb <= 0.0 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}

impl Scorecard {
    /// Fit a scorecard on candidate variables `features` and target `y` (`true` = bad).
    pub fn fit(
        features: &[NamedFeature<'_>],
        y: &[bool],
        opts: &ScorecardOptions,
    ) -> Result<Scorecard> {
        opts.scaling.validate()?;
        let binnings: Vec<VariableBinning> = features
            .iter()
            .map(|f| bin_variable(f.name, f.feature, y, &opts.binning))
            .collect::<Result<_>>()?;
        let mut order: Vec<usize> = (0..binnings.len()).collect();
        order.sort_by(|&a, &b| binnings[b].iv.total_cmp(&binnings[a].iv));
        let mut candidates: Vec<Candidate> = Vec::with_capacity(order.len());
        let mut kept: Vec<(usize, Vec<f64>)> = Vec::new();
        for &i in &order {
            let b = &binnings[i];
            let selection = if b.iv < opts.min_iv {
                Selection::LowIv
            } else {
                let w = b.transform(features[i].feature)?;
                let clash = kept
                    .iter()
                    .map(|(j, wj)| (*j, pearson(&w, wj)))
                    .find(|(_, r)| r.abs() > opts.max_correlation);
                match clash {
                    Some((j, r)) => Selection::Correlated {
                        with: binnings[j].name.clone(),
                        r,
                    },
                    None => {
                        kept.push((i, w));
                        Selection::Selected
                    }
                }
            };
            candidates.push(Candidate {
                name: b.name.clone(),
                iv: b.iv,
                selection,
            });
        }
        let n = y.len();
        let fit = loop {
            if kept.is_empty() {
                return Err(ScorecardError::NoVariables {
                    min_iv: opts.min_iv,
                    best: candidates
                        .first()
                        .map(|c| format!("{} {:.4}", c.name, c.iv))
                        .unwrap_or_else(|| "no candidates".into()),
                });
            }
            let p = kept.len();
            let mut x = vec![0.0; n * p];
            for (k, (_, w)) in kept.iter().enumerate() {
                for (r, v) in w.iter().enumerate() {
                    x[r * p + k] = *v;
                }
            }
            let names: Vec<String> = kept
                .iter()
                .map(|(i, _)| binnings[*i].name.clone())
                .collect();
            let fit = fit_irls(&x, p, y, &names, &opts.irls)?;
            let worst = fit
                .coefficients
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.estimate.total_cmp(&b.1.estimate))
                .map(|(k, c)| (k, c.estimate));
            match worst {
                Some((k, c)) if opts.drop_wrong_sign && c <= 0.0 => {
                    let (i, _) = kept.remove(k);
                    if let Some(cand) = candidates.iter_mut().find(|c| c.name == binnings[i].name) {
                        cand.selection = Selection::WrongSign { coefficient: c };
                    }
                }
                _ => break fit,
            }
        };
        let round = |v: f64| if opts.round_points { v.round() } else { v };
        let factor = opts.scaling.factor();
        let variables = kept
            .iter()
            .zip(&fit.coefficients)
            .map(|((i, _), c)| {
                let binning = binnings[*i].clone();
                let points = binning
                    .bins
                    .iter()
                    .map(|b| round(-factor * c.estimate * b.woe) + 0.0)
                    .collect();
                CardVariable {
                    binning,
                    coefficient: c.estimate,
                    points,
                }
            })
            .collect();
        let base_points = round(opts.scaling.offset() - factor * fit.intercept.estimate);
        Ok(Scorecard {
            binnings,
            candidates,
            variables,
            fit,
            scaling: opts.scaling,
            base_points,
        })
    }

    /// Bin of each row for each scorecard variable (`[variable][row]`).
    pub fn bin_indices(&self, features: &[NamedFeature<'_>]) -> Result<Vec<Vec<Option<usize>>>> {
        self.variables
            .iter()
            .map(|v| v.binning.bin_indices(find(features, &v.binning.name)?))
            .collect()
    }

    /// Model probability of bad per row (from the unrounded coefficients).
    pub fn predict_proba(&self, features: &[NamedFeature<'_>]) -> Result<Vec<f64>> {
        let bins = self.bin_indices(features)?;
        let n = bins.first().map_or(0, Vec::len);
        let mut eta = vec![self.fit.intercept.estimate; n];
        for (v, b) in self.variables.iter().zip(&bins) {
            for (e, k) in eta.iter_mut().zip(b) {
                if let Some(k) = k {
                    *e += v.coefficient * v.binning.bins[*k].woe;
                }
            }
        }
        Ok(eta.into_iter().map(sigmoid).collect())
    }

    /// Total score per row: base points plus the points of each variable's bin
    /// (0 for a value without a bin). Higher is better (lower risk).
    pub fn score(&self, features: &[NamedFeature<'_>]) -> Result<Vec<f64>> {
        let bins = self.bin_indices(features)?;
        let n = bins.first().map_or(0, Vec::len);
        let mut s = vec![self.base_points; n];
        for (v, b) in self.variables.iter().zip(&bins) {
            for (t, k) in s.iter_mut().zip(b) {
                if let Some(k) = k {
                    *t += v.points[*k];
                }
            }
        }
        Ok(s)
    }

    /// The points table as text: base points, then each variable's bins and points.
    pub fn render_points_table(&self) -> String {
        let s = &self.scaling;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "scaling: {} points at odds {}:1, {} points to double the odds (factor {:.4}, offset {:.4})",
            s.base_score,
            s.base_odds,
            s.pdo,
            s.factor(),
            s.offset()
        );
        let _ = writeln!(
            out,
            "{:<30} {:<44} {:>8} {:>8}",
            "variable", "bin", "woe", "points"
        );
        let _ = writeln!(
            out,
            "{:<30} {:<44} {:>8} {:>8}",
            "basepoints",
            "",
            "",
            fmt_points(self.base_points)
        );
        for v in &self.variables {
            for (b, p) in v.binning.bins.iter().zip(&v.points) {
                let _ = writeln!(
                    out,
                    "{:<30} {:<44} {:>8.4} {:>8}",
                    truncate(&v.binning.name, 30),
                    truncate(&b.label, 44),
                    b.woe,
                    fmt_points(*p)
                );
            }
        }
        let _ = writeln!(out, "\ncoefficients (logistic regression of bad on WOE):");
        let _ = writeln!(
            out,
            "{:<30} {:>10} {:>10} {:>8} {:>10}",
            "term", "estimate", "std_err", "z", "p_value"
        );
        for c in std::iter::once(&self.fit.intercept).chain(&self.fit.coefficients) {
            let _ = writeln!(
                out,
                "{:<30} {:>10.4} {:>10.4} {:>8.3} {:>10.2e}",
                truncate(&c.name, 30),
                c.estimate,
                c.std_error,
                c.z,
                c.p_value
            );
        }
        out
    }
}

/// Points as text: integers without decimals.
pub(crate) fn fmt_points(p: f64) -> String {
    if p.fract() == 0.0 {
        format!("{p:.0}")
    } else {
        format!("{p:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::pearson;

    #[test]
    fn pearson_of_a_line_is_one() {
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [2.0, 4.0, 6.0, 8.0];
        assert!((pearson(&a, &b) - 1.0).abs() < 1e-12);
        assert_eq!(pearson(&a, &[1.0; 4]), 0.0);
    }
}
