//! The optimiser's answer: the plan, its value, the bound and the gap, and constraint usage.

use std::fmt;
use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::problem::{CampaignId, ChannelId, OfferId, Problem};

/// One offer made to one customer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// Customer index in the problem ([`Problem::customer_id`] gives the caller's id).
    pub customer: u32,
    /// Stored candidate index.
    pub candidate: u32,
    pub campaign: CampaignId,
    pub offer: OfferId,
    pub channel: ChannelId,
    pub value: f64,
    pub cost: f64,
}

/// Contacts used on a channel; `shadow_price` is the value one more unit of capacity would
/// add at the margin (the channel's Lagrange multiplier).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelUsage {
    pub name: String,
    pub used: u64,
    pub capacity: Option<u64>,
    pub shadow_price: f64,
}

/// Spend of a campaign; `shadow_price` is the marginal value of one more unit of budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CampaignUsage {
    pub name: String,
    pub contacts: u64,
    pub spent: f64,
    pub budget: Option<f64>,
    pub shadow_price: f64,
}

/// How many customers got an offer, against its bounds; a positive `shadow_price` means the
/// max binds, a negative one that the min forces offers below their reduced value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OfferUsage {
    pub name: String,
    pub count: u64,
    pub min: u64,
    pub max: Option<u64>,
    pub shadow_price: f64,
}

/// Constraint usage of the plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub channels: Vec<ChannelUsage>,
    pub campaigns: Vec<CampaignUsage>,
    pub offers: Vec<OfferUsage>,
}

/// An offer minimum the greedy repair could not reach (the other constraints stay exact).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MinShortfall {
    pub offer: String,
    pub min: u64,
    pub reached: u64,
}

/// The optimised plan with its quality certificate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Solution {
    /// Total expected value of the plan.
    pub objective: f64,
    /// Lagrangian dual value: no plan (not even a fractional one) can be worth more.
    pub upper_bound: f64,
    /// `(upper_bound − objective) / |upper_bound|`, an upper bound on the true optimality gap.
    pub gap: f64,
    /// Dual passes over all customers.
    pub iterations: u32,
    /// Passes over the warm-start sample (each costs a fraction of a full pass).
    pub sample_passes: u32,
    /// Whether the dual settled or the plan met the gap target before the iteration or
    /// time limit.
    pub converged: bool,
    pub seconds: f64,
    pub customers: u64,
    pub candidates: u64,
    pub customers_contacted: u64,
    /// `offers_per_customer[n]` customers received `n` offers.
    pub offers_per_customer: Vec<u64>,
    pub usage: Usage,
    pub shortfalls: Vec<MinShortfall>,
    /// Assignments ordered by customer index.
    pub assignments: Vec<Assignment>,
}

/// A constraint the plan breaks (only ever produced by [`Solution::check`] on a tampered or
/// mismatched solution).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    pub constraint: String,
    pub used: f64,
    pub limit: f64,
}

/// The report without the per-customer plan: what an approval page or a JSON API shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub objective: f64,
    pub upper_bound: f64,
    pub gap: f64,
    pub iterations: u32,
    pub sample_passes: u32,
    pub converged: bool,
    pub seconds: f64,
    pub customers: u64,
    pub candidates: u64,
    pub customers_contacted: u64,
    pub assignments: u64,
    pub offers_per_customer: Vec<u64>,
    pub usage: Usage,
    pub shortfalls: Vec<MinShortfall>,
}

impl Solution {
    /// Everything but the assignments (which run to one row per contacted customer).
    pub fn summary(&self) -> Summary {
        Summary {
            objective: self.objective,
            upper_bound: self.upper_bound,
            gap: self.gap,
            iterations: self.iterations,
            sample_passes: self.sample_passes,
            converged: self.converged,
            seconds: self.seconds,
            customers: self.customers,
            candidates: self.candidates,
            customers_contacted: self.customers_contacted,
            assignments: self.assignments.len() as u64,
            offers_per_customer: self.offers_per_customer.clone(),
            usage: self.usage.clone(),
            shortfalls: self.shortfalls.clone(),
        }
    }

