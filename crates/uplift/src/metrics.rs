//! Uplift metrics with scikit-uplift's exact definitions (`sklift.metrics`, 0.5.1), so a
//! number printed here can be compared with a number from a notebook.
//!
//! - [`qini_curve`]: after ranking by predicted uplift, at each distinct score threshold
//!   with `n_t` treated and `n_c` control rows above it, `Y_t − Y_c · n_t / n_c`, where
//!   `Y_t`, `Y_c` sum the outcome in each group: the incremental outcomes the targeted
//!   group produced, counted on the treated scale.
//! - [`uplift_curve`]: `(Y_t / n_t − Y_c / n_c) · (n_t + n_c)`.
//! - [`qini_auc_score`] and [`uplift_auc_score`]: area between the model's curve and the
//!   random-targeting diagonal, divided by the same area for the perfect ranking
//!   (trapezoidal rule over the number targeted). 1 is perfect, 0 is random. This is
//!   what the report calls the Qini coefficient and the AUUC.
//! - [`uplift_at_k`]: response rate of treated minus control among the top `k` share,
//!   either of everyone ([`AtKStrategy::Overall`]) or of each group separately
//!   ([`AtKStrategy::ByGroup`]).
//!
//! Ties are handled as scikit-uplift does: the curves are taken only at distinct scores,
//! and uplift@k ranks tied rows by descending row index (NumPy's reversed stable sort).
//!
//! scikit-uplift refuses non-binary outcomes in the normalised scores; here a
//! continuous outcome (spend) is accepted, with the perfect ranking generalised the way
//! scikit-uplift's own Qini perfect curve is built: treated rows by descending outcome,
//! then control rows by ascending outcome.

use serde::{Deserialize, Serialize};

use crate::error::UpliftError;

/// A curve over the number of customers targeted (`x[0] = 0`, increasing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    /// Customers targeted (the top of the ranking).
    pub x: Vec<f64>,
    /// Incremental outcomes among them.
    pub y: Vec<f64>,
}

impl Curve {
    /// Area under the curve by the trapezoidal rule (sklearn's `auc`).
    pub fn area(&self) -> f64 {
        trapezoid(&self.x, &self.y)
    }

    /// The curve's value at `x` targeted, interpolated linearly between points.
    pub fn value_at(&self, x: f64) -> f64 {
        if self.x.is_empty() {
            return 0.0;
        }
        let i = self.x.partition_point(|&v| v < x);
        if i == 0 {
            return self.y[0];
        }
        if i >= self.x.len() {
            return self.y[self.y.len() - 1];
        }
        let (x0, x1, y0, y1) = (self.x[i - 1], self.x[i], self.y[i - 1], self.y[i]);
        if x1 == x0 {
            y1
        } else {
            y0 + (y1 - y0) * (x - x0) / (x1 - x0)
        }
    }
}

/// Which rows uplift@k compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AtKStrategy {
    /// The top `k` share of all rows, then treated and control rate among them.
    Overall,
    /// The top `k` share of the treated rows and, separately, of the control rows. Never
    /// empty when each group has at least `1/k` rows, which is why the report uses it.
    #[default]
    ByGroup,
}

fn check_inputs(y: &[f64], score: Option<&[f64]>, treatment: &[bool]) -> Result<(), UpliftError> {
    if y.is_empty() {
        return Err(UpliftError::Empty);
    }
    if treatment.len() != y.len() {
        return Err(UpliftError::LengthMismatch {
            what: "treatment",
            expected: y.len(),
            found: treatment.len(),
        });
    }
    if let Some((row, &value)) = y.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(UpliftError::NotFinite {
            what: "outcome",
            row,
            value,
        });
    }
    if let Some(s) = score {
        if s.len() != y.len() {
            return Err(UpliftError::LengthMismatch {
                what: "uplift scores",
                expected: y.len(),
                found: s.len(),
            });
        }
        if let Some((row, &value)) = s.iter().enumerate().find(|(_, v)| v.is_nan()) {
            return Err(UpliftError::NotFinite {
                what: "uplift score",
                row,
                value,
            });
        }
    }
    if !treatment.iter().any(|&t| t) {
        return Err(UpliftError::EmptyArm {
            arm: "treated".into(),
        });
    }
    if treatment.iter().all(|&t| t) {
        return Err(UpliftError::EmptyArm {
            arm: "control".into(),
        });
    }
    Ok(())
}

