//! Rule-based models: last touch, first touch, linear, time decay and position based.
//! Each splits a path's conversions and value over its touches by fixed weights, so the
//! credits of every model sum to the converting paths' totals.

use crate::paths::{PathRef, Paths};

/// The weights of one rule, chosen by [`crate::Model`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rule {
    LastTouch,
    FirstTouch,
    Linear,
    /// Weight 2^(-age / half_life); without touch times the age is the number of touches
    /// before the last one, in units of `half_life` touches.
    TimeDecay {
        half_life_days: f64,
    },
    /// (first, middle, last) shares; two-touch paths split first + last evenly.
    PositionBased {
        first: f64,
        middle: f64,
        last: f64,
    },
}

/// Fills `w` with the weights of `path`'s touches (summing to 1).
fn weights(rule: Rule, path: &PathRef<'_>, w: &mut Vec<f64>) {
    let n = path.steps.len();
    w.clear();
    w.resize(n, 0.0);
    match rule {
        Rule::LastTouch => w[n - 1] = 1.0,
        Rule::FirstTouch => w[0] = 1.0,
        Rule::Linear => w.fill(1.0 / n as f64),
        Rule::TimeDecay { half_life_days } => {
            for (i, wi) in w.iter_mut().enumerate() {
                let age = match path.ages_days {
                    Some(a) => a[i],
                    None => (n - 1 - i) as f64,
                };
                *wi = (-age / half_life_days).exp2();
            }
            // Divide by the sum; the last touch has weight >= 2^(-lookback/h) > 0.
            let s: f64 = w.iter().sum();
            if s > 0.0 && s.is_finite() {
                w.iter_mut().for_each(|x| *x /= s);
            } else {
                w.fill(0.0);
                w[n - 1] = 1.0;
            }
        }
        Rule::PositionBased {
            first,
            middle,
            last,
        } => match n {
            1 => w[0] = 1.0,
            2 => {
                let s = first + last;
                w[0] = first / s;
                w[1] = last / s;
            }
            _ => {
                let total = first + middle + last;
                w[0] = first / total;
                w[n - 1] = last / total;
                let m = middle / total / (n - 2) as f64;
                w[1..n - 1].fill(m);
            }
        },
    }
}

/// Conversions and value credited to each channel by `rule`.
pub(crate) fn attribute_rule(paths: &Paths, rule: Rule) -> (Vec<f64>, Vec<f64>) {
    let k = paths.channels().len();
    let (mut conv, mut value) = (vec![0.0; k], vec![0.0; k]);
    let mut w = Vec::new();
    for p in paths.iter().filter(|p| p.conversions > 0.0) {
        weights(rule, &p, &mut w);
        for (&ch, &wi) in p.steps.iter().zip(&w) {
            conv[ch as usize] += wi * p.conversions;
            value[ch as usize] += wi * p.value;
        }
    }
    (conv, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(rule: Rule, steps: &[&str], ages: Option<&[f64]>) -> Vec<f64> {
        let mut p = Paths::new();
        let ids: Vec<u32> = steps.iter().map(|s| p.channel_id(s)).collect();
        match ages {
            Some(a) => {
                let s: Vec<(u32, f64)> = ids.iter().copied().zip(a.iter().copied()).collect();
                p.push_timed(&s, 1.0, 0.0, 10.0).unwrap();
            }
            None => p.push_ids(&ids, 1.0, 0.0, 10.0).unwrap(),
        }
        let (c, v) = attribute_rule(&p, rule);
        for (a, b) in c.iter().zip(&v) {
            assert!((a * 10.0 - b).abs() < 1e-12);
        }
        c
    }

    #[test]
    fn rule_weights() {
        assert_eq!(
            one(Rule::LastTouch, &["a", "b", "c"], None),
            [0.0, 0.0, 1.0]
        );
        assert_eq!(one(Rule::FirstTouch, &["a", "b", "a"], None), [1.0, 0.0]);
        let l = one(Rule::Linear, &["a", "b", "a"], None);
        assert!((l[0] - 2.0 / 3.0).abs() < 1e-15 && (l[1] - 1.0 / 3.0).abs() < 1e-15);
        let pb = Rule::PositionBased {
            first: 0.4,
            middle: 0.2,
            last: 0.4,
        };
        let u = one(pb, &["a", "b", "c", "d"], None);
        assert!((u[0] - 0.4).abs() < 1e-15 && (u[1] - 0.1).abs() < 1e-15);
        assert_eq!(one(pb, &["a", "b"], None), [0.5, 0.5]);
        // Half-life 7 days: a touch 7 days old weighs half of one at the conversion.
        let td = Rule::TimeDecay {
            half_life_days: 7.0,
        };
        let t = one(td, &["a", "b"], Some(&[7.0, 0.0]));
        assert!((t[0] - 1.0 / 3.0).abs() < 1e-15 && (t[1] - 2.0 / 3.0).abs() < 1e-15);
        // Without times each earlier touch is one half-life-unit further away.
        let td1 = Rule::TimeDecay {
            half_life_days: 1.0,
        };
        let t = one(td1, &["a", "b", "c"], None);
        assert!((t[0] - 1.0 / 7.0).abs() < 1e-15 && (t[2] - 4.0 / 7.0).abs() < 1e-15);
    }
}