    /// Re-derives every constraint from the assignments and returns those that do not hold
    /// (budgets with a 1e-9 relative tolerance for summation order). Empty means feasible.
    pub fn check(&self, p: &Problem) -> Vec<Violation> {
        let mut out = Vec::new();
        let mut per_customer = vec![0u32; p.customer_count()];
        let mut chan = vec![0u64; p.channels().len()];
        let mut spend = vec![0.0f64; p.campaigns().len()];
        let mut offer = vec![0u64; p.offers().len()];
        let mut seen = std::collections::HashSet::new();
        for a in &self.assignments {
            let i = a.customer as usize;
            let j = a.candidate as usize;
            if i >= p.customer_count() || !p.candidate_range(a.customer).contains(&j) {
                out.push(Violation {
                    constraint: format!(
                        "assignment of candidate {j} to customer {i} is not eligible"
                    ),
                    used: 1.0,
                    limit: 0.0,
                });
                continue;
            }
            let c = p.candidate(j);
            if !seen.insert((a.customer, c.campaign.0, j)) {
                out.push(Violation {
                    constraint: format!("candidate {j} assigned twice"),
                    used: 2.0,
                    limit: 1.0,
                });
            }
            if p.one_per_campaign() && !seen.insert((a.customer, c.campaign.0, u32::MAX as usize)) {
                out.push(Violation {
                    constraint: format!(
                        "customer {:?}: one offer per campaign {:?}",
                        p.customer_id(a.customer),
                        p.campaigns()[c.campaign.0 as usize].name
                    ),
                    used: 2.0,
                    limit: 1.0,
                });
            }
            per_customer[i] += 1;
            chan[c.channel.0 as usize] += 1;
            spend[c.campaign.0 as usize] += c.cost;
            offer[c.offer.0 as usize] += 1;
        }
        for (i, &n) in per_customer.iter().enumerate() {
            let cap = p.customer_cap(i as u32);
            if n > cap {
                out.push(Violation {
                    constraint: format!("customer {:?} cap", p.customer_id(i as u32)),
                    used: n as f64,
                    limit: cap as f64,
                });
            }
        }
        for (h, c) in p.channels().iter().enumerate() {
            if let Some(cap) = c.capacity
                && chan[h] > cap
            {
                out.push(Violation {
                    constraint: format!("channel {:?} capacity", c.name),
                    used: chan[h] as f64,
                    limit: cap as f64,
                });
            }
        }
        for (k, c) in p.campaigns().iter().enumerate() {
            if let Some(b) = c.budget
                && spend[k] > b + 1e-9 * b.abs().max(1.0)
            {
                out.push(Violation {
                    constraint: format!("campaign {:?} budget", c.name),
                    used: spend[k],
                    limit: b,
                });
            }
        }
        for (k, o) in p.offers().iter().enumerate() {
            if let Some(mx) = o.max
                && offer[k] > mx
            {
                out.push(Violation {
                    constraint: format!("offer {:?} max", o.name),
                    used: offer[k] as f64,
                    limit: mx as f64,
                });
            }
            if offer[k] < o.min {
                out.push(Violation {
                    constraint: format!("offer {:?} min", o.name),
                    used: offer[k] as f64,
                    limit: o.min as f64,
                });
            }
        }
        out
    }

    /// The assignments of customer index `customer` (a slice of [`Solution::assignments`]).
    pub fn assignments_of(&self, customer: u32) -> &[Assignment] {
        let lo = self.assignments.partition_point(|a| a.customer < customer);
        let hi = self.assignments.partition_point(|a| a.customer <= customer);
        &self.assignments[lo..hi]
    }

    /// Writes `customer_id,campaign,offer,channel,value,cost` rows, one per assignment: the
    /// hand-off to the channel outbox.
    pub fn write_assignments_csv<W: Write>(&self, p: &Problem, out: W) -> Result<(), csv::Error> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record([
            "customer_id",
            "campaign",
            "offer",
            "channel",
            "value",
            "cost",
        ])?;
        for a in &self.assignments {
            w.write_record([
                p.customer_id(a.customer),
                &p.campaigns()[a.campaign.0 as usize].name,
                &p.offers()[a.offer.0 as usize].name,
                &p.channels()[a.channel.0 as usize].name,
                &format!("{}", a.value),
                &format!("{}", a.cost),
            ])?;
        }
        w.flush()?;
        Ok(())
    }
}

fn limit_text(x: Option<u64>) -> String {
    x.map_or_else(|| "unlimited".to_string(), |v| v.to_string())
}

impl fmt::Display for Solution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Campaign optimisation: {} customers, {} candidates",
            self.customers, self.candidates
        )?;
        writeln!(f, "  expected value  {:.2}", self.objective)?;
        writeln!(
            f,
            "  upper bound     {:.2}  (Lagrangian dual = LP relaxation bound)",
            self.upper_bound
        )?;
        writeln!(f, "  gap             {:.3}%", self.gap * 100.0)?;
        writeln!(
            f,
            "  {} dual passes + {} on the warm-start sample ({}), {:.2} s",
            self.iterations,
            self.sample_passes,
            if self.converged {
                "converged"
            } else {
                "stopped at the iteration or time limit"
            },
            self.seconds
        )?;
        write!(
            f,
            "  customers contacted {}; offers per customer:",
            self.customers_contacted
        )?;
        for (n, c) in self.offers_per_customer.iter().enumerate() {
            write!(f, " {n}: {c}")?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "Channels       {:>12} {:>12} {:>14}",
            "used", "capacity", "shadow price"
        )?;
        for c in &self.usage.channels {
            writeln!(
                f,
                "  {:<12} {:>12} {:>12} {:>14.4}",
                c.name,
                c.used,
                limit_text(c.capacity),
                c.shadow_price
            )?;
        }
        writeln!(
            f,
            "Campaigns      {:>10} {:>14} {:>14} {:>14}",
            "contacts", "spent", "budget", "shadow price"
        )?;
        for c in &self.usage.campaigns {
            let budget = c
                .budget
                .map_or_else(|| "unlimited".to_string(), |b| format!("{b:.2}"));
            writeln!(
                f,
                "  {:<12} {:>10} {:>14.2} {:>14} {:>14.4}",
                c.name, c.contacts, c.spent, budget, c.shadow_price
            )?;
        }
        let bounded: Vec<_> = self
            .usage
            .offers
            .iter()
            .filter(|o| o.min > 0 || o.max.is_some())
            .collect();
        if !bounded.is_empty() {
            writeln!(
                f,
                "Offers         {:>10} {:>10} {:>10} {:>14}",
                "count", "min", "max", "shadow price"
            )?;
            for o in bounded {
                writeln!(
                    f,
                    "  {:<12} {:>10} {:>10} {:>10} {:>14.4}",
                    o.name,
                    o.count,
                    o.min,
                    limit_text(o.max),
                    o.shadow_price
                )?;
            }
        }
        for s in &self.shortfalls {
            writeln!(
                f,
                "  warning: offer {:?} reached {} of its minimum {}",
                s.offer, s.reached, s.min
            )?;
        }
        Ok(())
    }
}
