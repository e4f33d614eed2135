//! Markov-chain attribution by removal effect (Anderl et al. 2016; ChannelAttribution).
//!
//! Paths become a chain with a start state, one transient state per channel (per k-tuple of
//! recent channels for order k), and two absorbing states, conversion and null. A path seen
//! `c` times converting and `n` times not contributes weight `c + n` to each of its
//! transitions, `c` to its last state's conversion edge and `n` to its null edge.
//!
//! The removal effect of channel x is `1 - P_without_x(conversion) / P(conversion)`, where
//! removing x sends every visit of a state that contains x to null. Effects are normalised
//! so the credits sum to the observed conversions.
//!
//! Value uses the same chain as a Markov reward process: reaching conversion from state s
//! earns the mean value of the conversions observed leaving s, so the expected reward from
//! start times the path count is exactly the observed value, and the value removal effect
//! compares expected rewards with and without x.
//!
//! Absorption probabilities are found by Gauss-Seidel sweeps over the sparse transition graph
//! (the reference script inverts the fundamental matrix instead).

use rustc_hash::FxHashMap as HashMap;

use serde::{Deserialize, Serialize};

use crate::error::{AttributionError, Result};
use crate::paths::Paths;

/// Largest supported order: states pack up to four 16-bit channel ids into a `u64`.
pub const MAX_ORDER: usize = 4;

/// Per-channel output of the Markov model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RemovalEffect {
    pub channel: String,
    /// 1 - P(conversion without the channel) / P(conversion).
    pub removal_effect: f64,
    /// The same for expected value.
    pub value_removal_effect: f64,
}

/// The Markov model's result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MarkovResult {
    pub order: usize,
    /// Transient states (start excluded).
    pub states: usize,
    /// P(conversion) from the start state.
    pub conversion_probability: f64,
    pub removal_effects: Vec<RemovalEffect>,
    /// Conversions credited per channel (same order as `removal_effects`).
    #[serde(skip)]
    pub conversions: Vec<f64>,
    #[serde(skip)]
    pub value: Vec<f64>,
}

/// Sparse chain: transient states 0 (start) ..= m.
struct Chain {
    /// CSR over transient successors: `succ[row_start[s]..row_start[s+1]]` with probabilities.
    row_start: Vec<usize>,
    succ: Vec<u32>,
    prob: Vec<f64>,
    /// P(s -> s), solved for exactly in each sweep instead of iterated (long runs of one
    /// channel would otherwise converge slowly).
    p_self: Vec<f64>,
    /// P(s -> conversion) and the expected reward earned on that edge.
    p_conv: Vec<f64>,
    reward: Vec<f64>,
    /// Channels contained in each state (for removal).
    members: Vec<Vec<u32>>,
}

fn pack(window: &[u32]) -> u64 {
    window
        .iter()
        .fold(0u64, |acc, &c| (acc << 16) | (c as u64 + 1))
}

