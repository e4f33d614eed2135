//! Cluster profiles: sizes, centroids, standardised mean differences and the zh/en
//! descriptions built from the strongest ones.

use crate::{ClusterOptions, ClusterProfile, Clustering, FeatureMatrix, KMeansResult, KScore};
use serde::{Deserialize, Serialize};

/// Above or below the population mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    High,
    Low,
}

/// A feature that sets a cluster apart.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Distinguishing {
    pub feature: String,
    /// (cluster mean − population mean) / population standard deviation.
    pub smd: f64,
    pub direction: Direction,
    pub cluster_mean: f64,
    pub population_mean: f64,
    pub phrase_zh: String,
    pub phrase_en: String,
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn profile(
    m: &FeatureMatrix,
    r: KMeansResult,
    silhouette: f64,
    k_scores: Vec<KScore>,
    means: Vec<f64>,
    sds: Vec<f64>,
    imputed: Vec<usize>,
    silhouette_rows: usize,
    opts: &ClusterOptions,
) -> Clustering {
    let n = m.rows();
    let d = m.features.len();
    let k = r.k;
    let mut sizes = vec![0usize; k];
    for &a in &r.assignments {
        sizes[a as usize] += 1;
    }
    // Number clusters by size, largest first (ties by old id), so output is stable.
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]).then(a.cmp(&b)));
    let mut new_id = vec![0u32; k];
    for (new, &old) in order.iter().enumerate() {
        new_id[old] = new as u32;
    }
    let assignments: Vec<u32> = r.assignments.iter().map(|&a| new_id[a as usize]).collect();
    let mut sums = vec![0.0; k * d];
    for j in 0..d {
        for (i, &v) in m.columns[j].iter().enumerate() {
            let v = if v.is_nan() { means[j] } else { v };
            sums[assignments[i] as usize * d + j] += v;
        }
    }
    let clusters = (0..k)
        .map(|c| {
            let size = sizes[order[c]];
            let centroid: Vec<f64> = (0..d)
                .map(|j| sums[c * d + j] / size.max(1) as f64)
                .collect();
            let smd: Vec<f64> = (0..d)
                .map(|j| {
                    if sds[j] > 0.0 {
                        (centroid[j] - means[j]) / sds[j]
                    } else {
                        0.0
                    }
                })
                .collect();
            let mut ranked: Vec<usize> = (0..d)
                .filter(|&j| smd[j].abs() >= opts.min_effect)
                .collect();
            ranked.sort_by(|&a, &b| smd[b].abs().total_cmp(&smd[a].abs()).then(a.cmp(&b)));
            ranked.truncate(opts.top_features);
            let top_features: Vec<Distinguishing> = ranked
                .iter()
                .map(|&j| {
                    let direction = if smd[j] > 0.0 {
                        Direction::High
                    } else {
                        Direction::Low
                    };
                    let (zh, en) = m.features[j].phrase(direction);
                    Distinguishing {
                        feature: m.features[j].name.clone(),
                        smd: smd[j],
                        direction,
                        cluster_mean: centroid[j],
                        population_mean: means[j],
                        phrase_zh: zh,
                        phrase_en: en,
                    }
                })
                .collect();
            let (description_zh, description_en) = if top_features.is_empty() {
                (
                    "接近总体平均".to_string(),
                    "close to the average customer".to_string(),
                )
            } else {
                (
                    top_features
                        .iter()
                        .map(|t| t.phrase_zh.as_str())
                        .collect::<Vec<_>>()
                        .join("、"),
                    top_features
                        .iter()
                        .map(|t| t.phrase_en.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            };
            ClusterProfile {
                id: c,
                size,
                share: size as f64 / n as f64,
                centroid,
                smd,
                top_features,
                description_zh,
                description_en,
            }
        })
        .collect();
    Clustering {
        k,
        assignments,
        clusters,
        silhouette,
        k_scores,
        feature_names: m.features.iter().map(|f| f.name.clone()).collect(),
        means,
        std_devs: sds,
        imputed,
        silhouette_rows,
    }
}
