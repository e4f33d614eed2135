//! Planted clusters: gaussian blobs with known centres must come back with the right k, high
//! purity, and descriptions naming the planted features.

use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use zhiying_segment::{ClusterOptions, Direction, FeatureMatrix, FeatureMeta, cluster};

fn metas() -> Vec<FeatureMeta> {
    vec![
        FeatureMeta::new("aum", "AUM", "AUM"),
        FeatureMeta::new("age", "年龄", "age").with_phrases("年长", "older", "年轻", "young"),
        FeatureMeta::new("digital_share", "数字渠道占比", "digital share").with_phrases(
            "数字渠道活跃",
            "digital",
            "偏好线下",
            "branch-loyal",
        ),
        FeatureMeta::new("card_spend", "信用卡消费", "card spend"),
    ]
}

/// Blobs: centres in standard units on (aum, age, digital_share, card_spend).
fn blobs(centres: &[[f64; 4]], per: usize, sd: f64, seed: u64) -> (FeatureMatrix, Vec<usize>) {
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
    let noise = Normal::new(0.0, sd).expect("sd > 0");
    let mut cols = vec![Vec::new(); 4];
    let mut truth = Vec::new();
    for (b, c) in centres.iter().enumerate() {
        for _ in 0..per {
            for j in 0..4 {
                cols[j].push(c[j] + noise.sample(&mut rng));
            }
            truth.push(b);
        }
    }
    // Different units per feature: AUM in yuan, age in years, share in [0,1]-ish, spend in yuan.
    let scale = [100_000.0, 10.0, 0.2, 3_000.0];
    let offset = [300_000.0, 45.0, 0.5, 5_000.0];
    for j in 0..4 {
        for v in &mut cols[j] {
            *v = offset[j] + scale[j] * *v;
        }
    }
    (FeatureMatrix::new(metas(), cols).expect("matrix"), truth)
}

fn purity(assign: &[u32], truth: &[usize], k: usize, blobs: usize) -> f64 {
    let mut counts = vec![vec![0usize; blobs]; k];
    for (&a, &t) in assign.iter().zip(truth) {
        counts[a as usize][t] += 1;
    }
    counts
        .iter()
        .map(|c| c.iter().max().copied().unwrap_or(0))
        .sum::<usize>() as f64
        / truth.len() as f64
}

#[test]
fn recovers_k_and_members_of_planted_blobs() {
    let centres = [
        [3.0, 0.0, 0.0, 0.0],  // rich
        [0.0, -3.0, 3.0, 0.0], // young and digital
        [0.0, 3.0, -3.0, 0.0], // older, branch-loyal
        [-2.0, 0.0, 0.0, 3.0], // card spenders
    ];
    let (m, truth) = blobs(&centres, 500, 0.6, 1);
    let c = cluster(
        &m,
        &ClusterOptions {
            k_min: 2,
            k_max: 7,
            ..Default::default()
        },
    )
    .expect("cluster");
    assert_eq!(c.k, 4, "{:?}", c.k_scores);
    let p = purity(&c.assignments, &truth, c.k, 4);
    assert!(p > 0.99, "purity {p}");
    assert!(c.silhouette > 0.5, "{}", c.silhouette);
    assert_eq!(c.clusters.iter().map(|p| p.size).sum::<usize>(), 2000);
    // The silhouette at the true k is the best of the range.
    let best = c
        .k_scores
        .iter()
        .map(|s| s.silhouette)
        .fold(f64::MIN, f64::max);
    assert_eq!(
        c.k_scores.iter().find(|s| s.k == 4).map(|s| s.silhouette),
        Some(best)
    );

    // Descriptions name the planted features with the right direction.
    let of_blob = |b: usize| {
        let first = truth.iter().position(|&t| t == b).expect("blob member");
        &c.clusters[c.assignments[first] as usize]
    };
    let rich = of_blob(0);
    assert_eq!(rich.top_features[0].feature, "aum");
    assert_eq!(rich.top_features[0].direction, Direction::High);
    assert!(
        rich.description_zh.starts_with("高AUM"),
        "{}",
        rich.description_zh
    );
    let young = of_blob(1);
    assert!(
        young.description_zh.contains("年轻") && young.description_zh.contains("数字渠道活跃"),
        "{}",
        young.description_zh
    );
    assert!(
        young.description_en.contains("young") && young.description_en.contains("digital"),
        "{}",
        young.description_en
    );
    assert!(
        !young.description_zh.contains("AUM"),
        "{}",
        young.description_zh
    );
    let older = of_blob(2);
    assert!(
        older.description_en.contains("older") && older.description_en.contains("branch-loyal")
    );
    let spenders = of_blob(3);
    assert_eq!(spenders.top_features[0].feature, "card_spend");
    assert!(
        spenders.description_zh.contains("高信用卡消费")
            && spenders.description_zh.contains("低AUM")
    );
    // Centroids come back in original units: the rich cluster's AUM near 300k + 3×100k.
    assert!(
        (rich.centroid[0] - 600_000.0).abs() < 20_000.0,
        "{}",
        rich.centroid[0]
    );
}

