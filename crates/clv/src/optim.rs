//! Small-dimension unconstrained minimisation: Nelder-Mead to get into the right basin from a
//! rough start, then BFGS (dense inverse Hessian, fine for 3–4 parameters) with a
//! backtracking line search to converge tightly. Used on log-parameters, so every point is
//! feasible; invalid regions return `+inf` and are simply rejected.

// Dense small-matrix code reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

/// A function to minimise (a negative log-likelihood in log-parameter space).
pub trait Objective: Sync {
    fn dim(&self) -> usize;
    /// Value at `theta`; `+inf` or NaN where undefined.
    fn value(&self, theta: &[f64]) -> f64;
    /// Value and gradient. The default takes central differences of [`Objective::value`].
    fn value_grad(&self, theta: &[f64], grad: &mut [f64]) -> f64 {
        let f = self.value(theta);
        numeric_gradient(self, theta, grad);
        f
    }
    /// True when [`Objective::value_grad`] is analytic (affects the Hessian method).
    fn analytic_gradient(&self) -> bool {
        false
    }
}

/// Central-difference gradient with step `1e-5` (log-parameters are O(1)).
pub fn numeric_gradient<O: Objective + ?Sized>(obj: &O, theta: &[f64], grad: &mut [f64]) {
    const H: f64 = 1e-5;
    let mut p = theta.to_vec();
    for i in 0..theta.len() {
        p[i] = theta[i] + H;
        let up = obj.value(&p);
        p[i] = theta[i] - H;
        let down = obj.value(&p);
        p[i] = theta[i];
        grad[i] = (up - down) / (2.0 * H);
    }
}

/// Outcome of one local minimisation.
#[derive(Debug, Clone)]
pub struct Minimum {
    pub theta: Vec<f64>,
    pub value: f64,
    pub iterations: usize,
    pub evaluations: usize,
    /// Gradient max-norm at the end, relative to `max(1, |value|)`.
    pub relative_gradient: f64,
    pub converged: bool,
    /// BFGS's final inverse-Hessian approximation (empty for Nelder-Mead), to warm-start a
    /// related problem.
    pub inverse_hessian: Vec<Vec<f64>>,
}

/// Nelder-Mead with the standard coefficients (reflection 1, expansion 2, contraction ½,
/// shrink ½), started from a simplex of steps `step` along each axis.
pub fn nelder_mead<O: Objective + ?Sized>(
    obj: &O,
    start: &[f64],
    step: f64,
    max_iter: usize,
) -> Minimum {
    let n = start.len();
    let mut pts: Vec<Vec<f64>> = Vec::with_capacity(n + 1);
    pts.push(start.to_vec());
    for i in 0..n {
        let mut p = start.to_vec();
        p[i] += step;
        pts.push(p);
    }
    let mut evals = 0usize;
    let mut eval = |p: &[f64]| {
        evals += 1;
        let v = obj.value(p);
        if v.is_nan() { f64::INFINITY } else { v }
    };
    let mut vals: Vec<f64> = pts.iter().map(|p| eval(p)).collect();
    let mut iter = 0;
    while iter < max_iter {
        iter += 1;
        let mut order: Vec<usize> = (0..=n).collect();
        order.sort_by(|&i, &j| vals[i].total_cmp(&vals[j]));
        pts = order.iter().map(|&i| pts[i].clone()).collect();
        vals = order.iter().map(|&i| vals[i]).collect();
        let (best, worst) = (vals[0], vals[n]);
        if best.is_finite() && (worst - best).abs() <= 1e-12 * (1.0 + best.abs()) {
            break;
        }
        let centroid: Vec<f64> = (0..n)
            .map(|k| pts[..n].iter().map(|p| p[k]).sum::<f64>() / n as f64)
            .collect();
        let along = |t: f64| -> Vec<f64> {
            (0..n)
                .map(|k| centroid[k] + t * (pts[n][k] - centroid[k]))
                .collect()
        };
        let xr = along(-1.0);
        let fr = eval(&xr);
        if fr < vals[0] {
            let xe = along(-2.0);
            let fe = eval(&xe);
            if fe < fr {
                pts[n] = xe;
                vals[n] = fe;
            } else {
                pts[n] = xr;
                vals[n] = fr;
            }
            continue;
        }
        if fr < vals[n - 1] {
            pts[n] = xr;
            vals[n] = fr;
            continue;
        }
        let (xc, fc) = if fr < vals[n] {
            let xc = along(-0.5);
            let fc = eval(&xc);
            (xc, fc)
        } else {
            let xc = along(0.5);
            let fc = eval(&xc);
            (xc, fc)
        };
        if fc < vals[n].min(fr) {
            pts[n] = xc;
            vals[n] = fc;
            continue;
        }
        for i in 1..=n {
            let p: Vec<f64> = (0..n)
                .map(|k| pts[0][k] + 0.5 * (pts[i][k] - pts[0][k]))
                .collect();
            vals[i] = eval(&p);
            pts[i] = p;
        }
    }
    let best = (0..=n)
        .min_by(|&i, &j| vals[i].total_cmp(&vals[j]))
        .unwrap_or(0);
    Minimum {
        theta: pts[best].clone(),
        value: vals[best],
        iterations: iter,
        evaluations: evals,
        relative_gradient: f64::NAN,
        converged: false,
        inverse_hessian: Vec::new(),
    }
}