/// Row indices by descending score, ties by descending index: NumPy's
/// `argsort(score, kind="mergesort")[::-1]`.
pub fn descending_order(score: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]).then(b.cmp(&a)));
    order
}

/// Cumulative sums at each distinct-score threshold: (targeted, treated, treated outcome,
/// control outcome).
fn cumulative(y: &[f64], score: &[f64], treatment: &[bool]) -> Vec<(f64, f64, f64, f64)> {
    let order = descending_order(score);
    let mut out = Vec::new();
    let (mut n_t, mut y_t, mut y_c) = (0.0, 0.0, 0.0);
    for (pos, &i) in order.iter().enumerate() {
        if treatment[i] {
            n_t += 1.0;
            y_t += y[i];
        } else {
            y_c += y[i];
        }
        let last = pos + 1 == order.len();
        // NumPy's `np.diff(score) != 0`: -0.0 and 0.0 are one threshold.
        if last || score[order[pos + 1]] != score[i] {
            out.push(((pos + 1) as f64, n_t, y_t, y_c));
        }
    }
    out
}

fn with_origin(x: Vec<f64>, y: Vec<f64>) -> Curve {
    // The first threshold has at least one row, so scikit-uplift always prepends (0, 0).
    let mut cx = Vec::with_capacity(x.len() + 1);
    let mut cy = Vec::with_capacity(y.len() + 1);
    cx.push(0.0);
    cy.push(0.0);
    cx.extend(x);
    cy.extend(y);
    Curve { x: cx, y: cy }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b != 0.0 { a / b } else { 0.0 }
}

/// The Qini curve (`sklift.metrics.qini_curve`).
pub fn qini_curve(y: &[f64], uplift: &[f64], treatment: &[bool]) -> Result<Curve, UpliftError> {
    check_inputs(y, Some(uplift), treatment)?;
    let (x, v) = cumulative(y, uplift, treatment)
        .into_iter()
        .map(|(n, n_t, y_t, y_c)| (n, y_t - y_c * ratio(n_t, n - n_t)))
        .unzip();
    Ok(with_origin(x, v))
}

/// The uplift curve (`sklift.metrics.uplift_curve`).
pub fn uplift_curve(y: &[f64], uplift: &[f64], treatment: &[bool]) -> Result<Curve, UpliftError> {
    check_inputs(y, Some(uplift), treatment)?;
    let (x, v) = cumulative(y, uplift, treatment)
        .into_iter()
        .map(|(n, n_t, y_t, y_c)| (n, (ratio(y_t, n_t) - ratio(y_c, n - n_t)) * n))
        .unzip();
    Ok(with_origin(x, v))
}

fn is_binary(y: &[f64]) -> bool {
    y.iter().all(|&v| v == 0.0 || v == 1.0)
}

/// The oracle ranking for the Qini curve with negative effects allowed: treated
/// responders first, control responders last (`y·t − y·(1−t)`).
fn perfect_qini_scores(y: &[f64], treatment: &[bool]) -> Vec<f64> {
    y.iter()
        .zip(treatment)
        .map(|(&v, &t)| if t { v } else { -v })
        .collect()
}

/// The best achievable Qini curve (`sklift.metrics.perfect_qini_curve`). With
/// `negative_effect = false` it is the "no sleeping dogs" curve: every incremental
/// outcome found at once, then flat.
pub fn perfect_qini_curve(
    y: &[f64],
    treatment: &[bool],
    negative_effect: bool,
) -> Result<Curve, UpliftError> {
    check_inputs(y, None, treatment)?;
    if negative_effect {
        return qini_curve(y, &perfect_qini_scores(y, treatment), treatment);
    }
    let (mut n_t, mut n_c, mut y_t, mut y_c) = (0.0, 0.0, 0.0, 0.0);
    for (&v, &t) in y.iter().zip(treatment) {
        if t {
            n_t += 1.0;
            y_t += v;
        } else {
            n_c += 1.0;
            y_c += v;
        }
    }
    let r = y_t - n_t * y_c / n_c;
    Ok(Curve {
        x: vec![0.0, r, y.len() as f64],
        y: vec![0.0, r, r],
    })
}

