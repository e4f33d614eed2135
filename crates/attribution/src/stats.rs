//! Path analysis: the most common paths with their conversion rate and value, the path-length
//! distribution, and time from first touch to conversion.

use rustc_hash::FxHashMap as HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::paths::Paths;
use crate::report::num;

/// Options for [`path_stats`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct PathStatsOptions {
    /// How many paths to list, ranked by conversions, then by volume.
    pub top_n: usize,
    /// Lengths at or above this share one bucket ("10+").
    pub max_length: usize,
    pub separator: String,
}

impl Default for PathStatsOptions {
    fn default() -> Self {
        Self {
            top_n: 10,
            max_length: 10,
            separator: " > ".into(),
        }
    }
}

/// One distinct path.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TopPath {
    pub path: String,
    pub length: usize,
    pub conversions: f64,
    pub non_conversions: f64,
    pub conversion_rate: f64,
    pub value: f64,
    pub share_of_conversions: f64,
}

/// Paths of one length.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LengthBucket {
    /// Touches; the last bucket holds every length >= `max_length`.
    pub length: usize,
    pub open_ended: bool,
    pub paths: f64,
    pub conversions: f64,
    pub conversion_rate: f64,
}

/// Days from first touch to conversion over converting paths with times, weighted by
/// conversions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TimeToConversion {
    pub conversions: f64,
    pub mean_days: f64,
    pub p25_days: f64,
    pub median_days: f64,
    pub p75_days: f64,
    pub p90_days: f64,
}

/// The result of [`path_stats`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PathStats {
    pub distinct_paths: usize,
    /// Conversions + non-conversions over all path records.
    pub paths: f64,
    pub conversions: f64,
    pub value: f64,
    pub conversion_rate: f64,
    pub mean_length: f64,
    pub top_paths: Vec<TopPath>,
    pub length_distribution: Vec<LengthBucket>,
    /// `None` when no converting path carries touch times (pre-aggregated input).
    pub time_to_conversion: Option<TimeToConversion>,
}

/// Weighted quantile of sorted (value, weight) pairs: the smallest value whose cumulative
/// weight reaches q of the total.
fn quantile(sorted: &[(f64, f64)], total: f64, q: f64) -> f64 {
    let target = q * total;
    let mut acc = 0.0;
    for &(v, w) in sorted {
        acc += w;
        if acc >= target {
            return v;
        }
    }
    sorted.last().map_or(0.0, |x| x.0)
}

/// (conversions, non-conversions, value) of one distinct path.
type Tally = (f64, f64, f64);

/// Summarises `paths`.
pub fn path_stats(paths: &Paths, opts: &PathStatsOptions) -> PathStats {
    let mut by_path: HashMap<&[u32], Tally> = HashMap::default();
    let max_len = opts.max_length.max(1);
    let mut lengths = vec![(0.0, 0.0); max_len + 1];
    let mut ttc: Vec<(f64, f64)> = Vec::new();
    let (mut volume, mut touches) = (0.0, 0.0);
    for p in paths.iter() {
        let e = by_path.entry(p.steps).or_default();
        e.0 += p.conversions;
        e.1 += p.non_conversions;
        e.2 += p.value;
        let w = p.conversions + p.non_conversions;
        volume += w;
        touches += w * p.steps.len() as f64;
        let b = &mut lengths[p.steps.len().min(max_len)];
        b.0 += w;
        b.1 += p.conversions;
        if let (Some(ages), true) = (p.ages_days, p.conversions > 0.0) {
            ttc.push((ages[0], p.conversions));
        }
    }
    let conversions = paths.total_conversions();
    let rate = |c: f64, t: f64| if t > 0.0 { c / t } else { 0.0 };
    let distinct_paths = by_path.len();
    let mut top: Vec<(&[u32], Tally)> = by_path.into_iter().collect();
    top.sort_unstable_by(|a, b| {
        (b.1.0)
            .total_cmp(&a.1.0)
            .then((b.1.0 + b.1.1).total_cmp(&(a.1.0 + a.1.1)))
            .then(a.0.cmp(b.0))
    });
    let top_paths = top
        .iter()
        .take(opts.top_n)
        .map(|(steps, (c, n, v))| TopPath {
            path: paths.format_path(steps, &opts.separator),
            length: steps.len(),
            conversions: *c,
            non_conversions: *n,
            conversion_rate: rate(*c, c + n),
            value: *v,
            share_of_conversions: rate(*c, conversions),
        })
        .collect();
    let length_distribution = lengths
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(_, (t, _))| *t > 0.0)
        .map(|(len, &(t, c))| LengthBucket {
            length: len,
            open_ended: len == max_len,
            paths: t,
            conversions: c,
            conversion_rate: rate(c, t),
        })
        .collect();
    let time_to_conversion = if ttc.is_empty() {
        None
    } else {
        ttc.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        let total: f64 = ttc.iter().map(|x| x.1).sum();
        let mean = ttc.iter().map(|x| x.0 * x.1).sum::<f64>() / total;
        Some(TimeToConversion {
            conversions: total,
            mean_days: mean,
            p25_days: quantile(&ttc, total, 0.25),
            median_days: quantile(&ttc, total, 0.5),
            p75_days: quantile(&ttc, total, 0.75),
            p90_days: quantile(&ttc, total, 0.9),
        })
    };
    PathStats {
        distinct_paths,
        paths: volume,
        conversions,
        value: paths.total_value(),
        conversion_rate: rate(conversions, volume),
        mean_length: rate(touches, volume),
        top_paths,
        length_distribution,
        time_to_conversion,
    }
}

