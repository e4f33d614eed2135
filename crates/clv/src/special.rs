//! Special functions the likelihoods need: log-gamma and digamma (from `statrs`), a stable
//! log-add-exp, and the Gauss hypergeometric function 2F1 on `0 <= z < 1` by its power series
//! with a rigorous tail bound.

pub use statrs::function::gamma::{digamma, ln_gamma};

/// `ln(e^a + e^b)` without overflow; `-inf` inputs are handled.
#[inline]
pub fn log_add_exp(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    hi + (lo - hi).exp().ln_1p()
}

/// `ln(e^a - e^b)` for `a >= b`; `-inf` when they are equal.
#[inline]
pub fn log_sub_exp(a: f64, b: f64) -> f64 {
    if b == f64::NEG_INFINITY {
        return a;
    }
    let d = b - a;
    if d >= 0.0 {
        return f64::NEG_INFINITY;
    }
    // ln(1 - e^d): use log1p(-e^d) for d < -ln 2, ln(-expm1(d)) otherwise (Mächler 2012).
    a + if d < -std::f64::consts::LN_2 {
        (-d.exp()).ln_1p()
    } else {
        (-d.exp_m1()).ln()
    }
}

/// Largest number of series terms before giving up (z very close to 1).
const MAX_TERMS: usize = 2_000_000;

/// Natural log of `2F1(a, b; c; z)` for `a, b, c > 0` and `0 <= z < 1`, where every term of
/// the series is positive. The sum is rescaled as it grows, so very large values (large `b`,
/// `z` near 1) do not overflow. Returns NaN if the series does not converge in
/// [`MAX_TERMS`] terms or the arguments are outside the domain.
pub fn ln_hyp2f1_positive(a: f64, b: f64, c: f64, z: f64) -> f64 {
    if !(a > 0.0 && b > 0.0 && c > 0.0 && (0.0..1.0).contains(&z)) {
        return f64::NAN;
    }
    if z == 0.0 {
        return 0.0;
    }
    const RESCALE: f64 = 1e200;
    let mut scale = 0.0f64; // ln of the factor the running values were divided by
    let mut term = 1.0f64;
    let mut sum = 1.0f64;
    for n in 0..MAX_TERMS {
        let nf = n as f64;
        let ratio = (a + nf) * (b + nf) / ((c + nf) * (nf + 1.0)) * z;
        term *= ratio;
        sum += term;
        if sum > RESCALE {
            sum /= RESCALE;
            term /= RESCALE;
            scale += RESCALE.ln();
        }
        // Past the peak the ratios tend monotonically to z, so the tail is bounded by a
        // geometric series with ratio max(ratio, z).
        let rho = ratio.max(z);
        if rho < 1.0 && term * rho <= 1e-16 * sum * (1.0 - rho) {
            return sum.ln() + scale;
        }
    }
    f64::NAN
}

/// `ln S` and the relative derivatives `(∂S/∂a, ∂S/∂b, ∂S/∂z) / S` of
/// `S = 2F1(a, b; a+1; z)` for `a, b > 0`, `0 <= z < 1`, summed in one pass of the series
/// `t_n = a/(a+n) · (b)_n/n! · z^n` with `∂t_n/∂a = t_n (1/a − 1/(a+n))`,
/// `∂t_n/∂b = t_n Σ_{k<n} 1/(b+k)` and `∂t_n/∂z = t_n n/z`. NaN when it does not converge.
pub fn ln_hyp2f1_a1_grad(a: f64, b: f64, z: f64) -> (f64, f64, f64, f64) {
    let nan = (f64::NAN, f64::NAN, f64::NAN, f64::NAN);
    if !(a > 0.0 && b > 0.0 && (0.0..1.0).contains(&z)) {
        return nan;
    }
    if z == 0.0 {
        return (0.0, 0.0, 0.0, a * b / (a + 1.0));
    }
    const RESCALE: f64 = 1e200;
    let inv_a = 1.0 / a;
    let (mut scale, mut sum, mut sa, mut sb, mut sz) = (0.0f64, 1.0f64, 0.0f64, 0.0f64, 0.0f64);
    // u_n = (b)_n/n! z^n (without the a/(a+n) factor); harmonic H_n = Σ_{k<n} 1/(b+k).
    let mut u = 1.0f64;
    let mut h = 0.0f64;
    for n in 0..MAX_TERMS {
        let nf = n as f64;
        u *= (b + nf) / (nf + 1.0) * z;
        h += 1.0 / (b + nf);
        let n1 = nf + 1.0;
        let frac = a / (a + n1);
        let term = u * frac;
        sum += term;
        sa += term * (inv_a - 1.0 / (a + n1));
        sb += term * h;
        sz += term * n1;
        if sum > RESCALE {
            sum /= RESCALE;
            sa /= RESCALE;
            sb /= RESCALE;
            sz /= RESCALE;
            u /= RESCALE;
            scale += RESCALE.ln();
        }
        let ratio = (a + nf) / (a + n1) * (b + nf) / n1 * z;
        let rho = ratio.max(z);
        // The derivative series decay like n·t_n: demand the tail of that too.
        if rho < 1.0 && term * (n1 + 2.0) * rho <= 1e-16 * sum * (1.0 - rho) * (1.0 - rho) {
            return (sum.ln() + scale, sa / sum, sb / sum, sz / (z * sum));
        }
    }
    nan
}