fn build_chain(paths: &Paths, order: usize, collapse_repeats: bool) -> Chain {
    let mut state_of: HashMap<u64, u32> = HashMap::default();
    let mut members: Vec<Vec<u32>> = vec![Vec::new()]; // start
    let mut edges: HashMap<(u32, u32), f64> = HashMap::default();
    let mut conv_w: Vec<f64> = vec![0.0];
    let mut null_w: Vec<f64> = vec![0.0];
    let mut value_in: Vec<f64> = vec![0.0];
    let mut seq: Vec<u32> = Vec::new();
    for p in paths.iter() {
        seq.clear();
        for &s in p.steps {
            if !(collapse_repeats && seq.last() == Some(&s)) {
                seq.push(s);
            }
        }
        let w = p.conversions + p.non_conversions;
        let mut prev = 0u32;
        for i in 0..seq.len() {
            let window = &seq[i.saturating_sub(order - 1)..=i];
            let key = pack(window);
            let next = members.len() as u32;
            let s = *state_of.entry(key).or_insert_with(|| {
                let mut m = window.to_vec();
                m.sort_unstable();
                m.dedup();
                members.push(m);
                conv_w.push(0.0);
                null_w.push(0.0);
                value_in.push(0.0);
                next
            });
            *edges.entry((prev, s)).or_insert(0.0) += w;
            prev = s;
        }
        conv_w[prev as usize] += p.conversions;
        null_w[prev as usize] += p.non_conversions;
        value_in[prev as usize] += p.value;
    }
    let n = members.len();
    let mut out_w = vec![0.0; n];
    for (&(a, _), &w) in &edges {
        out_w[a as usize] += w;
    }
    for s in 0..n {
        out_w[s] += conv_w[s] + null_w[s];
    }
    let mut p_self = vec![0.0; n];
    let mut rows: Vec<(u32, u32, f64)> = Vec::with_capacity(edges.len());
    for ((a, b), w) in edges {
        if a == b {
            p_self[a as usize] = w / out_w[a as usize];
        } else {
            rows.push((a, b, w));
        }
    }
    rows.sort_unstable_by_key(|&(a, b, _)| (a, b));
    let mut row_start = vec![0usize; n + 1];
    for &(a, _, _) in &rows {
        row_start[a as usize + 1] += 1;
    }
    for s in 0..n {
        row_start[s + 1] += row_start[s];
    }
    let succ = rows.iter().map(|r| r.1).collect();
    let prob = rows.iter().map(|r| r.2 / out_w[r.0 as usize]).collect();
    let p_conv = (0..n)
        .map(|s| {
            if out_w[s] > 0.0 {
                conv_w[s] / out_w[s]
            } else {
                0.0
            }
        })
        .collect();
    let reward = (0..n)
        .map(|s| {
            if out_w[s] > 0.0 {
                value_in[s] / out_w[s]
            } else {
                0.0
            }
        })
        .collect();
    Chain {
        row_start,
        succ,
        prob,
        p_self,
        p_conv,
        reward,
        members,
    }
}

/// Solves x = P x + b over the transient states with `removed` states pinned to 0, by
/// Gauss-Seidel sweeps. Returns x[start].
fn absorb(chain: &Chain, b: &[f64], removed: &[bool], x: &mut Vec<f64>) -> f64 {
    let n = b.len();
    x.clear();
    x.resize(n, 0.0);
    let scale = b
        .iter()
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(f64::MIN_POSITIVE);
    // Sweep states from last-created to first: later states tend to sit nearer absorption.
    for _sweep in 0..1_000_000 {
        let mut delta = 0.0f64;
        for s in (0..n).rev() {
            if removed[s] {
                continue;
            }
            let mut v = b[s];
            for e in chain.row_start[s]..chain.row_start[s + 1] {
                v += chain.prob[e] * x[chain.succ[e] as usize];
            }
            // x_s = b_s + p_ss x_s + sum_j p_sj x_j, solved for x_s (p_ss < 1: every state
            // is left at the end of each run through it).
            v /= 1.0 - chain.p_self[s];
            delta = delta.max((v - x[s]).abs());
            x[s] = v;
        }
        if delta <= 1e-15 * scale {
            break;
        }
    }
    x[0]
}

