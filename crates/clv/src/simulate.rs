//! Seeded simulators of the three models, for tests (parameter recovery) and benchmarks.

use crate::bgnbd::BgNbdParams;
use crate::data::RfmRow;
use crate::gamma_gamma::GammaGammaParams;
use crate::pareto::ParetoNbdParams;
use rand::{Rng, SeedableRng};
use rand_distr::{Beta, Distribution, Exp, Gamma};
use rand_pcg::Pcg64Mcg;

/// Customers' ages: first purchases spread uniformly over `[0, cohort_span]`, observed until
/// `calibration_length`, so `T` is uniform on `[calibration_length − cohort_span, calibration_length]`.
#[derive(Debug, Clone, Copy)]
pub struct Cohorts {
    pub calibration_length: f64,
    pub cohort_span: f64,
}

fn age<R: Rng>(rng: &mut R, c: &Cohorts) -> f64 {
    c.calibration_length - rng.random::<f64>() * c.cohort_span
}

/// Simulates `n` customers from BG/NBD: Poisson purchases at rate λ ~ gamma(r, α) after a
/// first purchase at time 0; after each repeat purchase the customer drops out with
/// probability p ~ beta(a, b). Panics only if the parameters are not positive.
pub fn simulate_bgnbd(p: &BgNbdParams, n: usize, cohorts: &Cohorts, seed: u64) -> Vec<RfmRow> {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let rate = Gamma::new(p.r, 1.0 / p.alpha).expect("r, alpha > 0");
    let drop = Beta::new(p.a, p.b).expect("a, b > 0");
    (0..n)
        .map(|_| {
            let big_t = age(&mut rng, cohorts);
            let lambda: f64 = rate.sample(&mut rng);
            let pr: f64 = drop.sample(&mut rng);
            let (mut x, mut t_x, mut now) = (0.0, 0.0, 0.0);
            if let Ok(gap) = Exp::new(lambda) {
                loop {
                    now += gap.sample(&mut rng);
                    if now > big_t {
                        break;
                    }
                    x += 1.0;
                    t_x = now;
                    if rng.random::<f64>() < pr {
                        break;
                    }
                }
            }
            RfmRow::new(x, t_x, big_t)
        })
        .collect()
}

/// Simulates `n` customers from Pareto/NBD: Poisson purchases at λ ~ gamma(r, α) until an
/// exponential lifetime with rate μ ~ gamma(s, β) ends.
pub fn simulate_pareto_nbd(
    p: &ParetoNbdParams,
    n: usize,
    cohorts: &Cohorts,
    seed: u64,
) -> Vec<RfmRow> {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let rate = Gamma::new(p.r, 1.0 / p.alpha).expect("r, alpha > 0");
    let death = Gamma::new(p.s, 1.0 / p.beta).expect("s, beta > 0");
    (0..n)
        .map(|_| {
            let big_t = age(&mut rng, cohorts);
            let lambda: f64 = rate.sample(&mut rng);
            let mu: f64 = death.sample(&mut rng);
            let life = Exp::new(mu)
                .map(|e| e.sample(&mut rng))
                .unwrap_or(f64::INFINITY);
            let end = life.min(big_t);
            let (mut x, mut t_x, mut now) = (0.0, 0.0, 0.0);
            if let Ok(gap) = Exp::new(lambda) {
                loop {
                    now += gap.sample(&mut rng);
                    if now > end {
                        break;
                    }
                    x += 1.0;
                    t_x = now;
                }
            }
            RfmRow::new(x, t_x, big_t)
        })
        .collect()
}

/// Mean spend of `x[i]` transactions for each customer under Gamma-Gamma (0 when `x == 0`).
pub fn simulate_gamma_gamma(p: &GammaGammaParams, x: &[f64], seed: u64) -> Vec<f64> {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let scale_dist = Gamma::new(p.q, 1.0 / p.gamma).expect("q, gamma > 0");
    x.iter()
        .map(|&n| {
            let nu: f64 = scale_dist.sample(&mut rng);
            if n == 0.0 {
                return 0.0;
            }
            let spend = Gamma::new(p.p, 1.0 / nu).expect("p, nu > 0");
            (0..n as usize).map(|_| spend.sample(&mut rng)).sum::<f64>() / n
        })
        .collect()
}
