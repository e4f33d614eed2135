//! Customer clustering for marketing segments: k-means on standardised features of the
//! caller's choosing, with k chosen by (sampled) silhouette, and a business description of
//! each cluster in Chinese and English built from its most distinguishing features.
//!
//! * Features are standardised (z-scores) so that AUM in yuan does not drown out a 0–1 ratio.
//!   Missing values (NaN) are imputed with the column mean and counted.
//! * k-means uses k-means++ seeding, several seeded restarts and Lloyd iterations; the
//!   restart with the lowest inertia wins. Everything is deterministic for a seed.
//! * k is chosen over a range by the mean silhouette on a seeded sample (10,000 rows by
//!   default: silhouette is quadratic in n). Above 50,000 rows the candidate k-means runs
//!   also use a seeded 50,000-row sample; only the chosen k is fitted on every row.
//! * A cluster's description lists its features with the largest standardised mean
//!   difference from the population, `(cluster mean − population mean) / population sd`,
//!   rendered with the feature's high/low phrases: "高AUM、年轻、数字渠道活跃" /
//!   "high AUM, young, digital".
//!
//! ```
//! use zhiying_segment::{cluster, ClusterOptions, FeatureMatrix, FeatureMeta};
//!
//! // Two obvious groups in AUM; age is noise.
//! let aum = vec![1.0, 1.2, 0.9, 1.1, 50.0, 52.0, 49.0, 51.0];
//! let age = vec![30.0, 40.0, 35.0, 45.0, 33.0, 41.0, 36.0, 44.0];
//! let m = FeatureMatrix::new(
//!     vec![FeatureMeta::new("aum", "AUM", "AUM"), FeatureMeta::new("age", "年龄", "age")
//!         .with_phrases("年长", "older", "年轻", "young")],
//!     vec![aum, age],
//! ).unwrap();
//! // k fixed at 2 (k_min = k_max); a range lets the silhouette choose.
//! let c = cluster(&m, &ClusterOptions { k_min: 2, k_max: 2, ..Default::default() }).unwrap();
//! assert_eq!(c.k, 2);
//! let rich = c.clusters.iter().find(|p| p.top_features[0].smd > 0.0).unwrap();
//! assert!(rich.description_zh.starts_with("高AUM"));
//! assert!(rich.description_en.starts_with("high AUM"));
//! ```

mod describe;
mod kmeans;
mod silhouette;

pub use describe::{Direction, Distinguishing};
pub use kmeans::{KMeansResult, kmeans};
pub use silhouette::silhouette;

use serde::{Deserialize, Serialize};

/// What went wrong, with the fix.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    #[error("no features: choose at least one numeric feature")]
    NoFeatures,
    #[error("{features} feature descriptions but {columns} columns")]
    Shape { features: usize, columns: usize },
    #[error(
        "column `{feature}` has {got} rows but `{first}` has {want}; all columns need one value per customer"
    )]
    Ragged {
        feature: String,
        got: usize,
        first: String,
        want: usize,
    },
    #[error("column `{feature}` holds an infinite value at row {row}")]
    Infinite { feature: String, row: usize },
    #[error("column `{0}` has no values (all missing)")]
    AllMissing(String),
    #[error("invalid options: {0}")]
    Options(String),
    #[error("{rows} rows cannot make {k} clusters; lower k_max or add rows")]
    TooFewRows { rows: usize, k: usize },
}

/// Business metadata of one feature: names and the phrases used when a cluster is high or
/// low on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureMeta {
    /// Column name (e.g. the tag code).
    pub name: String,
    pub label_zh: String,
    pub label_en: String,
    /// Phrase for "above average", e.g. 高AUM / high AUM. Default: 高{label_zh} / high {label_en}.
    pub high_zh: Option<String>,
    pub high_en: Option<String>,
    /// Phrase for "below average", e.g. 年轻 / young. Default: 低{label_zh} / low {label_en}.
    pub low_zh: Option<String>,
    pub low_en: Option<String>,
}

impl FeatureMeta {
    pub fn new(name: &str, label_zh: &str, label_en: &str) -> Self {
        Self {
            name: name.into(),
            label_zh: label_zh.into(),
            label_en: label_en.into(),
            high_zh: None,
            high_en: None,
            low_zh: None,
            low_en: None,
        }
    }

    /// Sets the high and low phrases (zh, en).
    pub fn with_phrases(
        mut self,
        high_zh: &str,
        high_en: &str,
        low_zh: &str,
        low_en: &str,
    ) -> Self {
        self.high_zh = Some(high_zh.into());
        self.high_en = Some(high_en.into());
        self.low_zh = Some(low_zh.into());
        self.low_en = Some(low_en.into());
        self
    }

