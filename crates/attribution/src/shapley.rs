//! Shapley-value attribution over channel coalitions (Zhao et al. 2018, "Shapley value methods
//! for attribution modeling in online advertising").
//!
//! The worth of a coalition S is the conversions (or value) of the paths whose channel set is
//! a subset of S: v(S) = sum over observed sets T ⊆ S of r(T). Channels are the players; each
//! gets its average marginal contribution over all orders of joining.
//!
//! Up to [`DEFAULT_MAX_EXACT`] players the game is evaluated exactly: r is laid out over all
//! 2^n coalitions, v is its subset-sum (zeta) transform, and the Shapley formula runs over
//! every coalition. Beyond that the same numbers follow from the game's unanimity expansion
//! (each observed set T splits r(T) evenly among its members), which is what this v implies.

use rustc_hash::FxHashMap as HashMap;

use serde::{Deserialize, Serialize};

use crate::error::{AttributionError, Result};
use crate::paths::Paths;

/// Players up to which the exact subset DP runs (2^20 coalitions: 16 MiB, well under a second).
pub const DEFAULT_MAX_EXACT: usize = 20;

/// Paths aggregated by their set of distinct channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelSet {
    /// Sorted, distinct channel ids.
    pub channels: Vec<u32>,
    pub conversions: f64,
    pub non_conversions: f64,
    pub value: f64,
}

/// Aggregates paths by their channel set, sorted by the set.
pub fn channel_sets(paths: &Paths) -> Vec<ChannelSet> {
    let mut map: HashMap<Vec<u32>, (f64, f64, f64)> = HashMap::default();
    let mut buf = Vec::new();
    for p in paths.iter() {
        buf.clear();
        buf.extend_from_slice(p.steps);
        buf.sort_unstable();
        buf.dedup();
        let e = match map.get_mut(buf.as_slice()) {
            Some(e) => e,
            None => map.entry(buf.clone()).or_default(),
        };
        e.0 += p.conversions;
        e.1 += p.non_conversions;
        e.2 += p.value;
    }
    let mut out: Vec<ChannelSet> = map
        .into_iter()
        .map(|(channels, (c, n, v))| ChannelSet {
            channels,
            conversions: c,
            non_conversions: n,
            value: v,
        })
        .collect();
    out.sort_unstable_by(|a, b| a.channels.cmp(&b.channels));
    out
}

/// How the Shapley values were computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShapleyMethod {
    /// Zeta transform over all 2^n coalitions, then the Shapley formula.
    ExactSubsetDp,
    /// Unanimity expansion (for more players than the DP allows).
    UnanimityExpansion,
}

/// The Shapley model's result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShapleyResult {
    pub method: ShapleyMethod,
    /// Channels that appear on converting paths (the others are null players, credit 0).
    pub players: usize,
    #[serde(skip)]
    pub conversions: Vec<f64>,
    #[serde(skip)]
    pub value: Vec<f64>,
    /// The ordered variant: each channel's conversions split by the position (1, 2, ...;
    /// the last bucket holds later positions) at which it first appears among the path's
    /// distinct channels. Rows sum to the channel's Shapley value.
    pub ordered: Vec<OrderedShapley>,
}

/// One channel's Shapley conversions by position of first appearance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OrderedShapley {
    pub channel: String,
    pub by_position: Vec<f64>,
}

/// Positions reported by the ordered variant; later ones share the last bucket.
pub const ORDERED_POSITIONS: usize = 6;

/// Zhao et al.'s ordered Shapley value for v(S) = conversions of paths within S: every
/// path's conversions split evenly over its distinct channels, booked at the position where
/// each channel first appears.
fn ordered_shapley(paths: &Paths) -> Vec<OrderedShapley> {
    let k = paths.channels().len();
    let mut table = vec![vec![0.0; ORDERED_POSITIONS]; k];
    let mut distinct: Vec<u32> = Vec::new();
    for p in paths.iter().filter(|p| p.conversions > 0.0) {
        distinct.clear();
        for &c in p.steps {
            if !distinct.contains(&c) {
                distinct.push(c);
            }
        }
        let share = p.conversions / distinct.len() as f64;
        for (pos, &c) in distinct.iter().enumerate() {
            table[c as usize][pos.min(ORDERED_POSITIONS - 1)] += share;
        }
    }
    paths
        .channels()
        .iter()
        .zip(table)
        .map(|(name, by_position)| OrderedShapley {
            channel: name.clone(),
            by_position,
        })
        .collect()
}

