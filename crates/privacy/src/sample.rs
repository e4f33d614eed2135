//! Exact samplers for the discrete Laplace and discrete Gaussian distributions.
//!
//! This follows Canonne, Kamath and Steinke, "The Discrete Gaussian for Differential
//! Privacy" (NeurIPS 2020), Algorithms 1–3. Every step uses integer arithmetic only:
//! uniform integers from the generator and comparisons of integers. No floating-point
//! logarithm or inverse CDF is evaluated on the noise path, so the output distribution is
//! exactly the stated one (up to the generator) and none of the floating-point attacks on
//! textbook Laplace noise (Mironov 2012: holes in the support of `b·ln(U)` that reveal the
//! true value) apply. Noise is integer-valued and is added to integer statistics.
//!
//! Parameters are rationals `num/den` with `u128` parts. Callers round the real-valued
//! scale *up* to such a rational (see [`Rational::ceil_of`]), so the noise is never
//! smaller than the calibration asks for.
//!
//! Two corners are cut, each with a bias below `e^-1000`, far below anything a float can
//! represent: a Bernoulli whose denominator would overflow `u128` returns 0 (the loop that
//! builds it has already run hundreds of times, probability below `1/500!`), and the
//! discrete Gaussian rejects a candidate whose exponent numerator overflows (with the
//! variance capped at [`MAX_SIGMA2`] the acceptance probability is then below `e^-32768`).

use rand::Rng;

/// A non-negative rational `num / den`, `den > 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rational {
    pub num: u128,
    pub den: u128,
}

/// Laplace scales above this are refused by the calibration (2^50): the noise would
/// swamp any statistic, and the integer arithmetic below stays far from overflow.
pub const MAX_SCALE: f64 = 1_125_899_906_842_624.0;

/// Gaussian variances above this are refused by the calibration (2^56, sigma ≈ 2.7e8). Below
/// it an overflowing acceptance exponent means the exponent exceeds 2^15, so rejecting
/// such a candidate changes the distribution by less than `e^-32768`.
pub const MAX_SIGMA2: f64 = 72_057_594_037_927_936.0;

impl Rational {
    pub fn new(num: u128, den: u128) -> Self {
        assert!(den > 0, "rational with zero denominator");
        let g = gcd(num, den).max(1);
        Rational {
            num: num / g,
            den: den / g,
        }
    }

    /// The smallest rational of the form `k / 2^j` that is `>= x`, with about 40 bits of
    /// precision: `x` is scaled by a power of two (exact in binary floating point) and
    /// rounded up. `x` must be finite, positive and at most [`MAX_SCALE`]² (for variances).
    pub fn ceil_of(x: f64) -> Self {
        assert!(
            x.is_finite() && x > 0.0,
            "scale must be finite and positive"
        );
        let mut den: u128 = 1;
        let mut scaled = x;
        while scaled < (1u64 << 40) as f64 && den < (1u128 << 60) {
            scaled *= 2.0;
            den <<= 1;
        }
        let num = scaled.ceil() as u128;
        Rational::new(num.max(1), den)
    }