    /// The phrase for `direction` in Chinese and English.
    pub fn phrase(&self, direction: Direction) -> (String, String) {
        match direction {
            Direction::High => (
                self.high_zh
                    .clone()
                    .unwrap_or_else(|| format!("高{}", self.label_zh)),
                self.high_en
                    .clone()
                    .unwrap_or_else(|| format!("high {}", self.label_en)),
            ),
            Direction::Low => (
                self.low_zh
                    .clone()
                    .unwrap_or_else(|| format!("低{}", self.label_zh)),
                self.low_en
                    .clone()
                    .unwrap_or_else(|| format!("low {}", self.label_en)),
            ),
        }
    }
}

/// Customers × features, stored by column (one `Vec` per feature, as a profile table
/// exports them). NaN means missing.
#[derive(Debug, Clone)]
pub struct FeatureMatrix {
    features: Vec<FeatureMeta>,
    columns: Vec<Vec<f64>>,
}

impl FeatureMatrix {
    /// Checks that there is one column per feature, all of the same length, with no infinities.
    pub fn new(features: Vec<FeatureMeta>, columns: Vec<Vec<f64>>) -> Result<Self, SegmentError> {
        if features.is_empty() {
            return Err(SegmentError::NoFeatures);
        }
        if features.len() != columns.len() {
            return Err(SegmentError::Shape {
                features: features.len(),
                columns: columns.len(),
            });
        }
        let want = columns[0].len();
        for (f, c) in features.iter().zip(&columns) {
            if c.len() != want {
                return Err(SegmentError::Ragged {
                    feature: f.name.clone(),
                    got: c.len(),
                    first: features[0].name.clone(),
                    want,
                });
            }
            if let Some(row) = c.iter().position(|v| v.is_infinite()) {
                return Err(SegmentError::Infinite {
                    feature: f.name.clone(),
                    row,
                });
            }
        }
        Ok(Self { features, columns })
    }

    pub fn rows(&self) -> usize {
        self.columns[0].len()
    }

    pub fn features(&self) -> &[FeatureMeta] {
        &self.features
    }

    pub fn column(&self, j: usize) -> &[f64] {
        &self.columns[j]
    }
}

/// Options of [`cluster`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterOptions {
    /// Smallest and largest k tried; set both equal to force k.
    pub k_min: usize,
    pub k_max: usize,
    /// k-means++ restarts per k; the lowest inertia wins.
    pub restarts: usize,
    pub max_iterations: usize,
    /// Rows sampled for the silhouette (exact when n is at most this).
    pub silhouette_sample: usize,
    /// Above this many rows, k is chosen on a seeded sample of this size and only the
    /// final k-means (with the chosen k) runs on every row.
    pub selection_rows: usize,
    pub seed: u64,
    /// Features listed per cluster description.
    pub top_features: usize,
    /// Smallest |standardised mean difference| worth describing (0.5 is a "medium" effect).
    pub min_effect: f64,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            k_min: 2,
            k_max: 8,
            restarts: 8,
            max_iterations: 300,
            silhouette_sample: 10_000,
            selection_rows: 50_000,
            seed: 42,
            top_features: 3,
            min_effect: 0.5,
        }
    }
}

/// The score of one candidate k.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KScore {
    pub k: usize,
    pub silhouette: f64,
    pub inertia: f64,
}

/// One cluster, described.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterProfile {
    pub id: usize,
    pub size: usize,
    pub share: f64,
    /// Centroid in the original units (means of the members' raw values).
    pub centroid: Vec<f64>,
    /// Standardised mean difference of every feature (same order as the features).
    pub smd: Vec<f64>,
    /// The most distinguishing features, strongest first (|smd| ≥ `min_effect`).
    pub top_features: Vec<Distinguishing>,
    pub description_zh: String,
    pub description_en: String,
}

/// The result of [`cluster`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Clustering {
    pub k: usize,
    /// Cluster id of each row (clusters are numbered by size, largest first).
    pub assignments: Vec<u32>,
    pub clusters: Vec<ClusterProfile>,
    /// Mean silhouette of the chosen k (on the sample when n is large).
    pub silhouette: f64,
    /// Every k tried.
    pub k_scores: Vec<KScore>,
    pub feature_names: Vec<String>,
    /// Population mean and standard deviation used to standardise each feature.
    pub means: Vec<f64>,
    pub std_devs: Vec<f64>,
    /// Missing values imputed with the column mean, per feature.
    pub imputed: Vec<usize>,
    /// Rows the silhouette was computed on.
    pub silhouette_rows: usize,
}