/// Markov removal-effect attribution of order `order` (1..=4).
pub fn markov(paths: &Paths, order: usize, collapse_repeats: bool) -> Result<MarkovResult> {
    if !(1..=MAX_ORDER).contains(&order) {
        return Err(AttributionError::Option {
            option: "markov_order",
            message: format!("must be 1 to {MAX_ORDER}, got {order}"),
        });
    }
    let k = paths.channels().len();
    if order > 1 && k >= u16::MAX as usize {
        return Err(AttributionError::Option {
            option: "markov_order",
            message: format!("order > 1 supports at most 65534 channels, the paths have {k}"),
        });
    }
    let total_conv = paths.total_conversions();
    let total_value = paths.total_value();
    if total_conv <= 0.0 {
        return Err(AttributionError::Empty(
            "the Markov model needs at least one converting path".into(),
        ));
    }
    let chain = build_chain(paths, order, collapse_repeats);
    let n = chain.members.len();
    let mut x = Vec::new();
    let none = vec![false; n];
    let p_conv = absorb(&chain, &chain.p_conv, &none, &mut x);
    let e_value = absorb(&chain, &chain.reward, &none, &mut x);
    // States containing each channel.
    let mut holds: Vec<Vec<u32>> = vec![Vec::new(); k];
    for (s, m) in chain.members.iter().enumerate() {
        for &c in m {
            holds[c as usize].push(s as u32);
        }
    }
    let mut re = vec![0.0; k];
    let mut re_v = vec![0.0; k];
    let mut removed = vec![false; n];
    for c in 0..k {
        if holds[c].is_empty() {
            continue;
        }
        for &s in &holds[c] {
            removed[s as usize] = true;
        }
        let p = absorb(&chain, &chain.p_conv, &removed, &mut x);
        re[c] = (1.0 - p / p_conv).max(0.0);
        if e_value > 0.0 {
            let v = absorb(&chain, &chain.reward, &removed, &mut x);
            re_v[c] = (1.0 - v / e_value).max(0.0);
        }
        for &s in &holds[c] {
            removed[s as usize] = false;
        }
    }
    let normalise = |r: &[f64], total: f64| -> Vec<f64> {
        let s: f64 = r.iter().sum();
        if s > 0.0 {
            r.iter().map(|v| v / s * total).collect()
        } else {
            vec![0.0; r.len()]
        }
    };
    Ok(MarkovResult {
        order,
        states: n - 1,
        conversion_probability: p_conv,
        removal_effects: paths
            .channels()
            .iter()
            .enumerate()
            .map(|(c, name)| RemovalEffect {
                channel: name.clone(),
                removal_effect: re[c],
                value_removal_effect: re_v[c],
            })
            .collect(),
        conversions: normalise(&re, total_conv),
        value: normalise(&re_v, total_value),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_channel_chain_by_hand() {
        // a converts once, a > b converts once, b fails once.
        let mut p = Paths::new();
        p.push(&["a"], 1.0, 0.0, 1.0).unwrap();
        p.push(&["a", "b"], 1.0, 0.0, 1.0).unwrap();
        p.push(&["b"], 0.0, 1.0, 0.0).unwrap();
        let r = markov(&p, 1, false).unwrap();
        // start->a 2/3, start->b 1/3; a->conv 1/2, a->b 1/2; b->conv 1/2, b->null 1/2.
        // P(b) = 1/2, P(a) = 1/2 + 1/4 = 3/4, P = 2/3*3/4 + 1/3*1/2 = 2/3.
        assert!((r.conversion_probability - 2.0 / 3.0).abs() < 1e-14);
        // Without a: 1/3 * 1/2 = 1/6 -> RE 3/4. Without b: 2/3 * 1/2 = 1/3 -> RE 1/2.
        assert!((r.removal_effects[0].removal_effect - 0.75).abs() < 1e-14);
        assert!((r.removal_effects[1].removal_effect - 0.5).abs() < 1e-14);
        assert!((r.conversions[0] - 2.0 * 0.75 / 1.25).abs() < 1e-13);
    }

    #[test]
    fn self_loops_do_not_change_first_order_effects() {
        let mut p = Paths::new();
        p.push(&["a", "a", "b"], 2.0, 1.0, 4.0).unwrap();
        p.push(&["b", "c", "c"], 1.0, 3.0, 1.0).unwrap();
        p.push(&["c"], 0.0, 2.0, 0.0).unwrap();
        // A long run of one channel: self-loop probability near 1.
        let mut long = vec!["c"; 5000];
        long.push("a");
        p.push(&long, 1.0, 1.0, 2.0).unwrap();
        let raw = markov(&p, 1, false).unwrap();
        let collapsed = markov(&p, 1, true).unwrap();
        for (a, b) in raw.removal_effects.iter().zip(&collapsed.removal_effects) {
            assert!((a.removal_effect - b.removal_effect).abs() < 1e-12);
        }
    }

    #[test]
    fn rejects_bad_order_and_no_conversions() {
        let mut p = Paths::new();
        p.push(&["a"], 0.0, 1.0, 0.0).unwrap();
        assert!(markov(&p, 0, false).is_err());
        assert!(markov(&p, 5, false).is_err());
        assert!(matches!(
            markov(&p, 1, false),
            Err(AttributionError::Empty(_))
        ));
    }
}