/// BFGS on the inverse Hessian with Armijo backtracking. Stops when the gradient max-norm is
/// below `gtol * max(1, |f|)` or the value stops improving at double precision.
pub fn bfgs<O: Objective + ?Sized>(obj: &O, start: &[f64], gtol: f64, max_iter: usize) -> Minimum {
    bfgs_warm(obj, start, None, gtol, max_iter)
}

/// [`bfgs`] started from an inverse-Hessian approximation `h0` (e.g. from the same model fitted
/// on a subset, rescaled), which skips the slow first steps of a cold start.
pub fn bfgs_warm<O: Objective + ?Sized>(
    obj: &O,
    start: &[f64],
    h0: Option<Vec<Vec<f64>>>,
    gtol: f64,
    max_iter: usize,
) -> Minimum {
    let n = start.len();
    let mut x = start.to_vec();
    let mut g = vec![0.0; n];
    let mut f = obj.value_grad(&x, &mut g);
    let mut evals = 1usize;
    let warm = h0.as_ref().is_some_and(|h| h.len() == n);
    let mut h = if warm {
        h0.unwrap_or_default()
    } else {
        identity(n)
    };
    let mut stalled = 0;
    let mut iter = 0;
    let rel_grad =
        |g: &[f64], f: f64| g.iter().fold(0.0f64, |m, v| m.max(v.abs())) / f.abs().max(1.0);
    if !f.is_finite() || g.iter().any(|v| !v.is_finite()) {
        return Minimum {
            theta: x,
            value: f64::INFINITY,
            iterations: 0,
            evaluations: evals,
            relative_gradient: f64::NAN,
            converged: false,
            inverse_hessian: h,
        };
    }
    let mut converged = false;
    let mut first_step = !warm;
    while iter < max_iter {
        if rel_grad(&g, f) <= gtol {
            converged = true;
            break;
        }
        iter += 1;
        // Search direction d = -H g; fall back to steepest descent if not a descent direction.
        let mut d: Vec<f64> = (0..n)
            .map(|i| -(0..n).map(|j| h[i][j] * g[j]).sum::<f64>())
            .collect();
        let mut slope: f64 = d.iter().zip(&g).map(|(a, b)| a * b).sum();
        if slope >= 0.0 || !slope.is_finite() {
            h = identity(n);
            d = g.iter().map(|v| -v).collect();
            slope = -g.iter().map(|v| v * v).sum::<f64>();
        }
        // On the first step the identity scaling is arbitrary: cap the move at 1 log-unit.
        let mut step = 1.0;
        if first_step {
            let norm = d.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            if norm > 1.0 {
                step = 1.0 / norm;
            }
        }
        let mut accepted = None;
        let mut gnew = vec![0.0; n];
        for _ in 0..60 {
            let xn: Vec<f64> = x.iter().zip(&d).map(|(a, b)| a + step * b).collect();
            let fnew = obj.value_grad(&xn, &mut gnew);
            evals += 1;
            if fnew.is_finite()
                && gnew.iter().all(|v| v.is_finite())
                && fnew <= f + 1e-4 * step * slope
            {
                accepted = Some((xn, fnew));
                break;
            }
            // Backtrack to the minimiser of the quadratic through f, the slope and fnew,
            // kept within [0.1, 0.5] of the step (Nocedal & Wright §3.5).
            step *= if fnew.is_finite() {
                let curvature = fnew - f - slope * step;
                if curvature > 0.0 {
                    (-slope * step / (2.0 * curvature)).clamp(0.1, 0.5)
                } else {
                    0.5
                }
            } else {
                0.1
            };
        }
        let Some((xn, fnew)) = accepted else {
            // No progress along the direction: the point is as good as double precision allows.
            converged = rel_grad(&g, f) <= gtol.sqrt();
            break;
        };
        let s: Vec<f64> = xn.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = gnew.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy: f64 = s.iter().zip(&y).map(|(a, b)| a * b).sum();
        if sy > 1e-12 * norm2(&s) * norm2(&y) {
            if first_step {
                // Shanno-Phua scaling of the initial inverse Hessian.
                let yy: f64 = y.iter().map(|v| v * v).sum();
                h = identity(n);
                for (i, row) in h.iter_mut().enumerate() {
                    row[i] = sy / yy;
                }
            }
            bfgs_update(&mut h, &s, &y, sy);
            first_step = false;
        }
        let improvement = f - fnew;
        x = xn;
        f = fnew;
        g.copy_from_slice(&gnew);
        if improvement <= 1e-14 * f.abs().max(1.0) {
            stalled += 1;
            if stalled >= 3 {
                converged = rel_grad(&g, f) <= gtol.sqrt();
                break;
            }
        } else {
            stalled = 0;
        }
    }
    Minimum {
        relative_gradient: rel_grad(&g, f),
        theta: x,
        value: f,
        iterations: iter,
        evaluations: evals,
        converged,
        inverse_hessian: h,
    }
}