    pub fn to_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Bernoulli(num/den), `num <= den`, exactly: a uniform integer below `den` is below `num`.
fn bernoulli<R: Rng + ?Sized>(rng: &mut R, num: u128, den: u128) -> bool {
    debug_assert!(den > 0 && num <= den);
    if num == 0 {
        return false;
    }
    if num >= den {
        return true;
    }
    rng.random_range(0..den) < num
}

/// Bernoulli(exp(-num/den)) (CKS Algorithm 1).
pub fn bernoulli_exp<R: Rng + ?Sized>(rng: &mut R, num: u128, den: u128) -> bool {
    debug_assert!(den > 0);
    if num <= den {
        // gamma in [0, 1]: K is the first k with Bernoulli(gamma/k) = 0; P(K odd) = e^-gamma.
        let mut k: u128 = 1;
        loop {
            let Some(d) = den.checked_mul(k) else {
                // k > 2^7 at the least here; probability below 1/k!, see the module docs.
                return k % 2 == 1;
            };
            if !bernoulli(rng, num, d) {
                break;
            }
            k += 1;
        }
        k % 2 == 1
    } else {
        let whole = num / den;
        for _ in 0..whole {
            if !bernoulli_exp(rng, 1, 1) {
                return false;
            }
        }
        bernoulli_exp(rng, num % den, den)
    }
}

/// One draw from the discrete Laplace distribution with scale `scale = t/s`:
/// `P(x) ∝ exp(-|x| / scale)` on the integers (CKS Algorithm 2).
pub fn discrete_laplace<R: Rng + ?Sized>(rng: &mut R, scale: Rational) -> i128 {
    let (t, s) = (scale.num, scale.den);
    debug_assert!(t > 0 && s > 0);
    loop {
        let u = rng.random_range(0..t);
        if !bernoulli_exp(rng, u, t) {
            continue;
        }
        let mut v: u128 = 0;
        while bernoulli_exp(rng, 1, 1) {
            v += 1;
        }
        let x = u + t * v;
        let y = x / s;
        let negative = rng.random::<bool>();
        if negative && y == 0 {
            continue;
        }
        let y = y as i128;
        return if negative { -y } else { y };
    }
}

/// One draw from the discrete Gaussian with variance parameter `sigma2 = n/d`:
/// `P(x) ∝ exp(-x² / (2·sigma2))` on the integers (CKS Algorithm 3).
pub fn discrete_gaussian<R: Rng + ?Sized>(rng: &mut R, sigma2: Rational) -> i128 {
    let (n, d) = (sigma2.num, sigma2.den);
    debug_assert!(n > 0 && d > 0);
    // t = floor(sigma) + 1; floor(sqrt(n/d)) = isqrt(floor(n/d)).
    let t = (n / d).isqrt() + 1;
    let lap = Rational::new(t, 1);
    loop {
        let y = discrete_laplace(rng, lap);
        // Accept with probability exp(-(|y| - sigma2/t)^2 / (2 sigma2))
        //   = exp(-(|y|·t·d - n)^2 / (2·n·t^2·d)).
        let abs = y.unsigned_abs();
        let Some(ytd) = abs.checked_mul(t).and_then(|v| v.checked_mul(d)) else {
            continue;
        };
        let diff = ytd.abs_diff(n);
        let Some(num) = diff.checked_mul(diff) else {
            continue;
        };
        let Some(den) = n
            .checked_mul(2)
            .and_then(|v| v.checked_mul(t))
            .and_then(|v| v.checked_mul(t))
            .and_then(|v| v.checked_mul(d))
        else {
            continue;
        };
        let g = gcd(num, den).max(1);
        if bernoulli_exp(rng, num / g, den / g) {
            return y;
        }
    }
}

/// Variance of the discrete Laplace distribution with scale `b`:
/// `2·e^(-1/b) / (1 - e^(-1/b))²`.
pub fn discrete_laplace_variance(b: f64) -> f64 {
    let q = (-1.0 / b).exp();
    2.0 * q / ((1.0 - q) * (1.0 - q))
}

/// Variance of the discrete Gaussian with parameter `sigma2`, summed over its support
/// (at most `sigma2`, and within 1e-9 of it once sigma ≥ 1).
pub fn discrete_gaussian_variance(sigma2: f64) -> f64 {
    let sigma = sigma2.sqrt();
    let limit = (sigma * 40.0).ceil() as i64 + 2;
    let (mut z, mut m2) = (0.0f64, 0.0f64);
    for x in -limit..=limit {
        let xf = x as f64;
        let w = (-(xf * xf) / (2.0 * sigma2)).exp();
        z += w;
        m2 += xf * xf * w;
    }
    m2 / z
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_pcg::Pcg64Mcg;

    fn moments(xs: &[i128]) -> (f64, f64) {
        let n = xs.len() as f64;
        let mean = xs.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = xs.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, var)
    }

