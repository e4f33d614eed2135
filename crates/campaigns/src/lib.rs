//! The batch campaign runner (`zhiying campaign run`, and the server's launcher).
//!
//! A run of one approved, running batch campaign:
//!
//! 1. evaluates the audience expression on the audience index (`zhiying-audience`);
//! 2. assigns every audience customer deterministically (`zhiying-experiment`, salted by the
//!    campaign id): the global holdout (store setting [`GLOBAL_HOLDOUT_SETTING`]) is never
//!    touched, then the campaign's holdout share is held out;
//! 3. runs every customer of both arms, on every channel of the campaign, through the
//!    engagement policies of `zhiying-decision` (eligibility, applicability, suitability,
//!    consent and do-not-contact, quiet hours, suppression, frequency caps against a ledger
//!    seeded with every other campaign's contacts), at a send time moved out of the quiet
//!    hours;
//! 4. gives the survivors to the optimiser (`zhiying-optimizer`): at most the allowed offers
//!    per customer under channel capacities and the budget, with the gap to the LP bound.
//!    The plan covers treatment and holdout alike, so the holdout is exactly the customers
//!    the campaign would have contacted, and the comparison is unbiased;
//! 5. reserves each treatment contact in the ledger (caps), then commits every contact of
//!    the plan in one transaction (treatment `planned`, holdout `suppressed`), after the
//!    experiment and its assignments;
//! 6. enqueues one outbox message per treatment contact, keyed by the contact id, and writes
//!    the `offers`, `campaigns` and holdout `contacts` facts `zhiying-measure` reads.
//!
//! Idempotency: the contacts are the commit point. A rerun finds them, plans nothing again,
//! and only completes the outbox and the facts (both keyed, so nothing is duplicated).
//!
//! [`Runner::simulate_responses`] then plays the customers' side from a planted ground truth
//! ([`simulate`]), so `zhiying measure campaigns` has a true effect to recover.

mod error;
pub mod facts;
mod run;
pub mod setup;
pub mod simulate;

pub use error::RunError;
pub use facts::FactWrite;
pub use run::{RunReport, Runner, batch_config, contact_id, experiment_id, send_time};
pub use simulate::{OfferTruth, SimulationReport};

/// Store setting holding the global holdout, `{"salt": "...", "share": 0.02}`: customers in
/// it are never contacted by any campaign.
pub const GLOBAL_HOLDOUT_SETTING: &str = "experiments.global_holdout";
