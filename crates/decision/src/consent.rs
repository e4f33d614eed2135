//! Consent and do-not-contact: "may we contact customer X for purpose P on channel Y?".
//!
//! PIPL asks for a separate consent for marketing, so consent is opt-in: no record means
//! no. The engine only asks through [`ConsentView`]; the integrator backs it with the
//! consent ledger in the store. [`InMemoryConsents`] follows the `consents` table's rules
//! and serves tests, demos and a cache.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::RwLock;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::channel::Channel;

/// A processing purpose (the `consents.purpose` codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Marketing,
    Profiling,
    ThirdParty,
}

impl FromStr for Purpose {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "marketing" => Ok(Purpose::Marketing),
            "profiling" => Ok(Purpose::Profiling),
            "third_party" => Ok(Purpose::ThirdParty),
            other => Err(format!(
                "'{other}' is not a consent purpose: expected marketing, profiling or third_party"
            )),
        }
    }
}

/// The answer to a consent question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum ConsentAnswer {
    Granted,
    /// On the do-not-contact list: overrides any consent.
    DoNotContact,
    /// No grant, or the latest event withdrew it; `detail` says which.
    NotGranted {
        detail: String,
    },
}

/// Read access to consents. Implementations must be cheap: the engine asks once per
/// decision.
pub trait ConsentView: Send + Sync {
    fn check(
        &self,
        customer_id: &str,
        purpose: Purpose,
        channel: Channel,
        now: DateTime<Utc>,
    ) -> ConsentAnswer;
}

/// One consent grant or withdrawal, as in the `consents` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsentEvent {
    pub customer_id: String,
    pub purpose: Purpose,
    /// `None`: every channel (`channel = 'all'`).
    pub channel: Option<Channel>,
    pub granted: bool,
    pub ts: DateTime<Utc>,
}

impl ConsentEvent {
    /// From a `consents` row. `channel` is a schema code (`all`, `sms`, `call`, …); `mail`
    /// has no decisioning channel and is an error the caller may skip.
    pub fn from_row(
        customer_id: &str,
        purpose: &str,
        channel: &str,
        granted: bool,
        ts: DateTime<Utc>,
    ) -> Result<Self, String> {
        let channel = match channel.trim() {
            "all" => None,
            c => Some(c.parse::<Channel>().map_err(|e| e.to_string())?),
        };
        Ok(ConsentEvent {
            customer_id: customer_id.to_string(),
            purpose: purpose.parse()?,
            channel,
            granted,
            ts,
        })
    }
}

/// One change of the consent ledger, pushed into the live view by [`InMemoryConsents::apply`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConsentUpdate {
    /// A grant or withdrawal.
    Event(ConsentEvent),
    /// Put on (`on = true`) or taken off the do-not-contact list.
    DoNotContact { customer_id: String, on: bool },
    /// The customer was erased: forget every consent and list entry.
    Forget { customer_id: String },
}

#[derive(Debug, Default)]
struct Shard {
    /// Per customer, the latest event per (purpose, scope).
    latest: HashMap<String, Vec<ConsentEvent>>,
    dnc: HashSet<String>,
}

/// Consents and the do-not-contact list in memory, sharded so many threads can read.
#[derive(Debug)]
pub struct InMemoryConsents {
    shards: Vec<RwLock<Shard>>,
}

impl Default for InMemoryConsents {
    fn default() -> Self {
        Self::new()
    }
}

const SHARDS: usize = 32;

impl InMemoryConsents {
    pub fn new() -> Self {
        InMemoryConsents {
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
        }
    }

    fn shard(&self, customer_id: &str) -> &RwLock<Shard> {
        &self.shards[crate::ledger::shard_of(customer_id, SHARDS)]
    }

    /// Applies a grant or withdrawal. An event older than the one already known for the
    /// same purpose and scope is ignored, so replaying history in any order is safe.
    pub fn record(&self, e: ConsentEvent) {
        let mut s = self
            .shard(&e.customer_id)
            .write()
            .unwrap_or_else(|p| p.into_inner());
        let list = s.latest.entry(e.customer_id.clone()).or_default();
        match list
            .iter_mut()
            .find(|x| x.purpose == e.purpose && x.channel == e.channel)
        {
            Some(x) if x.ts <= e.ts => *x = e,
            Some(_) => {}
            None => list.push(e),
        }
    }

    /// Grants `purpose` on every channel (a convenience for tests and demos).
    pub fn grant_all(&self, customer_id: &str, purpose: Purpose, ts: DateTime<Utc>) {
        self.record(ConsentEvent {
            customer_id: customer_id.to_string(),
            purpose,
            channel: None,
            granted: true,
            ts,
        });
    }

