//! The small dense linear algebra IRLS needs: Cholesky factorisation and solves of a
//! symmetric positive-definite p×p matrix (p is the number of coefficients, at most a few
//! hundred), stored row-major.

/// Cholesky factor `L` (lower, row-major) of the SPD matrix `a`, or `None` if it is not SPD.
pub(crate) fn cholesky(a: &[f64], p: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; p * p];
    for i in 0..p {
        for j in 0..=i {
            let mut s = a[i * p + j];
            for k in 0..j {
                s -= l[i * p + k] * l[j * p + k];
            }
            if i == j {
                if s.is_nan() || s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i * p + i] = s.sqrt();
            } else {
                l[i * p + j] = s / l[j * p + j];
            }
        }
    }
    Some(l)
}

/// Solve `L Lᵀ x = b`.
pub(crate) fn chol_solve(l: &[f64], p: usize, b: &[f64]) -> Vec<f64> {
    let mut z = b.to_vec();
    for i in 0..p {
        let mut s = z[i];
        for k in 0..i {
            s -= l[i * p + k] * z[k];
        }
        z[i] = s / l[i * p + i];
    }
    for i in (0..p).rev() {
        let mut s = z[i];
        for k in i + 1..p {
            s -= l[k * p + i] * z[k];
        }
        z[i] = s / l[i * p + i];
    }
    z
}

/// Diagonal of `A⁻¹` from the Cholesky factor of `A`.
pub(crate) fn chol_inverse_diag(l: &[f64], p: usize) -> Vec<f64> {
    let mut d = Vec::with_capacity(p);
    let mut e = vec![0.0; p];
    for j in 0..p {
        e.iter_mut().for_each(|v| *v = 0.0);
        e[j] = 1.0;
        d.push(chol_solve(l, p, &e)[j]);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_a_known_system() {
        // A = [[4,2],[2,3]], b = [2,1] -> x = [0.5, 0]
        let a = [4.0, 2.0, 2.0, 3.0];
        let l = cholesky(&a, 2).expect("SPD");
        let x = chol_solve(&l, 2, &[2.0, 1.0]);
        assert!((x[0] - 0.5).abs() < 1e-12 && x[1].abs() < 1e-12);
        // A^-1 = 1/8 [[3,-2],[-2,4]]
        let d = chol_inverse_diag(&l, 2);
        assert!((d[0] - 3.0 / 8.0).abs() < 1e-12 && (d[1] - 0.5).abs() < 1e-12);
        assert!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2).is_none());
    }
}