/// Shapley values per channel id, exactly by subset DP when at most `max_exact` channels
/// convert, else by the unanimity expansion.
pub fn shapley(paths: &Paths, max_exact: usize) -> Result<ShapleyResult> {
    if max_exact > 26 {
        return Err(AttributionError::Option {
            option: "shapley_max_exact_channels",
            message: format!(
                "at most 26 (2^26 coalitions already take 1 GiB), got {max_exact}; larger games use the unanimity expansion"
            ),
        });
    }
    let k = paths.channels().len();
    let sets: Vec<ChannelSet> = channel_sets(paths)
        .into_iter()
        .filter(|s| s.conversions > 0.0)
        .collect();
    let mut players: Vec<u32> = sets
        .iter()
        .flat_map(|s| s.channels.iter().copied())
        .collect();
    players.sort_unstable();
    players.dedup();
    let n = players.len();
    let (mut conv, mut value) = (vec![0.0; k], vec![0.0; k]);
    if n <= max_exact {
        let mut local = vec![u32::MAX; k];
        for (i, &p) in players.iter().enumerate() {
            local[p as usize] = i as u32;
        }
        let size = 1usize << n;
        let (mut vc, mut vv) = (vec![0.0; size], vec![0.0; size]);
        for s in &sets {
            let mask = s
                .channels
                .iter()
                .fold(0usize, |m, &c| m | 1 << local[c as usize]);
            vc[mask] += s.conversions;
            vv[mask] += s.value;
        }
        // Zeta transform: v(S) = sum of r(T) over T ⊆ S.
        for i in 0..n {
            let bit = 1usize << i;
            for m in 0..size {
                if m & bit != 0 {
                    vc[m] += vc[m ^ bit];
                    vv[m] += vv[m ^ bit];
                }
            }
        }
        // w[s] = s! (n - s - 1)! / n! = 1 / (n * C(n - 1, s)).
        let mut w = vec![0.0; n.max(1)];
        let mut binom = 1.0f64;
        for (s, ws) in w.iter_mut().enumerate() {
            *ws = 1.0 / (n as f64 * binom);
            binom = binom * (n - 1 - s) as f64 / (s + 1) as f64;
        }
        for (j, &p) in players.iter().enumerate() {
            let bit = 1usize << j;
            let (mut fc, mut fv) = (0.0, 0.0);
            for m in 0..size {
                if m & bit == 0 {
                    let ws = w[m.count_ones() as usize];
                    fc += ws * (vc[m | bit] - vc[m]);
                    fv += ws * (vv[m | bit] - vv[m]);
                }
            }
            conv[p as usize] = fc;
            value[p as usize] = fv;
        }
        Ok(ShapleyResult {
            method: ShapleyMethod::ExactSubsetDp,
            players: n,
            conversions: conv,
            value,
            ordered: ordered_shapley(paths),
        })
    } else {
        for s in &sets {
            let share = 1.0 / s.channels.len() as f64;
            for &c in &s.channels {
                conv[c as usize] += s.conversions * share;
                value[c as usize] += s.value * share;
            }
        }
        Ok(ShapleyResult {
            method: ShapleyMethod::UnanimityExpansion,
            players: n,
            conversions: conv,
            value,
            ordered: ordered_shapley(paths),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dp_matches_unanimity_expansion() {
        let mut p = Paths::new();
        let rows: &[(&[&str], f64, f64)] = &[
            (&["a"], 3.0, 30.0),
            (&["a", "b"], 2.0, 5.0),
            (&["b", "c", "b"], 1.0, 1.0),
            (&["c", "a", "d"], 4.0, 8.0),
            (&["d"], 0.0, 0.0),
        ];
        for (s, c, v) in rows {
            p.push(s, *c, 1.0, *v).unwrap();
        }
        let exact = shapley(&p, 20).unwrap();
        let expansion = shapley(&p, 0).unwrap();
        // Ordered variant: "c > a > d" books a's 4/3 at position 2, the rest at position 1.
        let a = &exact.ordered[0].by_position;
        assert!((a[0] - 4.0).abs() < 1e-12 && (a[1] - 4.0 / 3.0).abs() < 1e-12);
        for (c, row) in exact.ordered.iter().enumerate() {
            let total: f64 = row.by_position.iter().sum();
            assert!((total - exact.conversions[c]).abs() < 1e-12);
        }
        assert_eq!(exact.method, ShapleyMethod::ExactSubsetDp);
        assert_eq!(expansion.method, ShapleyMethod::UnanimityExpansion);
        for c in 0..4 {
            assert!((exact.conversions[c] - expansion.conversions[c]).abs() < 1e-12);
            assert!((exact.value[c] - expansion.value[c]).abs() < 1e-12);
        }
        // a: 3 + 2/2 + 4/3.
        assert!((exact.conversions[0] - (3.0 + 1.0 + 4.0 / 3.0)).abs() < 1e-12);
    }

    #[test]
    fn option_is_checked() {
        assert!(shapley(&Paths::new(), 40).is_err());
    }
}
