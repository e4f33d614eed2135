//! Channel synergy: which channels work better together than apart, as matrices for a heatmap.
//!
//! With the Shapley game's worth v(S) (conversions of paths whose channel set is within S):
//! * `synergy[a][b] = v({a,b}) - v({a}) - v({b})`, the conversions only the pair reaches
//!   (diagonal: v({a}), the channel's standalone conversions);
//! * `interaction[a][b]` is the Shapley interaction index (Grabisch 1997): the pair's
//!   interaction averaged over every coalition they can join (diagonal: the Shapley value);
//! * `paths_with_both` and `conversion_rate_with_both` count paths that touch both channels,
//!   converting or not, so a rate heatmap shows lift as well as volume.

use rustc_hash::FxHashMap as HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{AttributionError, Result};
use crate::paths::Paths;
use crate::shapley::channel_sets;

/// Channels above which the matrices would be unreadable and quadratic in memory.
pub const MAX_SYNERGY_CHANNELS: usize = 1_000;

/// Pairwise channel matrices, indexed like `channels`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SynergyReport {
    pub channels: Vec<String>,
    pub synergy: Vec<Vec<f64>>,
    pub synergy_value: Vec<Vec<f64>>,
    pub interaction: Vec<Vec<f64>>,
    pub paths_with_both: Vec<Vec<f64>>,
    pub conversion_rate_with_both: Vec<Vec<f64>>,
}

/// Pairwise synergy, interaction index and co-occurrence of every pair of channels.
pub fn synergy(paths: &Paths) -> Result<SynergyReport> {
    let k = paths.channels().len();
    if k > MAX_SYNERGY_CHANNELS {
        return Err(AttributionError::Option {
            option: "channels",
            message: format!(
                "{k} channels is too many for pairwise matrices (at most {MAX_SYNERGY_CHANNELS}); group campaigns into channels"
            ),
        });
    }
    let sets = channel_sets(paths);
    // v of a singleton or a pair only sums observed sets of at most two channels:
    // v({a}) = r({a}), v({a,b}) = r({a}) + r({b}) + r({a,b}).
    let mut single = vec![(0.0, 0.0); k];
    let mut pair: HashMap<(u32, u32), (f64, f64)> = HashMap::default();
    for s in sets.iter().filter(|s| s.conversions > 0.0) {
        match s.channels[..] {
            [a] => single[a as usize] = (s.conversions, s.value),
            [a, b] => {
                pair.insert((a, b), (s.conversions, s.value));
            }
            _ => {}
        }
    }
    let mut synergy = vec![vec![0.0; k]; k];
    let mut synergy_value = vec![vec![0.0; k]; k];
    for a in 0..k {
        synergy[a][a] = single[a].0;
        synergy_value[a][a] = single[a].1;
        for b in a + 1..k {
            let r = pair
                .get(&(a as u32, b as u32))
                .copied()
                .unwrap_or((0.0, 0.0));
            let v_ab = (
                single[a].0 + single[b].0 + r.0,
                single[a].1 + single[b].1 + r.1,
            );
            let s = v_ab.0 - single[a].0 - single[b].0;
            let sv = v_ab.1 - single[a].1 - single[b].1;
            synergy[a][b] = s;
            synergy[b][a] = s;
            synergy_value[a][b] = sv;
            synergy_value[b][a] = sv;
        }
    }
    let mut interaction = vec![vec![0.0; k]; k];
    let mut both = vec![vec![0.0; k]; k];
    let mut both_conv = vec![vec![0.0; k]; k];
    for s in &sets {
        let n = s.channels.len();
        let total = s.conversions + s.non_conversions;
        for (i, &a) in s.channels.iter().enumerate() {
            let (a, n_f) = (a as usize, n as f64);
            // Unanimity game u_T: Shapley value 1/|T|, pair interaction 1/(|T|-1).
            interaction[a][a] += s.conversions / n_f;
            both[a][a] += total;
            both_conv[a][a] += s.conversions;
            for &b in &s.channels[i + 1..] {
                let b = b as usize;
                let x = s.conversions / (n_f - 1.0);
                interaction[a][b] += x;
                interaction[b][a] += x;
                both[a][b] += total;
                both[b][a] += total;
                both_conv[a][b] += s.conversions;
                both_conv[b][a] += s.conversions;
            }
        }
    }
    let rate = both
        .iter()
        .zip(&both_conv)
        .map(|(row, conv)| {
            row.iter()
                .zip(conv)
                .map(|(&t, &c)| if t > 0.0 { c / t } else { 0.0 })
                .collect()
        })
        .collect();
    Ok(SynergyReport {
        channels: paths.channels().to_vec(),
        synergy,
        synergy_value,
        interaction,
        paths_with_both: both,
        conversion_rate_with_both: rate,
    })
}

fn matrix(f: &mut fmt::Formatter<'_>, names: &[String], m: &[Vec<f64>], pct: bool) -> fmt::Result {
    let w = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(4)
        .max(8);
    write!(f, "{:<w$}", "")?;
    for n in names {
        write!(f, " {n:>w$}")?;
    }
    writeln!(f)?;
    for (n, row) in names.iter().zip(m) {
        write!(f, "{n:<w$}")?;
        for v in row {
            let cell = if pct {
                format!("{:.1}%", v * 100.0)
            } else {
                crate::report::num(*v)
            };
            write!(f, " {cell:>w$}")?;
        }
        writeln!(f)?;
    }
    Ok(())
}

impl fmt::Display for SynergyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Pairwise synergy v({{a,b}}) - v({{a}}) - v({{b}}), conversions (diagonal: v({{a}}))"
        )?;
        matrix(f, &self.channels, &self.synergy, false)?;
        writeln!(f, "\nShapley interaction index (diagonal: Shapley value)")?;
        matrix(f, &self.channels, &self.interaction, false)?;
        writeln!(f, "\nConversion rate of paths touching both")?;
        matrix(f, &self.channels, &self.conversion_rate_with_both, true)
    }
}
