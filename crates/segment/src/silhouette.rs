//! Mean silhouette (Rousseeuw 1987) with Euclidean distance, split over the cores.

/// Mean silhouette of `labels` (values in `0..k`) on row-major `points` with `d` columns.
/// A point alone in its cluster scores 0, as in scikit-learn. O(n² d): pass a sample for
/// large n.
pub fn silhouette(points: &[f64], d: usize, labels: &[u32], k: usize) -> f64 {
    let n = labels.len();
    if n < 2 || k < 2 {
        return 0.0;
    }
    let mut sizes = vec![0usize; k];
    for &l in labels {
        sizes[l as usize] += 1;
    }
    let score = |i: usize, sums: &mut [f64]| -> f64 {
        sums.iter_mut().for_each(|s| *s = 0.0);
        let p = &points[i * d..(i + 1) * d];
        for (j, q) in points.chunks_exact(d).enumerate() {
            let dd: f64 = p.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum();
            sums[labels[j] as usize] += dd.sqrt();
        }
        let own = labels[i] as usize;
        if sizes[own] <= 1 {
            return 0.0;
        }
        let a = sums[own] / (sizes[own] - 1) as f64;
        let b = (0..k)
            .filter(|&c| c != own && sizes[c] > 0)
            .map(|c| sums[c] / sizes[c] as f64)
            .fold(f64::INFINITY, f64::min);
        if !b.is_finite() {
            return 0.0;
        }
        let m = a.max(b);
        if m > 0.0 { (b - a) / m } else { 0.0 }
    };
    let threads = std::thread::available_parallelism()
        .map(|t| t.get())
        .unwrap_or(1)
        .min(n / 500)
        .max(1);
    let chunk = n.div_ceil(threads);
    let total: f64 = std::thread::scope(|s| {
        let score = &score;
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut sums = vec![0.0; k];
                    (t * chunk..((t + 1) * chunk).min(n))
                        .map(|i| score(i, &mut sums))
                        .sum::<f64>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(f64::NAN))
            .sum()
    });
    total / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four points on a line, {0, 1} and {4, 6}, computed by hand:
    /// s(0) = 1 − 1/5, s(1) = 1 − 1/4, s(4) = 1 − 2/3.5, s(6) = 1 − 2/5.5.
    #[test]
    fn hand_computed() {
        let pts = [0.0, 1.0, 4.0, 6.0];
        let s = silhouette(&pts, 1, &[0, 0, 1, 1], 2);
        let want =
            ((1.0 - 1.0 / 5.0) + (1.0 - 1.0 / 4.0) + (1.0 - 2.0 / 3.5) + (1.0 - 2.0 / 5.5)) / 4.0;
        assert!((s - want).abs() < 1e-12, "{s} vs {want}");
    }

    #[test]
    fn singleton_scores_zero() {
        let pts = [0.0, 1.0, 10.0];
        let s = silhouette(&pts, 1, &[0, 0, 1], 2);
        let want = ((1.0 - 1.0 / 10.0) + (1.0 - 1.0 / 9.0) + 0.0) / 3.0;
        assert!((s - want).abs() < 1e-12);
    }
}