impl fmt::Display for PathStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} paths ({} distinct), {} conversions ({:.2}%), value {}, mean length {:.2}",
            num(self.paths),
            self.distinct_paths,
            num(self.conversions),
            self.conversion_rate * 100.0,
            num(self.value),
            self.mean_length
        )?;
        writeln!(
            f,
            "\nTop paths\n  {:>10} {:>10} {:>8} {:>12}  path",
            "conv", "non-conv", "rate", "value"
        )?;
        for p in &self.top_paths {
            writeln!(
                f,
                "  {:>10} {:>10} {:>7.2}% {:>12}  {}",
                num(p.conversions),
                num(p.non_conversions),
                p.conversion_rate * 100.0,
                num(p.value),
                p.path
            )?;
        }
        writeln!(
            f,
            "\nPath length\n  {:>6} {:>12} {:>10} {:>8}",
            "length", "paths", "conv", "rate"
        )?;
        for b in &self.length_distribution {
            let label = format!("{}{}", b.length, if b.open_ended { "+" } else { "" });
            writeln!(
                f,
                "  {label:>6} {:>12} {:>10} {:>7.2}%",
                num(b.paths),
                num(b.conversions),
                b.conversion_rate * 100.0
            )?;
        }
        if let Some(t) = &self.time_to_conversion {
            writeln!(
                f,
                "\nDays from first touch to conversion: mean {:.1}, p25 {:.1}, median {:.1}, p75 {:.1}, p90 {:.1}",
                t.mean_days, t.p25_days, t.median_days, t.p75_days, t.p90_days
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_paths_lengths_and_time() {
        let mut p = Paths::new();
        let (a, b) = (p.channel_id("a"), p.channel_id("b"));
        p.push_timed(&[(a, 4.0), (b, 1.0)], 1.0, 0.0, 10.0).unwrap();
        p.push_timed(&[(a, 2.0), (b, 0.0)], 1.0, 0.0, 20.0).unwrap();
        p.push_timed(&[(a, 0.0)], 0.0, 1.0, 0.0).unwrap();
        p.push_timed(&[(b, 8.0)], 1.0, 0.0, 5.0).unwrap();
        let s = path_stats(&p, &PathStatsOptions::default());
        assert_eq!(s.distinct_paths, 3);
        assert_eq!(s.top_paths[0].path, "a > b");
        assert_eq!(
            (s.top_paths[0].conversions, s.top_paths[0].value),
            (2.0, 30.0)
        );
        assert_eq!(s.length_distribution.len(), 2);
        assert_eq!(s.length_distribution[0].paths, 2.0);
        assert_eq!(s.length_distribution[0].conversion_rate, 0.5);
        let t = s.time_to_conversion.clone().unwrap();
        assert_eq!((t.median_days, t.p90_days), (4.0, 8.0));
        assert!((t.mean_days - 14.0 / 3.0).abs() < 1e-12);
        assert!(s.to_string().contains("a > b"));
    }
}
