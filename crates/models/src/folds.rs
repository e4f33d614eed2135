//! Stratified K-fold splits, deterministic by seed.
//!
//! Each class's rows are shuffled with a seeded PCG generator, the classes are laid end
//! to end, and row `i` of that sequence goes to fold `i mod k`. So every fold holds each
//! class in proportion (within one row) and the fold sizes differ by at most one. The
//! same labels and seed give the same folds on every machine, which is what lets a
//! benchmark script hand the very same folds to a peer library.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

/// Errors from making folds.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FoldError {
    #[error("need at least 2 folds, got {0}")]
    TooFewFolds(usize),
    #[error("class {class} has {count} rows, fewer than the {k} folds; use fewer folds")]
    ClassTooSmall {
        class: String,
        count: usize,
        k: usize,
    },
    #[error("label at row {row} is NaN; stratification needs a label on every row")]
    NanLabel { row: usize },
}

/// One train/test split: indices into the original rows, each list ascending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fold {
    pub train: Vec<usize>,
    pub test: Vec<usize>,
}

/// Fold number (0-based) of every row, from the folds of [`stratified_k_fold`].
pub fn fold_assignment(folds: &[Fold], n_rows: usize) -> Vec<usize> {
    let mut out = vec![usize::MAX; n_rows];
    for (f, fold) in folds.iter().enumerate() {
        for &i in &fold.test {
            out[i] = f;
        }
    }
    out
}

/// Splits rows into `k` folds stratified by `labels` (any discrete values: 0/1, class
/// indices). Deterministic for a given `seed`.
pub fn stratified_k_fold(labels: &[f64], k: usize, seed: u64) -> Result<Vec<Fold>, FoldError> {
    if k < 2 {
        return Err(FoldError::TooFewFolds(k));
    }
    if let Some(row) = labels.iter().position(|v| v.is_nan()) {
        return Err(FoldError::NanLabel { row });
    }
    // Classes in ascending label order, so the result does not depend on row order.
    let mut classes: Vec<f64> = labels.to_vec();
    classes.sort_by(f64::total_cmp);
    classes.dedup();
    let mut rng = Pcg64::seed_from_u64(seed);
    let mut order: Vec<usize> = Vec::with_capacity(labels.len());
    for &c in &classes {
        let mut rows: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == c).collect();
        if rows.len() < k {
            return Err(FoldError::ClassTooSmall {
                class: c.to_string(),
                count: rows.len(),
                k,
            });
        }
        rows.shuffle(&mut rng);
        order.extend(rows);
    }
    let mut test: Vec<Vec<usize>> = vec![Vec::new(); k];
    for (i, &row) in order.iter().enumerate() {
        test[i % k].push(row);
    }
    let mut assignment = vec![0usize; labels.len()];
    for (f, rows) in test.iter_mut().enumerate() {
        rows.sort_unstable();
        for &r in rows.iter() {
            assignment[r] = f;
        }
    }
    Ok(test
        .into_iter()
        .enumerate()
        .map(|(f, test)| Fold {
            train: (0..labels.len()).filter(|&i| assignment[i] != f).collect(),
            test,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hand_checked_small_case() {
        // 6 negatives, 4 positives, 2 folds: each fold gets 3 negatives and 2 positives.
        let y = [0., 0., 1., 0., 1., 0., 1., 0., 1., 0.];
        let folds = stratified_k_fold(&y, 2, 7).unwrap();
        for f in &folds {
            assert_eq!(f.test.len(), 5);
            assert_eq!(f.test.iter().filter(|&&i| y[i] == 1.0).count(), 2);
        }
    }

    #[test]
    fn errors() {
        assert_eq!(
            stratified_k_fold(&[0.0, 1.0], 1, 0),
            Err(FoldError::TooFewFolds(1))
        );
        assert!(matches!(
            stratified_k_fold(&[0.0, 0.0, 0.0, 1.0], 2, 0),
            Err(FoldError::ClassTooSmall { count: 1, k: 2, .. })
        ));
        assert_eq!(
            stratified_k_fold(&[0.0, f64::NAN], 2, 0),
            Err(FoldError::NanLabel { row: 1 })
        );
    }

    proptest! {
        #[test]
        fn folds_partition_and_stratify(
            labels in proptest::collection::vec(0u8..3, 30..300),
            k in 2usize..8,
            seed in any::<u64>(),
        ) {
            let y: Vec<f64> = labels.iter().map(|&v| v as f64).collect();
            let Ok(folds) = stratified_k_fold(&y, k, seed) else {
                // Only allowed when some class is smaller than k.
                let mut counts = [0usize; 3];
                for &l in &labels { counts[l as usize] += 1; }
                prop_assert!(counts.iter().any(|&c| c > 0 && c < k));
                return Ok(());
            };
            prop_assert_eq!(folds.len(), k);
            let assignment = fold_assignment(&folds, y.len());
            prop_assert!(assignment.iter().all(|&f| f < k));
            let sizes: Vec<usize> = folds.iter().map(|f| f.test.len()).collect();
            prop_assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
            for f in &folds {
                prop_assert_eq!(f.train.len() + f.test.len(), y.len());
                prop_assert!(f.train.iter().all(|i| f.test.binary_search(i).is_err()));
            }
            for class in 0..3u8 {
                let total = labels.iter().filter(|&&l| l == class).count();
                for f in &folds {
                    let n = f.test.iter().filter(|&&i| labels[i] == class).count();
                    // Proportional within one row.
                    prop_assert!(n * k <= total + k && n * k + k >= total);
                }
            }
            prop_assert_eq!(stratified_k_fold(&y, k, seed).unwrap(), folds);
        }
    }
}
