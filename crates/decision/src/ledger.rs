//! The contact ledger: every contact and response per customer, for frequency caps over
//! rolling windows, rejection suppression and "accepted recently".
//!
//! Caps hold under concurrency because a contact is *reserved* with a check-and-insert
//! under the customer's shard lock ([`ContactLedger::try_reserve`]): two threads deciding
//! for the same customer serialise there, and the second sees the first's contact. The
//! check is exact for out-of-order times too: a contact at `t` is refused if *any* window
//! of the cap's length that contains `t` would then hold more than `max` contacts.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::channel::Channel;

const MS_PER_DAY: f64 = 86_400_000.0;

/// A frequency cap: at most `max` contacts in any `window_days` (rolling), on one channel
/// or (channel `None`) on all channels together.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Cap {
    #[serde(default)]
    pub channel: Option<Channel>,
    pub max: u32,
    pub window_days: f64,
}

impl Cap {
    pub fn window_ms(&self) -> i64 {
        (self.window_days * MS_PER_DAY).round() as i64
    }
    fn covers(&self, c: Channel) -> bool {
        self.channel.is_none_or(|x| x == c)
    }
}

/// A cap that a reservation would break.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapViolation {
    pub cap: Cap,
    /// Contacts in the window ending at the reservation time.
    pub used: u32,
}

/// What a customer did with an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseKind {
    Impression,
    Click,
    Accept,
    Reject,
}

/// One contact in the ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactRecord {
    pub ts: DateTime<Utc>,
    pub channel: Channel,
    pub offer_id: String,
    /// The decision that reserved it; `None` for seeded history.
    pub decision_id: Option<String>,
}

#[derive(Debug, Clone)]
struct Contact {
    ts: i64,
    channel: Channel,
    offer_id: Box<str>,
    decision_id: Option<Box<str>>,
}

#[derive(Debug, Clone)]
struct Resp {
    ts: i64,
    offer_id: Box<str>,
    kind: ResponseKind,
}

#[derive(Debug, Default)]
struct CustomerLog {
    /// Sorted by time.
    contacts: Vec<Contact>,
    responses: Vec<Resp>,
    newest: i64,
}

impl CustomerLog {
    fn prune(&mut self, retention_ms: i64) {
        let cut = self.newest.saturating_sub(retention_ms);
        if self.contacts.first().is_some_and(|c| c.ts < cut) {
            self.contacts.retain(|c| c.ts >= cut);
        }
        if self.responses.iter().any(|r| r.ts < cut) {
            self.responses.retain(|r| r.ts >= cut);
        }
    }
    fn insert_contact(&mut self, c: Contact) {
        self.newest = self.newest.max(c.ts);
        let at = self.contacts.partition_point(|x| x.ts <= c.ts);
        self.contacts.insert(at, c);
    }
    /// Contacts covered by `cap` in `(t - w, t]`.
    fn used(&self, cap: &Cap, t: i64) -> u32 {
        let w = cap.window_ms();
        self.contacts
            .iter()
            .filter(|c| c.ts > t - w && c.ts <= t && cap.covers(c.channel))
            .count() as u32
    }
    /// Whether one more contact at `t` on `channel` keeps every window of `cap` within max.
    fn fits(&self, cap: &Cap, channel: Channel, t: i64) -> bool {
        if !cap.covers(channel) {
            return true;
        }
        if cap.max == 0 {
            return false;
        }
        let w = cap.window_ms();
        let mut times: Vec<i64> = self
            .contacts
            .iter()
            .filter(|c| c.ts > t - w && c.ts < t + w && cap.covers(c.channel))
            .map(|c| c.ts)
            .collect();
        if (times.len() as u32) < cap.max {
            return true;
        }
        let at = times.partition_point(|&x| x <= t);
        times.insert(at, t);
        // Every window (e - w, e] that contains t ends at some e in [t, t + w).
        let mut lo = 0;
        for hi in at..times.len() {
            let e = times[hi];
            while times[lo] <= e - w {
                lo += 1;
            }
            if lo <= at && (hi - lo + 1) as u32 > cap.max {
                return false;
            }
        }
        true
    }
}