#[test]
fn sampled_silhouette_on_larger_data_still_finds_k() {
    let centres = [
        [2.5, 0.0, 0.0, 0.0],
        [-2.5, 0.0, 0.0, 0.0],
        [0.0, 0.0, 3.0, 0.0],
    ];
    let (m, truth) = blobs(&centres, 5_000, 0.7, 9);
    let opts = ClusterOptions {
        k_min: 2,
        k_max: 5,
        silhouette_sample: 2_000,
        restarts: 3,
        ..Default::default()
    };
    let c = cluster(&m, &opts).expect("cluster");
    assert_eq!(c.silhouette_rows, 2_000);
    assert_eq!(c.k, 3, "{:?}", c.k_scores);
    assert!(purity(&c.assignments, &truth, 3, 3) > 0.98);
    // Same seed, same answer.
    let again = cluster(&m, &opts).expect("cluster");
    assert_eq!(again.assignments, c.assignments);
    // k chosen on a 3,000-row sample, then every row clustered with it.
    let sel = ClusterOptions {
        selection_rows: 3_000,
        ..opts
    };
    let s = cluster(&m, &sel).expect("cluster");
    assert_eq!(s.k, 3, "{:?}", s.k_scores);
    assert_eq!(s.assignments.len(), 15_000);
    assert!(purity(&s.assignments, &truth, 3, 3) > 0.98);
}

#[test]
fn missing_values_are_imputed_and_errors_explain() {
    let (m, _) = blobs(&[[2.0, 0.0, 0.0, 0.0], [-2.0, 0.0, 0.0, 0.0]], 50, 0.5, 3);
    let mut cols: Vec<Vec<f64>> = (0..4).map(|j| m.column(j).to_vec()).collect();
    cols[1][0] = f64::NAN;
    cols[1][7] = f64::NAN;
    let m = FeatureMatrix::new(metas(), cols.clone()).expect("matrix");
    let c = cluster(
        &m,
        &ClusterOptions {
            k_min: 2,
            k_max: 3,
            ..Default::default()
        },
    )
    .expect("cluster");
    assert_eq!(c.imputed, vec![0, 2, 0, 0]);
    let json = serde_json::to_value(&c).expect("serialise");
    assert_eq!(json["clusters"].as_array().map(|a| a.len()), Some(c.k));

    let mut ragged = cols.clone();
    ragged[2].pop();
    let e = FeatureMatrix::new(metas(), ragged).unwrap_err().to_string();
    assert!(e.contains("digital_share") && e.contains("99 rows"), "{e}");
    let e = cluster(
        &m,
        &ClusterOptions {
            k_min: 1,
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("k_min"), "{e}");
    let tiny =
        FeatureMatrix::new(vec![metas().remove(0)], vec![vec![1.0, 2.0, 3.0]]).expect("matrix");
    let e = cluster(&tiny, &ClusterOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("3 rows cannot make 8 clusters"), "{e}");
}
