//! Times `cluster` on N synthetic customers × 10 features with 5 planted groups.
//!
//! ```text
//! cargo run --release -p zhiying-segment --example cluster_timing -- 1000000
//! ```

use rand::{Rng, SeedableRng};
use std::time::Instant;
use zhiying_segment::{ClusterOptions, FeatureMatrix, FeatureMeta, cluster};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let d = 10;
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(1);
    let centres: Vec<Vec<f64>> = (0..5)
        .map(|_| (0..d).map(|_| rng.random_range(-3.0..3.0)).collect())
        .collect();
    let mut cols: Vec<Vec<f64>> = (0..d).map(|_| Vec::with_capacity(n)).collect();
    for i in 0..n {
        let c = &centres[i % 5];
        for j in 0..d {
            // Sum of uniforms: roughly gaussian noise, no extra dependency.
            let noise: f64 = (0..4).map(|_| rng.random_range(-0.5..0.5)).sum();
            cols[j].push(c[j] + noise);
        }
    }
    let metas = (0..d)
        .map(|j| {
            FeatureMeta::new(
                &format!("f{j}"),
                &format!("特征{j}"),
                &format!("feature {j}"),
            )
        })
        .collect();
    let m = FeatureMatrix::new(metas, cols)?;
    let t = Instant::now();
    let c = cluster(&m, &ClusterOptions::default())?;
    println!(
        "rows {n} features {d} k {} silhouette {:.3} seconds {:.2}",
        c.k,
        c.silhouette,
        t.elapsed().as_secs_f64()
    );
    for p in &c.clusters {
        println!(
            "  cluster {} {:>5.1}%  {}  /  {}",
            p.id,
            100.0 * p.share,
            p.description_zh,
            p.description_en
        );
    }
    Ok(())
}
