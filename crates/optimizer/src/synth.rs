//! A deterministic, realistic instance for demos and benchmarks: 5 campaigns × 4 offers,
//! 4 channels with tight capacities, campaign budgets, 2 offers per customer and one per
//! campaign. Each customer is eligible for 10 offers on 2 channels each (20 candidates);
//! propensities are log-normal (a few customers respond far more than most), so values
//! are skewed like real response models.

use std::fmt::Write;

use crate::error::ProblemError;
use crate::problem::{CampaignId, Candidate, ChannelId, OfferId, Problem};

/// SplitMix64: tiny, fast and reproducible across platforms.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }
    fn normal(&mut self) -> f64 {
        let u = self.unit().max(1e-300);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// Channel: name, cost per contact, response lift, capacity per customer in the base.
const CHANNELS: [(&str, f64, f64, f64); 4] = [
    ("call", 6.0, 3.0, 0.02),
    ("sms", 0.05, 1.0, 0.12),
    ("email", 0.01, 0.6, 0.25),
    ("app_push", 0.005, 0.8, 0.15),
];

/// Campaign: name, value of a response, incentive paid on response, budget per customer.
const CAMPAIGNS: [(&str, f64, f64, f64); 5] = [
    ("card_upgrade", 400.0, 50.0, 0.08),
    ("wealth_fund", 1500.0, 100.0, 2.5),
    ("personal_loan", 900.0, 80.0, 1.8),
    ("deposit_retention", 600.0, 30.0, 0.4),
    ("insurance", 700.0, 60.0, 0.5),
];

/// The realistic benchmark instance with `customers` customers, reproducible from `seed`.
pub fn realistic(customers: usize, seed: u64) -> Result<Problem, ProblemError> {
    let mut rng = Rng(seed ^ 0x5A5A_1234_C0FF_EE00);
    let mut p = Problem::new(2)?;
    p.set_one_per_campaign(true);
    p.reserve(customers, customers * 20);
    let n = customers as f64;
    for (name, _, _, per) in CHANNELS {
        p.add_channel(name, Some((per * n).round() as u64))?;
    }
    let mut offers = Vec::new();
    for (c, (name, _, _, per)) in CAMPAIGNS.iter().enumerate() {
        let camp = p.add_campaign(*name, Some((per * n).round()))?;
        for k in 0..4 {
            // Base propensity 0.4%–3%, revenue 60%–140% of the campaign's.
            let base = 0.004 + 0.026 * rng.unit();
            let revenue = CAMPAIGNS[c].1 * (0.6 + 0.8 * rng.unit());
            let offer = p.add_offer(format!("{name}_{k}"), 0, None)?;
            offers.push((camp, offer, base, revenue, CAMPAIGNS[c].2));
        }
    }
    let mut order: Vec<usize> = (0..offers.len()).collect();
    let mut cands = Vec::with_capacity(20);
    let mut id = String::new();
    for i in 0..customers {
        cands.clear();
        let responsive = rng.normal();
        // 10 distinct offers by a partial Fisher–Yates shuffle.
        for k in 0..10 {
            let pick = k + rng.below((order.len() - k) as u64) as usize;
            order.swap(k, pick);
        }
        for &o in &order[..10] {
            let (camp, offer, base, revenue, incentive) = offers[o];
            let affinity = 0.9 * responsive + 0.7 * rng.normal();
            let first = rng.below(4) as usize;
            let second = (first + 1 + rng.below(3) as usize) % 4;
            for h in [first, second] {
                let (_, contact, lift, _) = CHANNELS[h];
                let prop = (base * lift * affinity.exp()).min(0.9);
                let cost = contact + prop * incentive;
                cands.push(Candidate {
                    campaign: camp,
                    offer,
                    channel: ChannelId(h as u16),
                    value: prop * revenue - cost,
                    cost,
                });
            }
        }
        id.clear();
        // Writing into a String cannot fail.
        let _ = write!(id, "C{i:08}");
        p.add_customer(&id, &cands)?;
    }
    Ok(p)
}

/// A small random instance with every constraint type, for tests and examples.
pub fn random_small(customers: usize, seed: u64) -> Result<Problem, ProblemError> {
    let mut rng = Rng(seed);
    let k = 1 + rng.below(3) as u32;
    let mut p = Problem::new(k)?;
    p.set_one_per_campaign(rng.below(2) == 1);
    let nh = 1 + rng.below(3) as usize;
    let nc = 1 + rng.below(3) as usize;
    let no = 2 + rng.below(4) as usize;
    let n = customers as f64;
    for h in 0..nh {
        let cap = if rng.below(4) == 0 {
            None
        } else {
            Some((n * (0.1 + 0.5 * rng.unit())) as u64)
        };
        p.add_channel(format!("ch{h}"), cap)?;
    }
    for c in 0..nc {
        let budget = if rng.below(4) == 0 {
            None
        } else {
            Some(n * (0.5 + 2.0 * rng.unit()))
        };
        p.add_campaign(format!("camp{c}"), budget)?;
    }
    for o in 0..no {
        let max = if rng.below(3) == 0 {
            Some((n * (0.1 + 0.3 * rng.unit())) as u64)
        } else {
            None
        };
        p.add_offer(format!("offer{o}"), 0, max)?;
    }
    let mut cands = Vec::new();
    for i in 0..customers {
        cands.clear();
        let m = rng.below(7) as usize;
        for _ in 0..m {
            let value = (rng.unit() * 12.0 - 2.0).round() / 2.0 + rng.unit() * 0.01;
            cands.push(Candidate {
                campaign: CampaignId(rng.below(nc as u64) as u16),
                offer: OfferId(rng.below(no as u64) as u16),
                channel: ChannelId(rng.below(nh as u64) as u16),
                value,
                cost: (rng.unit() * 4.0 * 8.0).round() / 8.0,
            });
        }
        p.add_customer(&format!("c{i}"), &cands)?;
    }
    Ok(p)
}
