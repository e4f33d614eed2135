//! The benchmark setup, shared by `benches/decide.rs` and `examples/decision_load.rs`
//! so both measure the same thing: 50 offers, consent and caps checked.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::fixture::{customer_id, demo_index};
use crate::{
    Catalog, ContactLedger, DecisionEngine, EngineConfig, InMemoryConsents, Offer, Purpose,
    sample_catalog,
};

/// 10:00 in Shanghai on a weekday: no channel is in quiet hours.
pub fn bench_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 6, 3, 2, 0, 0)
        .single()
        .unwrap_or_default()
}

/// The sample catalogue plus variants of its offers up to `offers` in total (each variant
/// keeps its original's eligibility rule, product and risk level).
pub fn bench_catalog(offers: usize) -> Catalog {
    let base: Vec<Offer> = sample_catalog().current().cloned().collect();
    let mut all = base.clone();
    let mut k = 0;
    while all.len() < offers {
        let mut o = base[k % base.len()].clone();
        o.id = format!("{}-V{}", o.id, k / base.len() + 1);
        o.value_fen += 500 * (k as i64 % 7);
        all.push(o);
        k += 1;
    }
    Catalog::from_offers(all).unwrap_or_default()
}

/// An engine over `customers` fixture customers and `offers` offers. 95% of customers
/// consent to marketing and 1% are on the do-not-contact list, so every policy does work.
pub fn bench_engine(customers: usize, offers: usize) -> DecisionEngine {
    let index = demo_index(customers, 42);
    let consents = Arc::new(InMemoryConsents::new());
    for i in 0..customers {
        let c = customer_id(i);
        if i % 20 != 0 {
            consents.grant_all(&c, Purpose::Marketing, bench_time() - Duration::days(365));
        }
        if i % 100 == 7 {
            consents.set_do_not_contact(&c, true);
        }
    }
    let config = EngineConfig::default();
    let ledger = Arc::new(ContactLedger::new(config.retention_days()));
    DecisionEngine::new(
        bench_catalog(offers),
        Some(&index),
        config,
        consents,
        ledger,
        None,
    )
    .unwrap_or_else(|e| panic!("bench engine: {e}"))
}