fn norm2(v: &[f64]) -> f64 {
    v.iter().map(|a| a * a).sum::<f64>().sqrt()
}

fn identity(n: usize) -> Vec<Vec<f64>> {
    (0..n)
        .map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
        .collect()
}

fn bfgs_update(h: &mut [Vec<f64>], s: &[f64], y: &[f64], sy: f64) {
    let n = s.len();
    let rho = 1.0 / sy;
    let hy: Vec<f64> = (0..n)
        .map(|i| (0..n).map(|j| h[i][j] * y[j]).sum())
        .collect();
    let yhy: f64 = y.iter().zip(&hy).map(|(a, b)| a * b).sum();
    for i in 0..n {
        for j in 0..n {
            h[i][j] += -rho * (hy[i] * s[j] + s[i] * hy[j]) + (rho * rho * yhy + rho) * s[i] * s[j];
        }
    }
}

/// Hessian of the objective at `theta`: central differences of the analytic gradient when
/// there is one, otherwise second differences of the value.
pub fn hessian<O: Objective + ?Sized>(obj: &O, theta: &[f64]) -> Vec<Vec<f64>> {
    let n = theta.len();
    let mut hm = vec![vec![0.0; n]; n];
    if obj.analytic_gradient() {
        const H: f64 = 1e-5;
        let mut gp = vec![0.0; n];
        let mut gm = vec![0.0; n];
        let mut p = theta.to_vec();
        for i in 0..n {
            p[i] = theta[i] + H;
            obj.value_grad(&p, &mut gp);
            p[i] = theta[i] - H;
            obj.value_grad(&p, &mut gm);
            p[i] = theta[i];
            for j in 0..n {
                hm[i][j] = (gp[j] - gm[j]) / (2.0 * H);
            }
        }
        for i in 0..n {
            for j in 0..i {
                let m = 0.5 * (hm[i][j] + hm[j][i]);
                hm[i][j] = m;
                hm[j][i] = m;
            }
        }
    } else {
        const H: f64 = 1e-4;
        let f0 = obj.value(theta);
        let mut p = theta.to_vec();
        let at = |p: &mut Vec<f64>, i: usize, di: f64, j: usize, dj: f64| {
            p[i] += di;
            p[j] += dj;
            let v = obj.value(p);
            p[i] -= di;
            p[j] -= dj;
            v
        };
        for i in 0..n {
            let up = at(&mut p, i, H, i, 0.0);
            let down = at(&mut p, i, -H, i, 0.0);
            hm[i][i] = (up - 2.0 * f0 + down) / (H * H);
            for j in 0..i {
                let pp = at(&mut p, i, H, j, H);
                let pm = at(&mut p, i, H, j, -H);
                let mp = at(&mut p, i, -H, j, H);
                let mm = at(&mut p, i, -H, j, -H);
                let v = (pp - pm - mp + mm) / (4.0 * H * H);
                hm[i][j] = v;
                hm[j][i] = v;
            }
        }
    }
    hm
}

