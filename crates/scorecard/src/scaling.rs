//! Points scaling: `score = offset + factor · ln(odds of good)`, with
//! `factor = PDO / ln 2` and `offset = base_score − factor · ln(base_odds)`.
//!
//! So the score is `base_score` where good:bad odds are `base_odds`, and every `pdo` points
//! double the odds. With the model's log-odds of **bad** `η = β₀ + Σ βⱼ·WOEⱼ`,
//! `score = offset − factor·η = (offset − factor·β₀) + Σ (−factor·βⱼ·WOEⱼ)`: the first term
//! is the base points, each summand the points of the applicant's bin of variable j.

use crate::logistic::sigmoid;
use serde::{Deserialize, Serialize};

/// Score scaling parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scaling {
    /// Points to double the odds.
    pub pdo: f64,
    /// Score at `base_odds`.
    pub base_score: f64,
    /// Good:bad odds at `base_score` (50 means 50:1).
    pub base_odds: f64,
}

impl Default for Scaling {
    /// 600 points at 50:1, 20 points to double the odds.
    fn default() -> Self {
        Self {
            pdo: 20.0,
            base_score: 600.0,
            base_odds: 50.0,
        }
    }
}

impl Scaling {
    /// Points per unit of ln-odds.
    pub fn factor(&self) -> f64 {
        self.pdo / std::f64::consts::LN_2
    }

    /// Score at even odds (1:1).
    pub fn offset(&self) -> f64 {
        self.base_score - self.factor() * self.base_odds.ln()
    }

    /// Score of a log-odds of bad.
    pub fn score_of_logit(&self, logit_bad: f64) -> f64 {
        self.offset() - self.factor() * logit_bad
    }

    /// Probability of bad at a score (the inverse of [`Scaling::score_of_logit`]).
    pub fn prob_bad_of_score(&self, score: f64) -> f64 {
        sigmoid((self.offset() - score) / self.factor())
    }

    /// Check the parameters make sense.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |option, value: f64, hint| {
            Err(crate::ScorecardError::Option {
                option,
                value: value.to_string(),
                hint,
            })
        };
        if !(self.pdo > 0.0 && self.pdo.is_finite()) {
            return bad(
                "pdo",
                self.pdo,
                "points to double the odds must be > 0, e.g. 20",
            );
        }
        if !(self.base_odds > 0.0 && self.base_odds.is_finite()) {
            return bad(
                "base_odds",
                self.base_odds,
                "good:bad odds must be > 0, e.g. 50",
            );
        }
        if !self.base_score.is_finite() {
            return bad(
                "base_score",
                self.base_score,
                "use a finite score, e.g. 600",
            );
        }
        Ok(())
    }
}
