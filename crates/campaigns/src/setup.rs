//! What a run decides with: the offer catalogue, the consents and do-not-contact list, a
//! contact ledger holding every other campaign's recent contacts, and trained propensities
//! from the profile tags. Built fresh for every run, so a run sees the ledger's latest state.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use zhiying_audience::AudienceIndex;
use zhiying_decision::{
    Catalog, Channel, ConsentEvent, ContactLedger, InMemoryConsents, Offer, PropensitySource,
};
use zhiying_engine::AnalyticsEngine;
use zhiying_store::{ContactGroup, OperationalStore};

use crate::RunError;

/// The store's active offers at their current versions (each offer's `version` is the
/// store's), or the built-in sample catalogue while the store has none — the same rule the
/// decision API follows, so a campaign decides on the offers the console shows.
pub async fn load_catalog(store: &dyn OperationalStore) -> Result<Catalog, RunError> {
    let stored = store.offers(false).await?;
    if stored.is_empty() {
        return Ok(zhiying_decision::sample_catalog());
    }
    let mut offers = Vec::with_capacity(stored.len());
    for o in &stored {
        let mut offer: Offer =
            serde_json::from_value(o.body.clone()).map_err(|e| RunError::Invalid {
                id: o.offer_id.clone(),
                message: format!("the stored offer is not a valid offer: {e}"),
            })?;
        offer.version = u32::try_from(o.version).unwrap_or(u32::MAX);
        offers.push(offer);
    }
    Ok(Catalog::from_offers(offers)?)
}

/// Consents from the `consents` facts, then the store's live ledger (newer events win by
/// time), then the do-not-contact list.
pub async fn load_consents(
    engine: &dyn AnalyticsEngine,
    store: &dyn OperationalStore,
) -> Result<Arc<InMemoryConsents>, RunError> {
    let consents = Arc::new(InMemoryConsents::new());
    let rows = engine
        .query_json(
            "SELECT customer_id, purpose, channel, granted, CAST(date_part('epoch', ts) AS BIGINT) AS epoch \
             FROM consents ORDER BY ts",
        )
        .await?;
    for r in &rows {
        let get = |k: &str| r.get(k).and_then(|v| v.as_str()).unwrap_or("");
        let ts = r
            .get("epoch")
            .and_then(|v| v.as_i64())
            .and_then(|s| DateTime::from_timestamp(s, 0));
        let granted = r.get("granted").and_then(|v| v.as_bool()).unwrap_or(false);
        // `mail` has no decisioning channel: such rows cannot allow any contact we make.
        if let Some(ts) = ts
            && let Ok(e) = ConsentEvent::from_row(
                get("customer_id"),
                get("purpose"),
                get("channel"),
                granted,
                ts,
            )
        {
            consents.record(e);
        }
    }
    for e in store.consent_events().await? {
        let Some(ts) = DateTime::from_timestamp_micros(e.ts) else {
            continue;
        };
        if let Ok(ev) =
            ConsentEvent::from_row(&e.customer_id, &e.purpose, &e.channel, e.granted, ts)
        {
            consents.record(ev);
        }
    }
    for d in store.dnc_list().await? {
        consents.set_do_not_contact(&d.customer_id, true);
    }
    Ok(consents)
}

/// Seeds `ledger` with every other campaign's treatment contacts that still count against
/// frequency caps (planned, sent or delivered) within the ledger's retention before `now`.
/// Returns how many contacts were seeded.
pub async fn seed_ledger(
    store: &dyn OperationalStore,
    ledger: &ContactLedger,
    except_campaign: &str,
    now: DateTime<Utc>,
    retention_days: f64,
) -> Result<u64, RunError> {
    let since = now - chrono::Duration::seconds((retention_days * 86_400.0) as i64);
    let mut seeded = 0;
    for c in store.campaigns(None).await? {
        if c.campaign_id == except_campaign {
            continue;
        }
        for k in store
            .campaign_contacts(&c.campaign_id, Some(ContactGroup::Treatment))
            .await?
        {
            let (Ok(channel), Some(ts)) = (
                k.channel.parse::<Channel>(),
                DateTime::from_timestamp_micros(k.ts),
            ) else {
                continue;
            };
            if k.status.counts_against_caps() && ts >= since {
                ledger.seed_contact(&k.customer_id, channel, &k.offer_id, ts);
                seeded += 1;
            }
        }
    }
    Ok(seeded)
}

/// Trained propensities from the profile tags: `propensity_<category>` (the bank's product
/// propensity models write them through `derived/scores.parquet`). Customers without a
/// score fall back to the engine's adaptive model.
pub struct TagPropensity {
    index: Arc<AudienceIndex>,
}

impl TagPropensity {
    pub fn new(index: Arc<AudienceIndex>) -> Self {
        TagPropensity { index }
    }
}

impl PropensitySource for TagPropensity {
    fn name(&self) -> &str {
        "propensity tag"
    }
    fn propensity(&self, customer_id: &str, offer: &Offer, _channel: Channel) -> Option<f64> {
        let values = self
            .index
            .numeric_values(&format!("propensity_{}", offer.category))?;
        let pos = self.index.position(customer_id)?;
        values.get(pos as usize).copied().filter(|v| v.is_finite())
    }
}