    #[test]
    fn bernoulli_exp_matches_exp() {
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        for (num, den) in [(1u128, 2u128), (1, 1), (3, 2), (7, 3), (0, 5)] {
            let n = 200_000;
            let hits = (0..n).filter(|_| bernoulli_exp(&mut rng, num, den)).count();
            let p = (-(num as f64) / den as f64).exp();
            let got = hits as f64 / n as f64;
            let se = (p * (1.0 - p) / n as f64).sqrt().max(1e-6);
            assert!(
                (got - p).abs() < 5.0 * se,
                "exp(-{num}/{den}): got {got}, want {p}"
            );
        }
    }

    #[test]
    fn discrete_laplace_variance_matches_theory() {
        let mut rng = Pcg64Mcg::seed_from_u64(7);
        for b in [0.5, 1.0, 3.7, 20.0, 1000.0] {
            let scale = Rational::ceil_of(b);
            let xs: Vec<i128> = (0..200_000)
                .map(|_| discrete_laplace(&mut rng, scale))
                .collect();
            let (mean, var) = moments(&xs);
            let want = discrete_laplace_variance(scale.to_f64());
            assert!(
                (var / want - 1.0).abs() < 0.04,
                "b={b}: variance {var}, theory {want}"
            );
            assert!(
                mean.abs() < 5.0 * (want / 200_000.0).sqrt(),
                "b={b}: mean {mean}"
            );
        }
    }

    #[test]
    fn discrete_laplace_pmf_matches_at_small_values() {
        // P(0) = (1-q)/(1+q) and P(±1) = P(0)·q with q = e^(-1/b).
        let mut rng = Pcg64Mcg::seed_from_u64(11);
        let b = 1.0;
        let n = 300_000;
        let xs: Vec<i128> = (0..n)
            .map(|_| discrete_laplace(&mut rng, Rational::new(1, 1)))
            .collect();
        let q = (-1.0f64 / b).exp();
        let p0 = (1.0 - q) / (1.0 + q);
        for (v, p) in [(0i128, p0), (1, p0 * q), (-1, p0 * q), (3, p0 * q.powi(3))] {
            let got = xs.iter().filter(|&&x| x == v).count() as f64 / n as f64;
            let se = (p * (1.0 - p) / n as f64).sqrt();
            assert!((got - p).abs() < 5.0 * se, "P({v}) = {got}, want {p}");
        }
    }

    #[test]
    fn discrete_gaussian_variance_matches_theory() {
        let mut rng = Pcg64Mcg::seed_from_u64(13);
        for sigma in [0.8f64, 2.0, 9.5, 150.0, 40_000.0] {
            let s2 = Rational::ceil_of(sigma * sigma);
            let xs: Vec<i128> = (0..100_000)
                .map(|_| discrete_gaussian(&mut rng, s2))
                .collect();
            let (mean, var) = moments(&xs);
            let want = discrete_gaussian_variance(s2.to_f64());
            assert!(
                (var / want - 1.0).abs() < 0.04,
                "sigma={sigma}: variance {var}, theory {want}"
            );
            assert!(
                mean.abs() < 5.0 * (want / 100_000.0).sqrt(),
                "sigma={sigma}: mean {mean}"
            );
        }
    }

    #[test]
    fn huge_scales_do_not_overflow() {
        let mut rng = Pcg64Mcg::seed_from_u64(17);
        let big = Rational::ceil_of(MAX_SCALE);
        for _ in 0..1000 {
            let _ = discrete_laplace(&mut rng, big);
        }
        let s2 = Rational::ceil_of(MAX_SIGMA2);
        let xs: Vec<i128> = (0..4000).map(|_| discrete_gaussian(&mut rng, s2)).collect();
        let (_, var) = moments(&xs);
        let sd = MAX_SIGMA2.sqrt();
        assert!(
            (var.sqrt() / sd - 1.0).abs() < 0.1,
            "sd {} want {sd}",
            var.sqrt()
        );
    }

    #[test]
    fn ceil_of_never_rounds_down() {
        for x in [1e-9, 0.1, 1.0 / 3.0, 2.5, 1e6 + 0.3, 7.1e13] {
            let r = Rational::ceil_of(x);
            assert!(r.to_f64() >= x, "{x} -> {r:?}");
            assert!(r.to_f64() / x - 1.0 < 1e-9, "{x} -> {r:?}");
        }
    }
}