/// Inverse of a small symmetric positive-definite matrix by Cholesky; `None` if it is not
/// positive definite (the optimum is flat or a saddle in some direction).
pub fn spd_inverse(a: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = a.len();
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = a[i][j] - (0..j).map(|k| l[i][k] * l[j][k]).sum::<f64>();
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i][i] = s.sqrt();
            } else {
                l[i][j] = s / l[j][j];
            }
        }
    }
    // Solve L L^T X = I column by column.
    let mut inv = vec![vec![0.0; n]; n];
    for c in 0..n {
        let mut y = vec![0.0; n];
        for i in 0..n {
            let rhs = if i == c { 1.0 } else { 0.0 };
            y[i] = (rhs - (0..i).map(|k| l[i][k] * y[k]).sum::<f64>()) / l[i][i];
        }
        let mut xcol = vec![0.0; n];
        for i in (0..n).rev() {
            xcol[i] = (y[i] - (i + 1..n).map(|k| l[k][i] * xcol[k]).sum::<f64>()) / l[i][i];
        }
        for i in 0..n {
            inv[i][c] = xcol[i];
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rosenbrock in 2-D and a shifted quadratic in 4-D, with analytic gradients.
    struct Rosen;
    impl Objective for Rosen {
        fn dim(&self) -> usize {
            2
        }
        fn value(&self, t: &[f64]) -> f64 {
            (1.0 - t[0]).powi(2) + 100.0 * (t[1] - t[0] * t[0]).powi(2)
        }
        fn value_grad(&self, t: &[f64], g: &mut [f64]) -> f64 {
            g[0] = -2.0 * (1.0 - t[0]) - 400.0 * t[0] * (t[1] - t[0] * t[0]);
            g[1] = 200.0 * (t[1] - t[0] * t[0]);
            self.value(t)
        }
        fn analytic_gradient(&self) -> bool {
            true
        }
    }

    struct Quad;
    impl Objective for Quad {
        fn dim(&self) -> usize {
            4
        }
        fn value(&self, t: &[f64]) -> f64 {
            t.iter()
                .enumerate()
                .map(|(i, v)| (i as f64 + 1.0) * (v - i as f64).powi(2))
                .sum::<f64>()
                + 0.5 * t[0] * t[1]
        }
    }

    #[test]
    fn bfgs_solves_rosenbrock() {
        let m = bfgs(&Rosen, &[-1.2, 1.0], 1e-10, 500);
        assert!(m.converged, "{m:?}");
        assert!((m.theta[0] - 1.0).abs() < 1e-6 && (m.theta[1] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn nelder_mead_then_bfgs_with_numeric_gradient() {
        let nm = nelder_mead(&Quad, &[5.0, -5.0, 5.0, -5.0], 0.5, 200);
        let m = bfgs(&Quad, &nm.theta, 1e-9, 200);
        // Stationary point of the quadratic: solve by hand.
        // d/dt0: 2(t0-0) + 0.5 t1 = 0; d/dt1: 4(t1-1) + 0.5 t0 = 0
        // => 2 t0 + 0.5 (1 - t0/8) = 0
        let t0 = -0.5 / 1.9375;
        let t1 = 1.0 - 0.125 * t0;
        assert!((m.theta[0] - t0).abs() < 1e-5, "{:?}", m.theta);
        assert!((m.theta[1] - t1).abs() < 1e-5);
        assert!((m.theta[2] - 2.0).abs() < 1e-5);
        assert!((m.theta[3] - 3.0).abs() < 1e-5);
        // Its Hessian is constant: diag(2,4,6,8) with 0.5 off-diagonal at (0,1).
        let h = hessian(&Quad, &m.theta);
        assert!((h[0][0] - 2.0).abs() < 1e-3 && (h[3][3] - 8.0).abs() < 1e-3);
        assert!((h[0][1] - 0.5).abs() < 1e-3 && h[2][3].abs() < 1e-3);
        let inv = spd_inverse(&h).expect("positive definite");
        assert!((inv[2][2] - 1.0 / 6.0).abs() < 1e-4);
    }

    #[test]
    fn spd_inverse_rejects_indefinite() {
        assert!(spd_inverse(&[vec![1.0, 2.0], vec![2.0, 1.0]]).is_none());
    }
}
