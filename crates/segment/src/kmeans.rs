//! k-means: k-means++ seeding (Arthur & Vassilvitskii 2007), Lloyd iterations, seeded restarts.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};

/// A k-means solution on row-major points.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KMeansResult {
    pub k: usize,
    /// Row-major k × d.
    pub centroids: Vec<f64>,
    pub assignments: Vec<u32>,
    /// Sum of squared distances to the assigned centroid.
    pub inertia: f64,
    pub iterations: usize,
}

#[inline]
fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

fn nearest(p: &[f64], centroids: &[f64], d: usize) -> (u32, f64) {
    let mut best = (0u32, f64::INFINITY);
    for (c, cen) in centroids.chunks_exact(d).enumerate() {
        let dd = dist2(p, cen);
        if dd < best.1 {
            best = (c as u32, dd);
        }
    }
    best
}

/// Assigns every point to its nearest centroid; returns (changed assignments, inertia).
/// Large inputs are split across the cores.
fn assign(points: &[f64], d: usize, centroids: &[f64], assignments: &mut [u32]) -> (usize, f64) {
    let work = |pts: &[f64], out: &mut [u32]| {
        let (mut changed, mut inertia) = (0usize, 0.0f64);
        for (p, a) in pts.chunks_exact(d).zip(out.iter_mut()) {
            let (c, dd) = nearest(p, centroids, d);
            if *a != c {
                *a = c;
                changed += 1;
            }
            inertia += dd;
        }
        (changed, inertia)
    };
    let n = assignments.len();
    let threads = std::thread::available_parallelism()
        .map(|t| t.get())
        .unwrap_or(1)
        .min(n / 20_000)
        .max(1);
    if threads == 1 {
        return work(points, assignments);
    }
    let chunk = n.div_ceil(threads);
    std::thread::scope(|s| {
        let work = &work;
        let handles: Vec<_> = points
            .chunks(chunk * d)
            .zip(assignments.chunks_mut(chunk))
            .map(|(p, a)| s.spawn(move || work(p, a)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or((0, f64::NAN)))
            .fold((0, 0.0), |(c, i), (c2, i2)| (c + c2, i + i2))
    })
}

fn plus_plus(points: &[f64], d: usize, k: usize, rng: &mut Pcg64Mcg) -> Vec<f64> {
    let n = points.len() / d;
    let mut centroids = Vec::with_capacity(k * d);
    let first = rng.random_range(0..n);
    centroids.extend_from_slice(&points[first * d..(first + 1) * d]);
    let mut dmin: Vec<f64> = points
        .chunks_exact(d)
        .map(|p| dist2(p, &centroids[0..d]))
        .collect();
    for _ in 1..k {
        let total: f64 = dmin.iter().sum();
        let idx = if total > 0.0 {
            // Sample proportional to squared distance from the nearest chosen centre.
            let mut u = rng.random::<f64>() * total;
            let mut pick = n - 1;
            for (i, &w) in dmin.iter().enumerate() {
                if u < w {
                    pick = i;
                    break;
                }
                u -= w;
            }
            pick
        } else {
            rng.random_range(0..n)
        };
        let c = points[idx * d..(idx + 1) * d].to_vec();
        for (i, p) in points.chunks_exact(d).enumerate() {
            let dd = dist2(p, &c);
            if dd < dmin[i] {
                dmin[i] = dd;
            }
        }
        centroids.extend_from_slice(&c);
    }
    centroids
}

/// Lloyd iterations from given centroids (row-major k × d).
pub(crate) fn lloyd_from(
    points: &[f64],
    d: usize,
    k: usize,
    centroids: Vec<f64>,
    max_iter: usize,
) -> KMeansResult {
    lloyd(points, d, k, centroids, max_iter)
}

fn lloyd(
    points: &[f64],
    d: usize,
    k: usize,
    mut centroids: Vec<f64>,
    max_iter: usize,
) -> KMeansResult {
    let n = points.len() / d;
    let mut assignments = vec![u32::MAX; n];
    let mut iterations = 0;
    let mut inertia;
    loop {
        iterations += 1;
        let (changed, total) = assign(points, d, &centroids, &mut assignments);
        inertia = total;
        if changed == 0 || iterations >= max_iter {
            break;
        }
        let mut sums = vec![0.0; k * d];
        let mut counts = vec![0usize; k];
        for (i, p) in points.chunks_exact(d).enumerate() {
            let c = assignments[i] as usize;
            counts[c] += 1;
            for (s, v) in sums[c * d..(c + 1) * d].iter_mut().zip(p) {
                *s += v;
            }
        }
        for c in 0..k {
            if counts[c] == 0 {
                // An empty cluster takes the point farthest from its centre.
                let far = points
                    .chunks_exact(d)
                    .enumerate()
                    .map(|(i, p)| (i, dist2(p, &centroids[assignments[i] as usize * d..][..d])))
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|(i, _)| i)
                    .unwrap_or(0);
                centroids[c * d..(c + 1) * d].copy_from_slice(&points[far * d..(far + 1) * d]);
                assignments[far] = c as u32;
            } else {
                for j in 0..d {
                    centroids[c * d + j] = sums[c * d + j] / counts[c] as f64;
                }
            }
        }
    }
    KMeansResult {
        k,
        centroids,
        assignments,
        inertia,
        iterations,
    }
}

/// Best of `restarts` k-means++ + Lloyd runs on `points` (row-major, `d` columns).
/// Deterministic for a `seed`. `k` must be at least 1 and at most the number of points.
pub fn kmeans(
    points: &[f64],
    d: usize,
    k: usize,
    restarts: usize,
    max_iter: usize,
    seed: u64,
) -> KMeansResult {
    let mut best: Option<KMeansResult> = None;
    for r in 0..restarts.max(1) {
        let mut rng = Pcg64Mcg::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(r as u64));
        let init = plus_plus(points, d, k, &mut rng);
        let res = lloyd(points, d, k, init, max_iter);
        if best.as_ref().is_none_or(|b| res.inertia < b.inertia) {
            best = Some(res);
        }
    }
    // restarts.max(1) guarantees one run.
    best.unwrap_or_else(|| lloyd(points, d, k, points[..k * d].to_vec(), max_iter))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// At convergence every point is assigned to its nearest centroid and every centroid
        /// is the mean of its points (Lloyd's fixed point), and inertia is consistent.
        #[test]
        fn lloyd_fixed_point(pts in proptest::collection::vec(-10.0f64..10.0, 40..200), k in 1usize..5) {
            let d = 2;
            let n = pts.len() / d;
            let pts = &pts[..n * d];
            let r = kmeans(pts, d, k, 2, 1000, 7);
            let mut inertia = 0.0;
            for (i, p) in pts.chunks_exact(d).enumerate() {
                let (c, dd) = nearest(p, &r.centroids, d);
                let own = dist2(p, &r.centroids[r.assignments[i] as usize * d..][..d]);
                prop_assert!(own <= dd + 1e-9, "row {i}: assigned {} but {} is nearer", r.assignments[i], c);
                inertia += own;
            }
            prop_assert!((inertia - r.inertia).abs() < 1e-6 * (1.0 + inertia));
        }
    }

    #[test]
    fn same_seed_same_answer() {
        let pts: Vec<f64> = (0..400).map(|i| ((i * 7919) % 101) as f64).collect();
        let a = kmeans(&pts, 2, 4, 3, 100, 1);
        let b = kmeans(&pts, 2, 4, 3, 100, 1);
        assert_eq!(a.assignments, b.assignments);
        assert_eq!(a.inertia, b.inertia);
    }
}