/// FNV-1a: a stable hash for sharding and for the control group (stable across builds and
/// processes, unlike `std`'s randomised hasher).
pub fn stable_hash(s: &str, salt: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ salt;
    for b in s.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // splitmix64 finaliser: spreads the low-entropy FNV bits.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

pub(crate) fn shard_of(s: &str, n: usize) -> usize {
    (stable_hash(s, 0) % n as u64) as usize
}

const SHARDS: usize = 64;

/// Contact and response history per customer, sharded by customer id.
#[derive(Debug)]
pub struct ContactLedger {
    shards: Vec<Mutex<HashMap<Box<str>, CustomerLog>>>,
    retention_ms: i64,
}

impl ContactLedger {
    /// Keeps `retention_days` of history behind each customer's newest record. Choose at
    /// least twice the longest cap, suppression or re-offer window, so a request whose
    /// clock lags a little still sees everything its windows need.
    pub fn new(retention_days: f64) -> Self {
        ContactLedger {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            retention_ms: (retention_days.max(1.0) * MS_PER_DAY) as i64,
        }
    }

    fn with<R>(&self, customer_id: &str, f: impl FnOnce(&mut CustomerLog) -> R) -> R {
        let mut shard = self.shards[shard_of(customer_id, SHARDS)]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(log) = shard.get_mut(customer_id) {
            return f(log);
        }
        let log = shard.entry(customer_id.into()).or_default();
        f(log)
    }

    fn peek<R>(&self, customer_id: &str, f: impl FnOnce(Option<&CustomerLog>) -> R) -> R {
        let shard = self.shards[shard_of(customer_id, SHARDS)]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        f(shard.get(customer_id))
    }

    /// Atomically checks every cap that covers `channel` and, if all fit, records the
    /// contact. On refusal nothing is recorded and the first cap that would break is
    /// returned with its current use.
    pub fn try_reserve(
        &self,
        customer_id: &str,
        channel: Channel,
        offer_id: &str,
        decision_id: &str,
        now: DateTime<Utc>,
        caps: &[Cap],
    ) -> Result<(), CapViolation> {
        let t = now.timestamp_millis();
        let retention = self.retention_ms;
        self.with(customer_id, |log| {
            // A retried decision (same id) already holds its reservation.
            if log
                .contacts
                .iter()
                .any(|c| c.decision_id.as_deref() == Some(decision_id) && &*c.offer_id == offer_id)
            {
                return Ok(());
            }
            for cap in caps {
                if !log.fits(cap, channel, t) {
                    return Err(CapViolation {
                        cap: *cap,
                        used: log.used(cap, t),
                    });
                }
            }
            log.insert_contact(Contact {
                ts: t,
                channel,
                offer_id: offer_id.into(),
                decision_id: Some(decision_id.into()),
            });
            log.prune(retention);
            Ok(())
        })
    }

    /// The first cap that one more contact at `now` would break, without reserving.
    pub fn check(
        &self,
        customer_id: &str,
        channel: Channel,
        now: DateTime<Utc>,
        caps: &[Cap],
    ) -> Option<CapViolation> {
        let t = now.timestamp_millis();
        self.peek(customer_id, |log| {
            let log = log?;
            caps.iter()
                .find(|c| !log.fits(c, channel, t))
                .map(|c| CapViolation {
                    cap: *c,
                    used: log.used(c, t),
                })
        })
    }

    /// Gives back the contacts a decision reserved (e.g. delivery failed before sending).
    /// Returns how many were removed.
    pub fn release(&self, customer_id: &str, decision_id: &str) -> usize {
        self.with(customer_id, |log| {
            let before = log.contacts.len();
            log.contacts
                .retain(|c| c.decision_id.as_deref() != Some(decision_id));
            before - log.contacts.len()
        })
    }

    /// Adds a past contact (from the `contacts` table) without checking caps: history is
    /// what happened, and caps then count it.
    pub fn seed_contact(
        &self,
        customer_id: &str,
        channel: Channel,
        offer_id: &str,
        ts: DateTime<Utc>,
    ) {
        let retention = self.retention_ms;
        self.with(customer_id, |log| {
            log.insert_contact(Contact {
                ts: ts.timestamp_millis(),
                channel,
                offer_id: offer_id.into(),
                decision_id: None,
            });
            log.prune(retention);
        });
    }

    /// Records a response (live or from history): rejects drive suppression, accepts the
    /// re-offer window.
    pub fn record_response(
        &self,
        customer_id: &str,
        offer_id: &str,
        kind: ResponseKind,
        ts: DateTime<Utc>,
    ) {
        if !matches!(kind, ResponseKind::Accept | ResponseKind::Reject) {
            return;
        }
        let retention = self.retention_ms;
        self.with(customer_id, |log| {
            let t = ts.timestamp_millis();
            log.newest = log.newest.max(t);
            log.responses.push(Resp {
                ts: t,
                offer_id: offer_id.into(),
                kind,
            });
            log.prune(retention);
        });
    }

    /// Contacts on `channel` (or all channels) in the rolling window `(now - days, now]`.
    pub fn count(
        &self,
        customer_id: &str,
        channel: Option<Channel>,
        now: DateTime<Utc>,
        window_days: f64,
    ) -> u32 {
        let cap = Cap {
            channel,
            max: 0,
            window_days,
        };
        self.peek(customer_id, |log| {
            log.map_or(0, |l| l.used(&cap, now.timestamp_millis()))
        })
    }

    /// Per offer: rejects in `(now - window, now]` and the latest accept in that of
    /// `accept_window`, for the offers asked about. One lock for the whole decision.
    pub(crate) fn offer_history(
        &self,
        customer_id: &str,
        now: DateTime<Utc>,
        reject_window_days: f64,
        accept_window_days: f64,
        mut each: impl FnMut(&str, ResponseKind, i64),
    ) {
        let t = now.timestamp_millis();
        let rw = (reject_window_days * MS_PER_DAY) as i64;
        let aw = (accept_window_days * MS_PER_DAY) as i64;
        self.peek(customer_id, |log| {
            if let Some(log) = log {
                for r in &log.responses {
                    let w = if r.kind == ResponseKind::Reject {
                        rw
                    } else {
                        aw
                    };
                    if r.ts > t - w && r.ts <= t {
                        each(&r.offer_id, r.kind, r.ts);
                    }
                }
            }
        })
    }

    /// A customer's contacts, oldest first (for the console and audits).
    pub fn contacts(&self, customer_id: &str) -> Vec<ContactRecord> {
        self.peek(customer_id, |log| {
            log.map(|l| {
                l.contacts
                    .iter()
                    .map(|c| ContactRecord {
                        ts: DateTime::from_timestamp_millis(c.ts).unwrap_or_default(),
                        channel: c.channel,
                        offer_id: c.offer_id.to_string(),
                        decision_id: c.decision_id.as_deref().map(str::to_string),
                    })
                    .collect()
            })
            .unwrap_or_default()
        })
    }

    /// Customers with any history.
    pub fn customers(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 6, 1, 4, 0, 0).unwrap()
    }

    #[test]
    fn rolling_window_cap_and_release() {
        let l = ContactLedger::new(60.0);
        let caps = [Cap {
            channel: Some(Channel::Sms),
            max: 2,
            window_days: 7.0,
        }];
        assert!(
            l.try_reserve("A", Channel::Sms, "O1", "d1", t0(), &caps)
                .is_ok()
        );
        assert!(
            l.try_reserve(
                "A",
                Channel::Sms,
                "O1",
                "d2",
                t0() + Duration::days(1),
                &caps
            )
            .is_ok()
        );
        let v = l
            .try_reserve(
                "A",
                Channel::Sms,
                "O1",
                "d3",
                t0() + Duration::days(2),
                &caps,
            )
            .unwrap_err();
        assert_eq!(v.used, 2);
        // Other channels are not covered by an SMS cap.
        assert!(
            l.try_reserve("A", Channel::Email, "O1", "d4", t0(), &caps)
                .is_ok()
        );
        // Exactly 7 days after the first contact it has left the window (t0, t0+7d].
        assert!(
            l.try_reserve(
                "A",
                Channel::Sms,
                "O1",
                "d5",
                t0() + Duration::days(7),
                &caps
            )
            .is_ok()
        );
        assert_eq!(
            l.count("A", Some(Channel::Sms), t0() + Duration::days(7), 7.0),
            2
        );
        assert_eq!(l.release("A", "d5"), 1);
        assert_eq!(
            l.count("A", Some(Channel::Sms), t0() + Duration::days(7), 7.0),
            1
        );
    }

    #[test]
    fn out_of_order_reservation_cannot_overfill_a_later_window() {
        let l = ContactLedger::new(60.0);
        let caps = [Cap {
            channel: None,
            max: 2,
            window_days: 7.0,
        }];
        l.seed_contact("A", Channel::Sms, "O1", t0() + Duration::days(3));
        l.seed_contact("A", Channel::Wechat, "O1", t0() + Duration::days(4));
        // (t0-4d, t0+3d] would be fine, but (t0-3d+ε … t0+4d] would hold three.
        assert!(
            l.try_reserve("A", Channel::Email, "O2", "d", t0(), &caps)
                .is_err()
        );
        // Far enough before, it fits.
        assert!(
            l.try_reserve(
                "A",
                Channel::Email,
                "O2",
                "d",
                t0() - Duration::days(4),
                &caps
            )
            .is_ok()
        );
        assert!(
            l.check("A", Channel::Sms, t0() + Duration::days(5), &caps)
                .is_some()
        );
        assert!(l.check("B", Channel::Sms, t0(), &caps).is_none());
        let zero = [Cap {
            channel: Some(Channel::CallCentre),
            max: 0,
            window_days: 1.0,
        }];
        assert!(
            l.try_reserve("B", Channel::CallCentre, "O", "d", t0(), &zero)
                .is_err()
        );
    }

    #[test]
    fn responses_are_windowed() {
        let l = ContactLedger::new(400.0);
        l.record_response("A", "O1", ResponseKind::Reject, t0() - Duration::days(40));
        l.record_response("A", "O1", ResponseKind::Reject, t0() - Duration::days(2));
        l.record_response("A", "O2", ResponseKind::Accept, t0() - Duration::days(50));
        l.record_response("A", "O2", ResponseKind::Click, t0());
        let mut seen = Vec::new();
        l.offer_history("A", t0(), 30.0, 90.0, |o, k, _| {
            seen.push((o.to_string(), k))
        });
        seen.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            seen,
            vec![
                ("O1".to_string(), ResponseKind::Reject),
                ("O2".to_string(), ResponseKind::Accept)
            ]
        );
    }

    #[test]
    fn stable_hash_is_stable() {
        assert_eq!(stable_hash("C000001", 7), stable_hash("C000001", 7));
        assert_ne!(stable_hash("C000001", 7), stable_hash("C000001", 8));
    }
}
