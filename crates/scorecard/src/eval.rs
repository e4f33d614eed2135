//! Thin evaluation helpers (AUC, KS, log-loss, stratified folds) used until the shared
//! `zhiying-models` evaluation lands.

/// Area under the ROC curve of `score` (higher = more likely positive), ties averaged.
pub fn auc(score: &[f64], y: &[bool]) -> f64 {
    let mut idx: Vec<usize> = (0..score.len()).collect();
    idx.sort_by(|&a, &b| score[a].total_cmp(&score[b]));
    let (mut rank_sum, mut pos) = (0.0, 0usize);
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && score[idx[j + 1]] == score[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if y[k] {
                rank_sum += avg;
                pos += 1;
            }
        }
        i = j + 1;
    }
    let neg = score.len() - pos;
    if pos == 0 || neg == 0 {
        return f64::NAN;
    }
    (rank_sum - (pos * (pos + 1)) as f64 / 2.0) / (pos as f64 * neg as f64)
}

/// Kolmogorov–Smirnov statistic between the score distributions of the two classes.
pub fn ks(score: &[f64], y: &[bool]) -> f64 {
    let mut idx: Vec<usize> = (0..score.len()).collect();
    idx.sort_by(|&a, &b| score[a].total_cmp(&score[b]));
    let pos = y.iter().filter(|&&b| b).count() as f64;
    let neg = y.len() as f64 - pos;
    let (mut cp, mut cn, mut best) = (0.0, 0.0, 0.0f64);
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j < idx.len() && score[idx[j]] == score[idx[i]] {
            if y[idx[j]] {
                cp += 1.0
            } else {
                cn += 1.0
            }
            j += 1;
        }
        best = best.max((cp / pos - cn / neg).abs());
        i = j;
    }
    best
}

/// Mean binary log-loss of probabilities `p`.
pub fn log_loss(p: &[f64], y: &[bool]) -> f64 {
    let eps = 1e-15;
    p.iter()
        .zip(y)
        .map(|(&q, &t)| {
            let q = q.clamp(eps, 1.0 - eps);
            if t { -q.ln() } else { -(1.0 - q).ln() }
        })
        .sum::<f64>()
        / p.len().max(1) as f64
}

/// Fold id (0..k) per row, stratified by class, shuffled with `seed`.
pub fn stratified_folds(y: &[bool], k: usize, seed: u64) -> Vec<usize> {
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut fold = vec![0; y.len()];
    let mut offset = 0;
    for class in [true, false] {
        let mut idx: Vec<usize> = (0..y.len()).filter(|&i| y[i] == class).collect();
        for i in (1..idx.len()).rev() {
            let j = (next() % (i as u64 + 1)) as usize;
            idx.swap(i, j);
        }
        for (r, &i) in idx.iter().enumerate() {
            fold[i] = (r + offset) % k;
        }
        offset += idx.len();
    }
    fold
}