/// The best achievable uplift curve (`sklift.metrics.perfect_uplift_curve`).
pub fn perfect_uplift_curve(y: &[f64], treatment: &[bool]) -> Result<Curve, UpliftError> {
    check_inputs(y, None, treatment)?;
    if !is_binary(y) {
        return uplift_curve(y, &perfect_qini_scores(y, treatment), treatment);
    }
    let control_responders = y
        .iter()
        .zip(treatment)
        .filter(|&(&v, &t)| v == 1.0 && !t)
        .count();
    let treated_non_responders = y
        .iter()
        .zip(treatment)
        .filter(|&(&v, &t)| v == 0.0 && t)
        .count();
    let scores: Vec<f64> = y
        .iter()
        .zip(treatment)
        .map(|(&v, &t)| {
            let tf = if t { 1.0 } else { 0.0 };
            let summand = if control_responders > treated_non_responders {
                v
            } else {
                tf
            };
            2.0 * if v == tf { 1.0 } else { 0.0 } + summand
        })
        .collect();
    uplift_curve(y, &scores, treatment)
}

fn normalised(actual: &Curve, perfect: &Curve) -> Result<f64, UpliftError> {
    let (Some(&px), Some(&py)) = (perfect.x.last(), perfect.y.last()) else {
        return Err(UpliftError::Empty);
    };
    let baseline = trapezoid(&[0.0, px], &[0.0, py]);
    let perfect_area = perfect.area() - baseline;
    if perfect_area == 0.0 || !perfect_area.is_finite() {
        return Err(UpliftError::DegenerateCurve);
    }
    Ok((actual.area() - baseline) / perfect_area)
}

/// The normalised Qini coefficient (`sklift.metrics.qini_auc_score`): the area between
/// the Qini curve and the random diagonal over that of the perfect curve.
pub fn qini_auc_score(
    y: &[f64],
    uplift: &[f64],
    treatment: &[bool],
    negative_effect: bool,
) -> Result<f64, UpliftError> {
    let actual = qini_curve(y, uplift, treatment)?;
    let perfect = perfect_qini_curve(y, treatment, negative_effect)?;
    normalised(&actual, &perfect)
}

/// The normalised area under the uplift curve (`sklift.metrics.uplift_auc_score`).
pub fn uplift_auc_score(y: &[f64], uplift: &[f64], treatment: &[bool]) -> Result<f64, UpliftError> {
    let actual = uplift_curve(y, uplift, treatment)?;
    let perfect = perfect_uplift_curve(y, treatment)?;
    normalised(&actual, &perfect)
}

/// Treated minus control mean outcome among the top `k` share by predicted uplift
/// (`sklift.metrics.uplift_at_k` with a float `k`).
pub fn uplift_at_k(
    y: &[f64],
    uplift: &[f64],
    treatment: &[bool],
    strategy: AtKStrategy,
    k: f64,
) -> Result<f64, UpliftError> {
    check_inputs(y, Some(uplift), treatment)?;
    if !(k > 0.0 && k < 1.0) {
        return Err(UpliftError::InvalidK { k });
    }
    let order = descending_order(uplift);
    let mean = |rows: &mut dyn Iterator<Item = usize>, group: &'static str| {
        let (mut s, mut n) = (0.0, 0usize);
        for i in rows {
            s += y[i];
            n += 1;
        }
        if n == 0 {
            Err(UpliftError::EmptyGroupAtK { k, group })
        } else {
            Ok(s / n as f64)
        }
    };
    match strategy {
        AtKStrategy::Overall => {
            // Python's int(n * k): truncation of the same f64 product.
            let n_size = (y.len() as f64 * k) as usize;
            let top = &order[..n_size];
            let treated = mean(
                &mut top.iter().copied().filter(|&i| treatment[i]),
                "treated",
            )?;
            let control = mean(
                &mut top.iter().copied().filter(|&i| !treatment[i]),
                "control",
            )?;
            Ok(treated - control)
        }
        AtKStrategy::ByGroup => {
            let n_t = treatment.iter().filter(|&&t| t).count();
            let n_c = treatment.len() - n_t;
            let take_t = (n_t as f64 * k) as usize;
            let take_c = (n_c as f64 * k) as usize;
            let treated = mean(
                &mut order.iter().copied().filter(|&i| treatment[i]).take(take_t),
                "treated",
            )?;
            let control = mean(
                &mut order
                    .iter()
                    .copied()
                    .filter(|&i| !treatment[i])
                    .take(take_c),
                "control",
            )?;
            Ok(treated - control)
        }
    }
}

