//! Decisions under a cost matrix: pick the probability threshold that minimises the total
//! misclassification cost, as UCI's German credit task asks (a bad applicant accepted costs
//! 5, a good one rejected costs 1).

use serde::{Deserialize, Serialize};

/// Costs of the two errors.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CostMatrix {
    /// Cost of accepting a bad case (predicting good when it is bad).
    pub bad_accepted: f64,
    /// Cost of rejecting a good case (predicting bad when it is good).
    pub good_rejected: f64,
}

impl CostMatrix {
    /// UCI Statlog German credit: 5 for a bad accepted, 1 for a good rejected.
    pub const GERMAN_CREDIT: CostMatrix = CostMatrix {
        bad_accepted: 5.0,
        good_rejected: 1.0,
    };

    /// Total cost of rejecting every row with `p_bad >= threshold`.
    pub fn total_cost(&self, p_bad: &[f64], y: &[bool], threshold: f64) -> f64 {
        p_bad
            .iter()
            .zip(y)
            .map(|(&p, &bad)| match (p >= threshold, bad) {
                (false, true) => self.bad_accepted,
                (true, false) => self.good_rejected,
                _ => 0.0,
            })
            .sum()
    }

    /// The threshold on `p_bad` with the least total cost on these rows (ties: the lowest
    /// threshold), and that cost. Candidates are the observed probabilities plus "reject
    /// none" (+∞).
    pub fn best_threshold(&self, p_bad: &[f64], y: &[bool]) -> (f64, f64) {
        let mut idx: Vec<usize> = (0..p_bad.len()).collect();
        idx.sort_by(|&a, &b| p_bad[b].total_cmp(&p_bad[a]));
        // Start by accepting everyone, then reject rows from the riskiest down.
        let bads = y.iter().filter(|&&b| b).count() as f64;
        let mut cost = bads * self.bad_accepted;
        let mut best = (f64::INFINITY, cost);
        let mut i = 0;
        while i < idx.len() {
            let t = p_bad[idx[i]];
            while i < idx.len() && p_bad[idx[i]] == t {
                cost += if y[idx[i]] {
                    -self.bad_accepted
                } else {
                    self.good_rejected
                };
                i += 1;
            }
            if cost <= best.1 {
                best = (t, cost);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_threshold_by_hand() {
        // p: 0.9 bad, 0.6 good, 0.4 bad, 0.2 good, 0.1 good.
        // reject none: 2*5 = 10; >=0.9: 5; >=0.6: 5+1 = 6; >=0.4: 1; >=0.2: 2; >=0.1: 3.
        let p = [0.9, 0.6, 0.4, 0.2, 0.1];
        let y = [true, false, true, false, false];
        let (t, c) = CostMatrix::GERMAN_CREDIT.best_threshold(&p, &y);
        assert_eq!((t, c), (0.4, 1.0));
        assert_eq!(CostMatrix::GERMAN_CREDIT.total_cost(&p, &y, t), 1.0);
        assert_eq!(CostMatrix::GERMAN_CREDIT.total_cost(&p, &y, 0.6), 6.0);
    }
}
