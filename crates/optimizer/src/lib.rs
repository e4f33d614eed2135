//! Campaign optimiser: offers per customer under channel capacities, budgets and caps, with an
//! LP (Lagrangian) upper bound and the gap.
//!
//! A batch run has customers and, for each, the eligible (campaign, offer, channel)
//! candidates with an expected value and a cost. The optimiser picks at most `K` offers per
//! customer (optionally one per campaign) so that channel capacities, campaign budgets and
//! offer min/max counts hold exactly, maximising total expected value. It relaxes the
//! coupling constraints with Lagrange multipliers (one price per channel, budget and offer
//! bound), adjusts the prices until usage meets capacity, and repairs the priced choice into
//! a feasible plan. The dual value is a certified upper bound (it equals the LP relaxation at
//! the optimum), so the reported gap bounds how far the plan can be from the best possible.
//!
//! ```
//! use zhiying_optimizer::{optimize, Candidate, Options, Problem};
//!
//! let mut p = Problem::new(1)?; // one offer per customer
//! let call = p.add_channel("call", Some(1))?; // one call-centre slot
//! let sms = p.add_channel("sms", None)?;
//! let card = p.add_campaign("card_upgrade", Some(100.0))?;
//! let gold = p.add_offer("gold_card", 0, None)?;
//! let offer = |channel, value| Candidate { campaign: card, offer: gold, channel, value, cost: 1.0 };
//! p.add_customer("alice", &[offer(call, 30.0), offer(sms, 10.0)])?;
//! p.add_customer("bob", &[offer(call, 20.0), offer(sms, 15.0)])?;
//!
//! let s = optimize(&p, &Options::default())?;
//! // Alice gets the call (30 vs 10 by SMS), Bob the SMS: 45 beats 20 + 10.
//! assert!((s.objective - 45.0).abs() < 1e-9);
//! assert!(s.upper_bound >= s.objective && s.check(&p).is_empty());
//! println!("{s}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod load;
mod problem;
mod solution;
mod solve;
pub mod synth;

pub use error::{OptimizeError, ProblemError};
pub use load::{ProblemSpec, load_csv};
pub use problem::{
    Campaign, CampaignId, Candidate, Channel, ChannelId, Offer, OfferId, Problem, StoredCandidate,
};
pub use solution::{
    Assignment, CampaignUsage, ChannelUsage, MinShortfall, OfferUsage, Solution, Summary, Usage,
    Violation,
};
pub use solve::{Options, optimize};