/// Trapezoidal area, as `sklearn.metrics.auc` for increasing `x`.
fn trapezoid(x: &[f64], y: &[f64]) -> f64 {
    x.windows(2)
        .zip(y.windows(2))
        .map(|(xs, ys)| (xs[1] - xs[0]) * (ys[0] + ys[1]) / 2.0)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_checked_qini_curve() {
        // Ranked: (t,1) (c,0) (t,0) (c,1): after 2 rows, 1 treated responder, 1 control
        // non-responder: 1 − 0·1/1 = 1; after 4: 1 − 1·2/2 = 0.
        let y = [1.0, 0.0, 0.0, 1.0];
        let s = [4.0, 3.0, 2.0, 1.0];
        let t = [true, false, true, false];
        let c = qini_curve(&y, &s, &t).unwrap();
        assert_eq!(c.x, vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(c.y, vec![0.0, 1.0, 1.0, 1.0, 0.0]);
        // Uplift curve after 2 rows: (1/1 − 0/1)·2 = 2.
        assert_eq!(uplift_curve(&y, &s, &t).unwrap().y[2], 2.0);
    }

    #[test]
    fn perfect_ranking_scores_one_and_reverse_scores_below_zero() {
        let y = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0];
        let t = [true, true, false, false, true, false, true, false];
        let perfect = perfect_qini_scores(&y, &t);
        assert!((qini_auc_score(&y, &perfect, &t, true).unwrap() - 1.0).abs() < 1e-12);
        let reverse: Vec<f64> = perfect.iter().map(|v| -v).collect();
        assert!(qini_auc_score(&y, &reverse, &t, true).unwrap() < 0.0);
        // A constant score is one threshold: the curve is the diagonal, area 0.
        let flat = [0.5; 8];
        assert!(qini_auc_score(&y, &flat, &t, true).unwrap().abs() < 1e-12);
    }

    #[test]
    fn ties_are_grouped_into_one_threshold() {
        let y = [1.0, 0.0, 1.0, 0.0];
        let t = [true, false, false, true];
        let c = qini_curve(&y, &[1.0, 1.0, 0.0, 0.0], &t).unwrap();
        assert_eq!(c.x, vec![0.0, 2.0, 4.0]);
    }

    #[test]
    fn bad_inputs_are_refused() {
        let y = [1.0, 0.0];
        assert!(matches!(
            qini_curve(&y, &[1.0], &[true, false]),
            Err(UpliftError::LengthMismatch { .. })
        ));
        assert!(matches!(
            qini_curve(&y, &[1.0, f64::NAN], &[true, false]),
            Err(UpliftError::NotFinite { row: 1, .. })
        ));
        assert!(matches!(
            qini_curve(&y, &[1.0, 0.0], &[true, true]),
            Err(UpliftError::EmptyArm { .. })
        ));
        assert!(matches!(
            uplift_at_k(&y, &[1.0, 0.0], &[true, false], AtKStrategy::ByGroup, 1.0),
            Err(UpliftError::InvalidK { .. })
        ));
        // Top 50% of 2 rows holds only the treated row.
        assert!(matches!(
            uplift_at_k(&y, &[1.0, 0.0], &[true, false], AtKStrategy::Overall, 0.5),
            Err(UpliftError::EmptyGroupAtK {
                group: "control",
                ..
            })
        ));
        assert!(matches!(
            qini_auc_score(&[0.0, 0.0], &[1.0, 0.0], &[true, false], true),
            Err(UpliftError::DegenerateCurve)
        ));
    }

    #[test]
    fn value_at_interpolates() {
        let c = Curve {
            x: vec![0.0, 2.0, 4.0],
            y: vec![0.0, 4.0, 2.0],
        };
        assert_eq!(c.value_at(1.0), 2.0);
        assert_eq!(c.value_at(3.0), 3.0);
        assert_eq!(c.value_at(9.0), 2.0);
    }
}