    /// Applies one change of the live ledger. This is the seam between the consent ledger
    /// (the store, the API) and decisioning: the integrator loads the initial state (the
    /// consents facts, then the store's ledger) with [`InMemoryConsents::record`] and then
    /// pushes every change as it is committed, so the very next decision sees it. Events
    /// win by time, so facts and ledger can be loaded in any order.
    pub fn apply(&self, update: ConsentUpdate) {
        match update {
            ConsentUpdate::Event(e) => self.record(e),
            ConsentUpdate::DoNotContact { customer_id, on } => {
                self.set_do_not_contact(&customer_id, on)
            }
            ConsentUpdate::Forget { customer_id } => self.forget(&customer_id),
        }
    }

    /// Drops everything known about a customer (erasure). Consent is opt-in, so a forgotten
    /// customer is not contacted again unless a new grant arrives.
    pub fn forget(&self, customer_id: &str) {
        let mut s = self
            .shard(customer_id)
            .write()
            .unwrap_or_else(|p| p.into_inner());
        s.latest.remove(customer_id);
        s.dnc.remove(customer_id);
    }

    /// Number of customers with at least one consent event (for logs and tests).
    pub fn customers(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|p| p.into_inner()).latest.len())
            .sum()
    }

    pub fn set_do_not_contact(&self, customer_id: &str, on: bool) {
        let mut s = self
            .shard(customer_id)
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if on {
            s.dnc.insert(customer_id.to_string());
        } else {
            s.dnc.remove(customer_id);
        }
    }
}

impl ConsentView for InMemoryConsents {
    /// The latest event (at or before `now`) that covers the channel wins, whether it
    /// names the channel or `all`; on a tie the channel-specific one wins.
    fn check(
        &self,
        customer_id: &str,
        purpose: Purpose,
        channel: Channel,
        now: DateTime<Utc>,
    ) -> ConsentAnswer {
        let s = self
            .shard(customer_id)
            .read()
            .unwrap_or_else(|p| p.into_inner());
        if s.dnc.contains(customer_id) {
            return ConsentAnswer::DoNotContact;
        }
        let best = s.latest.get(customer_id).and_then(|list| {
            list.iter()
                .filter(|e| {
                    e.purpose == purpose
                        && e.ts <= now
                        && (e.channel.is_none() || e.channel == Some(channel))
                })
                .max_by_key(|e| (e.ts, e.channel.is_some()))
        });
        match best {
            Some(e) if e.granted => ConsentAnswer::Granted,
            Some(e) => ConsentAnswer::NotGranted {
                detail: format!(
                    "withdrawn {} for {}",
                    e.ts.format("%Y-%m-%d %H:%M UTC"),
                    e.channel.map_or("all channels", |c| c.as_str())
                ),
            },
            None => ConsentAnswer::NotGranted {
                detail: "no consent on record".into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 6, d, 12, 0, 0).unwrap()
    }

    #[test]
    fn opt_in_latest_event_wins_and_dnc_overrides() {
        let c = InMemoryConsents::new();
        let m = Purpose::Marketing;
        assert!(matches!(
            c.check("A", m, Channel::Sms, t(10)),
            ConsentAnswer::NotGranted { .. }
        ));
        c.grant_all("A", m, t(1));
        assert_eq!(c.check("A", m, Channel::Sms, t(10)), ConsentAnswer::Granted);
        // Not yet granted before the event.
        assert_ne!(
            c.check(
                "A",
                m,
                Channel::Sms,
                Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap()
            ),
            ConsentAnswer::Granted
        );
        // A later SMS withdrawal only removes SMS.
        c.record(ConsentEvent::from_row("A", "marketing", "sms", false, t(5)).unwrap());
        assert!(matches!(
            c.check("A", m, Channel::Sms, t(10)),
            ConsentAnswer::NotGranted { .. }
        ));
        assert_eq!(
            c.check("A", m, Channel::Wechat, t(10)),
            ConsentAnswer::Granted
        );
        // Replaying an older event changes nothing.
        c.record(ConsentEvent::from_row("A", "marketing", "sms", true, t(2)).unwrap());
        assert_ne!(c.check("A", m, Channel::Sms, t(10)), ConsentAnswer::Granted);
        // Profiling consent is separate from marketing.
        assert_ne!(
            c.check("A", Purpose::Profiling, Channel::Wechat, t(10)),
            ConsentAnswer::Granted
        );
        c.set_do_not_contact("A", true);
        assert_eq!(
            c.check("A", m, Channel::Wechat, t(10)),
            ConsentAnswer::DoNotContact
        );
        c.set_do_not_contact("A", false);
        assert_eq!(
            c.check("A", m, Channel::Wechat, t(10)),
            ConsentAnswer::Granted
        );
        assert!(ConsentEvent::from_row("A", "marketing", "mail", true, t(1)).is_err());
        assert!(ConsentEvent::from_row("A", "spam", "sms", true, t(1)).is_err());
        assert_eq!(
            ConsentEvent::from_row("A", "marketing", "call", true, t(1))
                .unwrap()
                .channel,
            Some(Channel::CallCentre)
        );
    }
}