/// `2F1(a, b; c; z)` for real `a, b, c` (with `c` not a non-positive integer) and
/// `0 <= z < 1`, by the power series. Terms may change sign when an argument is negative;
/// the stopping rule waits until the term ratios have settled below one. NaN when the series
/// does not converge in [`MAX_TERMS`] terms or the value overflows.
pub fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    if !(0.0..1.0).contains(&z) || !a.is_finite() || !b.is_finite() || !c.is_finite() {
        return f64::NAN;
    }
    if c <= 0.0 && c.fract() == 0.0 {
        return f64::NAN;
    }
    if a > 0.0 && b > 0.0 && c > 0.0 {
        return ln_hyp2f1_positive(a, b, c, z).exp();
    }
    let mut term = 1.0f64;
    let mut sum = 1.0f64;
    // After n exceeds every |argument|, the ratios no longer change sign or direction.
    let settled = a.abs().max(b.abs()).max(c.abs()) + 2.0;
    for n in 0..MAX_TERMS {
        let nf = n as f64;
        let ratio = (a + nf) * (b + nf) / ((c + nf) * (nf + 1.0)) * z;
        term *= ratio;
        sum += term;
        if term == 0.0 {
            return sum;
        }
        if !sum.is_finite() {
            return f64::NAN;
        }
        let rho = ratio.abs().max(z);
        if nf > settled && rho < 1.0 && term.abs() * rho / (1.0 - rho) <= 1e-16 * sum.abs() {
            return sum;
        }
    }
    f64::NAN
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-300)
    }

    #[test]
    fn hyp2f1_closed_forms() {
        // 2F1(1,1;2;z) = -ln(1-z)/z
        for &z in &[0.1, 0.5, 0.9, 0.99] {
            let want = -(1.0f64 - z).ln() / z;
            assert!(close(hyp2f1(1.0, 1.0, 2.0, z), want, 1e-13), "z={z}");
        }
        // 2F1(a,b;b;z) = (1-z)^-a
        for &(a, z) in &[(0.3, 0.2), (2.5, 0.7), (7.0, 0.95)] {
            let want = (1.0f64 - z).powf(-a);
            assert!(close(hyp2f1(a, 1.7, 1.7, z), want, 1e-12), "a={a} z={z}");
        }
        // 2F1(1/2,1;3/2;z^2) = atanh(z)/z
        let z: f64 = 0.8;
        assert!(close(hyp2f1(0.5, 1.0, 1.5, z * z), z.atanh() / z, 1e-13));
        // A negative parameter: 2F1(-2, b; c; z) is a polynomial.
        let (b, c, z) = (1.5, 2.5, 0.6);
        let want = 1.0 - 2.0 * b / c * z + b * (b + 1.0) / (c * (c + 1.0)) * z * z;
        assert!(close(hyp2f1(-2.0, b, c, z), want, 1e-13));
    }

    #[test]
    fn hyp2f1_a1_gradient_matches_differences() {
        for &(a, b, z) in &[
            (1.3, 1.6, 0.1),
            (25.0, 0.7, 0.6),
            (3.0, 30.0, 0.9),
            (0.4, 2.0, 0.0),
        ] {
            let (ln, ga, gb, gz) = ln_hyp2f1_a1_grad(a, b, z);
            let f = |a: f64, b: f64, z: f64| ln_hyp2f1_positive(a, b, a + 1.0, z);
            assert!((ln - f(a, b, z)).abs() < 1e-13, "{a} {b} {z}");
            let h = 1e-6;
            let na = (f(a + h, b, z) - f(a - h, b, z)) / (2.0 * h);
            let nb = (f(a, b + h, z) - f(a, b - h, z)) / (2.0 * h);
            assert!((ga - na).abs() < 1e-7 * (1.0 + na.abs()), "a: {ga} vs {na}");
            assert!((gb - nb).abs() < 1e-7 * (1.0 + nb.abs()), "b: {gb} vs {nb}");
            if z > 0.0 {
                let nz = (f(a, b, z + h) - f(a, b, z - h)) / (2.0 * h);
                assert!((gz - nz).abs() < 1e-6 * (1.0 + nz.abs()), "z: {gz} vs {nz}");
            }
        }
    }

    #[test]
    fn ln_hyp2f1_survives_huge_values() {
        // 2F1(a,b;b;z) = (1-z)^-a with a = 5000: about e^11513, far past f64.
        let ln = ln_hyp2f1_positive(5000.0, 3.0, 3.0, 0.9);
        assert!(close(ln, -5000.0 * (0.1f64).ln(), 1e-12), "{ln}");
    }

    #[test]
    fn log_add_and_sub() {
        assert!(close(
            log_add_exp(1.0, 2.0),
            (1f64.exp() + 2f64.exp()).ln(),
            1e-15
        ));
        assert!(close(
            log_sub_exp(2.0, 1.0),
            (2f64.exp() - 1f64.exp()).ln(),
            1e-15
        ));
        assert_eq!(log_sub_exp(1.0, 1.0), f64::NEG_INFINITY);
        assert_eq!(log_add_exp(f64::NEG_INFINITY, 3.0), 3.0);
        // Far apart: no overflow.
        assert!(close(log_add_exp(1000.0, 0.0), 1000.0, 1e-15));
    }
}
