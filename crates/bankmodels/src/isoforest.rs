//! Isolation forest (Liu, Ting & Zhou 2008): anomalies are isolated by fewer random
//! splits than normal points. Scores are in (0, 1]; about 0.5 is ordinary, near 1 is
//! anomalous. Deterministic for a seed.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct IsolationForestConfig {
    pub trees: usize,
    /// Rows drawn (without replacement) for each tree; 256 in the paper.
    pub sample_size: usize,
    pub seed: u64,
}

impl Default for IsolationForestConfig {
    fn default() -> Self {
        IsolationForestConfig {
            trees: 200,
            sample_size: 256,
            seed: 42,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum Node {
    Split {
        feature: u16,
        threshold: f64,
        left: u32,
        right: u32,
    },
    Leaf {
        size: u32,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Tree {
    nodes: Vec<Node>,
}

/// A fitted forest over `n_features` numeric features (row-major input, no NaN).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IsolationForest {
    n_features: usize,
    sample_size: usize,
    trees: Vec<Tree>,
}

/// Average path length of an unsuccessful search in a binary search tree of `n` points.
fn c(n: f64) -> f64 {
    if n <= 1.0 {
        0.0
    } else if n < 2.5 {
        1.0
    } else {
        2.0 * ((n - 1.0).ln() + 0.577_215_664_901_532_9) - 2.0 * (n - 1.0) / n
    }
}

impl IsolationForest {
    /// Fits on `rows` (row-major, `n_features` per row). NaN must be replaced first.
    pub fn fit(data: &[f64], n_features: usize, cfg: &IsolationForestConfig) -> IsolationForest {
        let n = data.len().checked_div(n_features).unwrap_or(0);
        let psi = cfg.sample_size.min(n).max(1);
        let max_depth = (psi as f64).log2().ceil() as usize;
        let mut rng = Pcg64Mcg::seed_from_u64(cfg.seed);
        let mut trees = Vec::with_capacity(cfg.trees);
        let mut all: Vec<u32> = (0..n as u32).collect();
        for _ in 0..cfg.trees {
            // Partial Fisher–Yates: the first `psi` entries are a sample without replacement.
            for i in 0..psi.min(n) {
                let j = rng.random_range(i..n);
                all.swap(i, j);
            }
            let mut sample: Vec<u32> = all[..psi.min(n)].to_vec();
            let mut nodes = Vec::new();
            build(
                &mut nodes,
                data,
                n_features,
                &mut sample,
                0,
                max_depth,
                &mut rng,
            );
            trees.push(Tree { nodes });
        }
        IsolationForest {
            n_features,
            sample_size: psi,
            trees,
        }
    }

    /// Anomaly score of one row: 2^(−E[h(x)] / c(ψ)).
    pub fn score(&self, row: &[f64]) -> f64 {
        let mut total = 0.0;
        for t in &self.trees {
            let mut i = 0usize;
            let mut depth = 0.0;
            loop {
                match &t.nodes[i] {
                    Node::Leaf { size } => {
                        total += depth + c(*size as f64);
                        break;
                    }
                    Node::Split {
                        feature,
                        threshold,
                        left,
                        right,
                    } => {
                        depth += 1.0;
                        i = if row[*feature as usize] < *threshold {
                            *left as usize
                        } else {
                            *right as usize
                        };
                    }
                }
            }
        }
        let mean = total / self.trees.len().max(1) as f64;
        2f64.powf(-mean / c(self.sample_size as f64).max(f64::MIN_POSITIVE))
    }

    /// Scores every row of a row-major matrix.
    pub fn score_all(&self, data: &[f64]) -> Vec<f64> {
        data.chunks_exact(self.n_features.max(1))
            .map(|r| self.score(r))
            .collect()
    }
}

fn build(
    nodes: &mut Vec<Node>,
    data: &[f64],
    nf: usize,
    rows: &mut [u32],
    depth: usize,
    max_depth: usize,
    rng: &mut Pcg64Mcg,
) -> u32 {
    let id = nodes.len() as u32;
    nodes.push(Node::Leaf {
        size: rows.len() as u32,
    });
    if rows.len() <= 1 || depth >= max_depth {
        return id;
    }
    // Try a few features for one with spread; constant everywhere → leaf.
    for _ in 0..nf.max(1) * 2 {
        let f = rng.random_range(0..nf);
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for &r in rows.iter() {
            let v = data[r as usize * nf + f];
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if hi <= lo {
            continue;
        }
        let threshold = rng.random_range(lo..hi);
        let mut split = 0;
        for i in 0..rows.len() {
            if data[rows[i] as usize * nf + f] < threshold {
                rows.swap(i, split);
                split += 1;
            }
        }
        if split == 0 || split == rows.len() {
            continue;
        }
        let (l, r) = rows.split_at_mut(split);
        let left = build(nodes, data, nf, l, depth + 1, max_depth, rng);
        let right = build(nodes, data, nf, r, depth + 1, max_depth, rng);
        nodes[id as usize] = Node::Split {
            feature: f as u16,
            threshold,
            left,
            right,
        };
        return id;
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outliers_score_higher_than_the_cluster() {
        let mut rng = Pcg64Mcg::seed_from_u64(7);
        let mut data = Vec::new();
        for _ in 0..2000 {
            data.push(rng.random_range(-1.0..1.0));
            data.push(rng.random_range(-1.0..1.0));
        }
        let f = IsolationForest::fit(&data, 2, &IsolationForestConfig::default());
        let inside = f.score(&[0.0, 0.0]);
        let outside = f.score(&[6.0, -5.0]);
        assert!(outside > 0.65, "outlier score {outside}");
        assert!(inside < 0.5, "inlier score {inside}");
        let scores = f.score_all(&data);
        assert_eq!(scores.len(), 2000);
        assert!(scores.iter().all(|s| *s > 0.0 && *s <= 1.0));
    }

    #[test]
    fn path_length_normaliser_matches_the_paper() {
        // c(256) from Liu et al.: 2H(255) − 2·255/256 ≈ 10.2445
        assert!((c(256.0) - 10.2445).abs() < 1e-3, "{}", c(256.0));
    }
}