/// Standardises the features, chooses k by silhouette over `k_min..=k_max`, clusters with
/// k-means++ and describes each cluster.
pub fn cluster(m: &FeatureMatrix, opts: &ClusterOptions) -> Result<Clustering, SegmentError> {
    if opts.k_min < 2 || opts.k_max < opts.k_min {
        return Err(SegmentError::Options(format!(
            "need 2 <= k_min <= k_max, got k_min {} and k_max {}",
            opts.k_min, opts.k_max
        )));
    }
    if opts.restarts == 0 || opts.silhouette_sample < 2 || opts.selection_rows <= opts.k_max {
        return Err(SegmentError::Options(
            "restarts must be >= 1, silhouette_sample >= 2 and selection_rows > k_max".into(),
        ));
    }
    let n = m.rows();
    if n < opts.k_max + 1 {
        return Err(SegmentError::TooFewRows {
            rows: n,
            k: opts.k_max,
        });
    }
    let d = m.columns.len();
    // Standardise (row-major for the distance loops), imputing NaN with the mean.
    let mut means = Vec::with_capacity(d);
    let mut sds = Vec::with_capacity(d);
    let mut imputed = Vec::with_capacity(d);
    for (f, c) in m.features.iter().zip(&m.columns) {
        let present: Vec<f64> = c.iter().copied().filter(|v| !v.is_nan()).collect();
        if present.is_empty() {
            return Err(SegmentError::AllMissing(f.name.clone()));
        }
        let mean = present.iter().sum::<f64>() / present.len() as f64;
        let var =
            present.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / present.len() as f64;
        means.push(mean);
        sds.push(var.sqrt());
        imputed.push(n - present.len());
    }
    let mut z = vec![0.0; n * d];
    for j in 0..d {
        // A constant feature carries no information: it stays 0 after standardising.
        let inv = if sds[j] > 0.0 { 1.0 / sds[j] } else { 0.0 };
        for (i, &v) in m.columns[j].iter().enumerate() {
            let v = if v.is_nan() { means[j] } else { v };
            z[i * d + j] = (v - means[j]) * inv;
        }
    }
    use rand::SeedableRng;
    // k is chosen on at most `selection_rows` rows (all of them when n is small).
    let selection: Vec<usize> = if n <= opts.selection_rows {
        (0..n).collect()
    } else {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(opts.seed ^ 0x5e1e);
        let mut s = rand::seq::index::sample(&mut rng, n, opts.selection_rows).into_vec();
        s.sort_unstable();
        s
    };
    let sel_points: Vec<f64> = selection
        .iter()
        .flat_map(|&i| z[i * d..(i + 1) * d].iter().copied())
        .collect();
    // One seeded sample (positions within the selection) for every k, so scores compare.
    let m_sel = selection.len();
    let sample: Vec<usize> = if m_sel <= opts.silhouette_sample {
        (0..m_sel).collect()
    } else {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(opts.seed ^ 0x5117);
        let mut s = rand::seq::index::sample(&mut rng, m_sel, opts.silhouette_sample).into_vec();
        s.sort_unstable();
        s
    };
    let sample_points: Vec<f64> = sample
        .iter()
        .flat_map(|&i| sel_points[i * d..(i + 1) * d].iter().copied())
        .collect();
    let mut best: Option<(KMeansResult, f64)> = None;
    let mut k_scores = Vec::new();
    for k in opts.k_min..=opts.k_max {
        let r = kmeans(
            &sel_points,
            d,
            k,
            opts.restarts,
            opts.max_iterations,
            opts.seed.wrapping_add(k as u64),
        );
        let labels: Vec<u32> = sample.iter().map(|&i| r.assignments[i]).collect();
        let s = silhouette(&sample_points, d, &labels, k);
        k_scores.push(KScore {
            k,
            silhouette: s,
            inertia: r.inertia,
        });
        if best.as_ref().is_none_or(|(_, bs)| s > *bs + 1e-12) {
            best = Some((r, s));
        }
    }
    let Some((mut r, sil)) = best else {
        return Err(SegmentError::Options("empty k range".into()));
    };
    if m_sel < n {
        // Final clustering of every row, seeded by the sample's centroids and by fresh
        // k-means++ restarts; the lowest inertia wins.
        let k = r.k;
        let warm = kmeans::lloyd_from(&z, d, k, r.centroids.clone(), opts.max_iterations);
        let cold = kmeans(
            &z,
            d,
            k,
            opts.restarts.min(2),
            opts.max_iterations,
            opts.seed ^ 0xf1a1,
        );
        r = if warm.inertia <= cold.inertia {
            warm
        } else {
            cold
        };
    }
    Ok(describe::profile(
        m,
        r,
        sil,
        k_scores,
        means,
        sds,
        imputed,
        sample.len(),
        opts,
    ))
}
