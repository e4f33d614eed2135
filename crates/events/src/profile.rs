//! Incremental per-customer state: recency, day-bucketed counters and the rule tags derived
//! from them.
//!
//! Counters are kept per business day (UTC+8 by default) rather than as running sums, so a
//! 7-day window is "the buckets of the last 7 days" at read time and rolls correctly at
//! midnight without any event arriving. Buckets older than [`RETAIN_DAYS`] are dropped.

use serde::{Deserialize, Serialize};
use zhiying_core::schema::{EVENT_CHANNELS, EVENT_TYPES, TXN_CHANNELS, TXN_TYPES};
use zhiying_core::time::{CST_OFFSET_SECS, MICROS_PER_SEC, format_timestamp};

use crate::input::Record;

/// The longest window (90 days) is all that is kept.
pub const RETAIN_DAYS: i32 = 90;
/// The windows reported for every customer.
pub const WINDOWS: [(&str, i32); 4] = [("today", 1), ("7d", 7), ("30d", 30), ("90d", 90)];

// Per-day type sets are u16 bitmasks.
const _: () = assert!(EVENT_TYPES.len() <= 16 && TXN_TYPES.len() <= 16);

fn code_index(list: &[&str], code: &str) -> Option<usize> {
    list.iter().position(|c| *c == code)
}

/// Thresholds of the rule tags.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Rules {
    /// `large_inflow_today`: credits booked today of at least this many 分 (default 50,000 元).
    pub large_inflow_fen: i64,
    /// `dormant_60d`: no event or transaction for this many days.
    pub dormant_days: i32,
    /// Offset east of UTC of the business day used for day buckets (default UTC+8).
    pub day_offset_secs: i32,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            large_inflow_fen: 5_000_000,
            dormant_days: 60,
            day_offset_secs: CST_OFFSET_SECS,
        }
    }
}

impl Rules {
    /// The business day of a UTC-microsecond timestamp.
    pub fn day_of(&self, ts_us: i64) -> i32 {
        (ts_us.div_euclid(MICROS_PER_SEC) + self.day_offset_secs as i64).div_euclid(86_400) as i32
    }
}

/// A rule tag: recomputed from the counters whenever they are read.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RuleTag {
    pub name: &'static str,
    pub zh_name: &'static str,
    pub description: &'static str,
}

/// The real-time rule tags, in bit order of [`TagSet`].
pub const RULE_TAGS: &[RuleTag] = &[
    RuleTag {
        name: "active_7d",
        zh_name: "近7日活跃",
        description: "At least one event or transaction in the last 7 days (today included).",
    },
    RuleTag {
        name: "active_30d",
        zh_name: "近30日活跃",
        description: "At least one event or transaction in the last 30 days.",
    },
    RuleTag {
        name: "dormant_60d",
        zh_name: "沉睡60天",
        description: "Known to the event stream, but no event or transaction for 60 days or more.",
    },
    RuleTag {
        name: "large_inflow_today",
        zh_name: "今日大额入账",
        description: "Credits booked today total at least 50,000 元 (configurable).",
    },
    RuleTag {
        name: "salary_credited",
        zh_name: "代发工资入账",
        description: "A salary credit (txn_type salary, direction credit) in the last 30 days.",
    },
    RuleTag {
        name: "complaint_30d",
        zh_name: "近30日投诉",
        description: "A complaint event in the last 30 days.",
    },
    RuleTag {
        name: "competitor_transfer_30d",
        zh_name: "近30日他行转出",
        description: "Money moved to a competitor (txn_type competitor_transfer) in the last 30 days.",
    },
];

/// A set of [`RULE_TAGS`], one bit each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TagSet(pub u16);

impl TagSet {
    pub fn contains(self, name: &str) -> bool {
        RULE_TAGS
            .iter()
            .position(|t| t.name == name)
            .is_some_and(|i| self.0 & (1 << i) != 0)
    }
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        RULE_TAGS
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, t)| t.name)
    }
    fn set(&mut self, name: &str, on: bool) {
        if on && let Some(i) = RULE_TAGS.iter().position(|t| t.name == name) {
            self.0 |= 1 << i;
        }
    }
}

/// Activity of one business day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayBucket {
    pub day: i32,
    pub events: u32,
    pub txns: u32,
    pub credit_count: u32,
    pub debit_count: u32,
    pub credit_fen: i64,
    pub debit_fen: i64,
    /// Bit i set when an event of `EVENT_TYPES[i]` happened that day.
    pub event_types: u16,
    /// Bit i set when a transaction of `TXN_TYPES[i]` happened that day.
    pub txn_types: u16,
    /// Whether a salary credit was booked that day.
    pub salary_credit: bool,
}

/// Counters over one window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowCounts {
    pub events: u64,
    pub transactions: u64,
    pub credit_count: u64,
    pub credit_fen: i64,
    pub debit_count: u64,
    pub debit_fen: i64,
}

/// What kind of "last seen" a recency entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum RecencyKind {
    EventType = 0,
    EventChannel = 1,
    TxnType = 2,
    TxnChannel = 3,
}

impl RecencyKind {
    fn codes(self) -> &'static [&'static str] {
        match self {
            RecencyKind::EventType => EVENT_TYPES,
            RecencyKind::EventChannel => EVENT_CHANNELS,
            RecencyKind::TxnType => TXN_TYPES,
            RecencyKind::TxnChannel => TXN_CHANNELS,
        }
    }
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => RecencyKind::EventType,
            1 => RecencyKind::EventChannel,
            2 => RecencyKind::TxnType,
            3 => RecencyKind::TxnChannel,
            _ => return None,
        })
    }
}

/// A customer's real-time state. Cloned on write (the writer builds the new version, then
/// swaps it in), so a reader always sees one whole version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// Newest event time, UTC µs (0 = none).
    pub last_event_us: i64,
    /// Newest transaction time, UTC µs (0 = none).
    pub last_txn_us: i64,
    /// `(kind << 8 | code index, newest ts)`, sorted by key; sparse because most customers
    /// use few channels.
    pub recency: Vec<(u16, i64)>,
    /// Day buckets, ascending by day, none older than [`RETAIN_DAYS`].
    pub days: Vec<DayBucket>,
    pub lifetime_events: u64,
    pub lifetime_txns: u64,
    /// Saved audiences the customer is currently in, sorted.
    pub audiences: Vec<String>,
    /// Saved audiences the customer has left since the log started, sorted: for these the
    /// live state, not the batch audience, says the customer is out (so re-entering is
    /// reported again).
    pub left_audiences: Vec<String>,
}

impl Profile {
    fn touch(&mut self, kind: RecencyKind, code: &str, ts: i64) {
        let Some(i) = code_index(kind.codes(), code) else {
            return;
        };
        let key = (kind as u16) << 8 | i as u16;
        match self.recency.binary_search_by_key(&key, |e| e.0) {
            Ok(p) => self.recency[p].1 = self.recency[p].1.max(ts),
            Err(p) => self.recency.insert(p, (key, ts)),
        }
    }

    fn bucket(&mut self, day: i32) -> &mut DayBucket {
        let p = match self.days.binary_search_by_key(&day, |b| b.day) {
            Ok(p) => p,
            Err(p) => {
                self.days.insert(
                    p,
                    DayBucket {
                        day,
                        ..DayBucket::default()
                    },
                );
                p
            }
        };
        &mut self.days[p]
    }

    /// Drops buckets that no window can reach any more.
    pub fn prune(&mut self, today: i32) {
        let cut = today - RETAIN_DAYS;
        let n = self.days.iter().take_while(|b| b.day <= cut).count();
        if n > 0 {
            self.days.drain(..n);
        }
    }

    /// Applies one record. `today` is the current business day; records older than the
    /// retention still update recency and lifetime counts.
    pub fn apply(&mut self, r: &Record, rules: &Rules, today: i32) {
        match r {
            Record::Event(e) => {
                self.last_event_us = self.last_event_us.max(e.ts);
                self.lifetime_events += 1;
                self.touch(RecencyKind::EventType, &e.event_type, e.ts);
                self.touch(RecencyKind::EventChannel, &e.channel, e.ts);
                let day = rules.day_of(e.ts);
                if day > today - RETAIN_DAYS {
                    let ty = code_index(EVENT_TYPES, &e.event_type);
                    let b = self.bucket(day);
                    b.events += 1;
                    if let Some(i) = ty {
                        b.event_types |= 1 << i;
                    }
                }
            }
            Record::Transaction(t) => {
                self.last_txn_us = self.last_txn_us.max(t.ts);
                self.lifetime_txns += 1;
                self.touch(RecencyKind::TxnType, &t.txn_type, t.ts);
                self.touch(RecencyKind::TxnChannel, &t.channel, t.ts);
                let day = rules.day_of(t.ts);
                if day > today - RETAIN_DAYS {
                    let ty = code_index(TXN_TYPES, &t.txn_type);
                    let credit = t.direction == "credit";
                    let b = self.bucket(day);
                    b.txns += 1;
                    if credit {
                        b.credit_count += 1;
                        b.credit_fen = b.credit_fen.saturating_add(t.amount_fen);
                        b.salary_credit |= t.txn_type == "salary";
                    } else {
                        b.debit_count += 1;
                        b.debit_fen = b.debit_fen.saturating_add(t.amount_fen);
                    }
                    if let Some(i) = ty {
                        b.txn_types |= 1 << i;
                    }
                }
            }
            Record::Audience(a) => {
                let (into, out_of) = match a.change {
                    crate::input::Change::Entered => {
                        (&mut self.audiences, &mut self.left_audiences)
                    }
                    crate::input::Change::Left => (&mut self.left_audiences, &mut self.audiences),
                };
                if let Err(p) = into.binary_search(&a.audience_id) {
                    into.insert(p, a.audience_id.clone());
                }
                if let Ok(p) = out_of.binary_search(&a.audience_id) {
                    out_of.remove(p);
                }
            }
        }
        self.prune(today);
    }

    /// Counters over the last `days` business days ending with `today`.
    pub fn window(&self, today: i32, days: i32) -> WindowCounts {
        let from = today - days;
        let mut w = WindowCounts::default();
        for b in self.days.iter().rev() {
            if b.day <= from {
                break;
            }
            if b.day > today {
                continue;
            }
            w.events += b.events as u64;
            w.transactions += b.txns as u64;
            w.credit_count += b.credit_count as u64;
            w.credit_fen += b.credit_fen;
            w.debit_count += b.debit_count as u64;
            w.debit_fen += b.debit_fen;
        }
        w
    }

    fn any_day(&self, today: i32, days: i32, f: impl Fn(&DayBucket) -> bool) -> bool {
        self.days
            .iter()
            .rev()
            .take_while(|b| b.day > today - days)
            .any(|b| b.day <= today && f(b))
    }

    /// Whether an event of `event_type` happened in the last `days` days (at most 90).
    pub fn did_event(&self, event_type: &str, today: i32, days: i32) -> bool {
        match code_index(EVENT_TYPES, event_type) {
            Some(i) => self.any_day(today, days, |b| b.event_types & (1 << i) != 0),
            None => false,
        }
    }

    /// Whether a transaction of `txn_type` happened in the last `days` days (at most 90).
    pub fn did_transaction(&self, txn_type: &str, today: i32, days: i32) -> bool {
        match code_index(TXN_TYPES, txn_type) {
            Some(i) => self.any_day(today, days, |b| b.txn_types & (1 << i) != 0),
            None => false,
        }
    }

    /// Newest event or transaction, UTC µs (0 = none).
    pub fn last_activity_us(&self) -> i64 {
        self.last_event_us.max(self.last_txn_us)
    }

    /// The rule tags at `now_us`.
    pub fn tags(&self, rules: &Rules, now_us: i64) -> TagSet {
        let today = rules.day_of(now_us);
        let active = |d| self.any_day(today, d, |b| b.events + b.txns > 0);
        let mut t = TagSet::default();
        t.set("active_7d", active(7));
        t.set("active_30d", active(30));
        let last = self.last_activity_us();
        t.set(
            "dormant_60d",
            last > 0 && rules.day_of(last) <= today - rules.dormant_days,
        );
        t.set(
            "large_inflow_today",
            self.window(today, 1).credit_fen >= rules.large_inflow_fen,
        );
        t.set(
            "salary_credited",
            self.any_day(today, 30, |b| b.salary_credit),
        );
        t.set("complaint_30d", self.did_event("complaint", today, 30));
        t.set(
            "competitor_transfer_30d",
            self.did_transaction("competitor_transfer", today, 30),
        );
        t
    }

    /// Recency entries decoded to `(kind, code, ts)`.
    pub fn recency_entries(&self) -> impl Iterator<Item = (RecencyKind, &'static str, i64)> + '_ {
        self.recency.iter().filter_map(|&(key, ts)| {
            let kind = RecencyKind::from_u8((key >> 8) as u8)?;
            let code = kind.codes().get((key & 0xff) as usize)?;
            Some((kind, *code, ts))
        })
    }
}

/// What a [`crate::MembershipWatcher`] sees: a customer's profile at a point in time.
#[derive(Debug, Clone, Copy)]
pub struct ProfileView<'a> {
    pub customer_id: &'a str,
    pub profile: &'a Profile,
    pub rules: &'a Rules,
    /// Evaluation time, UTC µs.
    pub now_us: i64,
    pub tags: TagSet,
}

impl<'a> ProfileView<'a> {
    pub fn new(customer_id: &'a str, profile: &'a Profile, rules: &'a Rules, now_us: i64) -> Self {
        ProfileView {
            customer_id,
            profile,
            rules,
            now_us,
            tags: profile.tags(rules, now_us),
        }
    }
    pub fn today(&self) -> i32 {
        self.rules.day_of(self.now_us)
    }
    pub fn has_tag(&self, name: &str) -> bool {
        self.tags.contains(name)
    }
    /// Counters over the last `days` days (1 = today).
    pub fn window(&self, days: i32) -> WindowCounts {
        self.profile.window(self.today(), days)
    }
    pub fn did_event(&self, event_type: &str, days: i32) -> bool {
        self.profile.did_event(event_type, self.today(), days)
    }
    pub fn did_transaction(&self, txn_type: &str, days: i32) -> bool {
        self.profile.did_transaction(txn_type, self.today(), days)
    }
    pub fn in_audience(&self, audience_id: &str) -> bool {
        self.profile
            .audiences
            .binary_search_by(|a| a.as_str().cmp(audience_id))
            .is_ok()
    }

    /// The serialisable form served by `GET /v1/customers/{id}/realtime`.
    pub fn snapshot(&self) -> RealtimeSnapshot {
        let ts = |us: i64| (us > 0).then(|| format_timestamp(us));
        let mut recency = RecencyMap::default();
        for (kind, code, t) in self.profile.recency_entries() {
            let m = match kind {
                RecencyKind::EventType => &mut recency.event_type,
                RecencyKind::EventChannel => &mut recency.event_channel,
                RecencyKind::TxnType => &mut recency.txn_type,
                RecencyKind::TxnChannel => &mut recency.txn_channel,
            };
            m.insert(code.to_string(), format_timestamp(t));
        }
        RealtimeSnapshot {
            customer_id: self.customer_id.to_string(),
            as_of: format_timestamp(self.now_us),
            last_event_at: ts(self.profile.last_event_us),
            last_transaction_at: ts(self.profile.last_txn_us),
            recency,
            windows: WINDOWS
                .iter()
                .map(|(name, d)| (name.to_string(), self.window(*d)))
                .collect(),
            tags: self.tags.names().map(str::to_string).collect(),
            audiences: self.profile.audiences.clone(),
            lifetime_events: self.profile.lifetime_events,
            lifetime_transactions: self.profile.lifetime_txns,
        }
    }
}

/// Newest time per code, RFC 3339 UTC.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecencyMap {
    pub event_type: std::collections::BTreeMap<String, String>,
    pub event_channel: std::collections::BTreeMap<String, String>,
    pub txn_type: std::collections::BTreeMap<String, String>,
    pub txn_channel: std::collections::BTreeMap<String, String>,
}

/// A customer's real-time counters and rule tags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RealtimeSnapshot {
    pub customer_id: String,
    /// When the windows and tags were evaluated.
    pub as_of: String,
    pub last_event_at: Option<String>,
    pub last_transaction_at: Option<String>,
    pub recency: RecencyMap,
    /// `today`, `7d`, `30d`, `90d`: business days ending today (UTC+8 by default).
    pub windows: std::collections::BTreeMap<String, WindowCounts>,
    pub tags: Vec<String>,
    pub audiences: Vec<String>,
    pub lifetime_events: u64,
    pub lifetime_transactions: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{ChannelEvent, Transaction};

    const DAY_US: i64 = 86_400 * MICROS_PER_SEC;
    // 2024-03-01T04:00:00Z = 12:00 in UTC+8.
    const NOON: i64 = 1_709_265_600 * MICROS_PER_SEC;

    fn ev(id: &str, ts: i64, ty: &str) -> Record {
        Record::Event(ChannelEvent {
            event_id: id.into(),
            customer_id: "C1".into(),
            ts,
            channel: "web".into(),
            event_type: ty.into(),
            attributes: None,
        })
    }
    fn tx(id: &str, ts: i64, fen: i64, dir: &str, ty: &str) -> Record {
        Record::Transaction(Transaction {
            txn_id: id.into(),
            customer_id: "C1".into(),
            account_id: None,
            ts,
            amount_fen: fen,
            currency: "cny".into(),
            direction: dir.into(),
            channel: "mobile".into(),
            txn_type: ty.into(),
        })
    }

    #[test]
    fn windows_roll_at_the_business_day_boundary() {
        let rules = Rules::default();
        let mut p = Profile::default();
        let today = rules.day_of(NOON);
        // One event on each of the last 10 days (day 0 = today).
        for d in 0..10 {
            p.apply(
                &ev(&format!("E{d}"), NOON - d * DAY_US, "login"),
                &rules,
                today,
            );
        }
        assert_eq!(p.window(today, 1).events, 1);
        assert_eq!(p.window(today, 7).events, 7);
        assert_eq!(p.window(today, 30).events, 10);
        // A day later, the oldest of the 7 falls out and nothing new came in.
        assert_eq!(p.window(today + 1, 7).events, 6);
        assert_eq!(p.window(today + 1, 1).events, 0);
        // 23:59 and 00:01 UTC+8 land in different buckets: 15:59Z and 16:01Z.
        let midnight_cst = (today as i64 + 1) * DAY_US - 8 * 3600 * MICROS_PER_SEC;
        assert_eq!(rules.day_of(midnight_cst - 60 * MICROS_PER_SEC), today);
        assert_eq!(rules.day_of(midnight_cst + 60 * MICROS_PER_SEC), today + 1);
        let mut q = Profile::default();
        q.apply(
            &ev("a", midnight_cst - 60 * MICROS_PER_SEC, "login"),
            &rules,
            today + 1,
        );
        q.apply(
            &ev("b", midnight_cst + 60 * MICROS_PER_SEC, "login"),
            &rules,
            today + 1,
        );
        assert_eq!(q.window(today + 1, 1).events, 1);
        assert_eq!(q.window(today + 1, 2).events, 2);
    }

    #[test]
    fn old_buckets_are_pruned_but_recency_and_lifetime_stay() {
        let rules = Rules::default();
        let today = rules.day_of(NOON);
        let mut p = Profile::default();
        p.apply(&ev("old", NOON - 100 * DAY_US, "login"), &rules, today);
        assert!(p.days.is_empty(), "older than 90 days: no bucket");
        assert_eq!(p.lifetime_events, 1);
        p.apply(&ev("e", NOON - 89 * DAY_US, "login"), &rules, today);
        assert_eq!(p.window(today, 90).events, 1);
        // 2 days later that bucket is outside 90 days and pruned on the next apply.
        p.apply(&ev("f", NOON + 2 * DAY_US, "login"), &rules, today + 2);
        assert_eq!(p.days.len(), 1);
        assert_eq!(p.lifetime_events, 3);
        assert_eq!(p.last_event_us, NOON + 2 * DAY_US);
    }

    #[test]
    fn rule_tags_follow_the_counters() {
        let rules = Rules::default();
        let today = rules.day_of(NOON);
        let mut p = Profile::default();
        p.apply(
            &tx("s", NOON - 3 * DAY_US, 1_200_000, "credit", "salary"),
            &rules,
            today,
        );
        let tags = p.tags(&rules, NOON);
        assert!(tags.contains("salary_credited") && tags.contains("active_7d"));
        assert!(!tags.contains("large_inflow_today"));
        // 49,999.99 元 today is not large; one more fen is.
        p.apply(
            &tx("a", NOON, 4_999_999, "credit", "transfer_in"),
            &rules,
            today,
        );
        assert!(!p.tags(&rules, NOON).contains("large_inflow_today"));
        p.apply(&tx("b", NOON, 1, "credit", "transfer_in"), &rules, today);
        assert!(p.tags(&rules, NOON).contains("large_inflow_today"));
        // Debits never count as inflow.
        let mut d = Profile::default();
        d.apply(
            &tx("c", NOON, 9_000_000, "debit", "transfer_out"),
            &rules,
            today,
        );
        assert!(!d.tags(&rules, NOON).contains("large_inflow_today"));
        // Time passing alone changes tags: 8 days on, not active in 7 days; 60 days on, dormant.
        let later = NOON + 8 * DAY_US;
        let t = p.tags(&rules, later);
        assert!(!t.contains("active_7d") && t.contains("active_30d"));
        assert!(!t.contains("large_inflow_today"));
        assert!(
            p.tags(&rules, NOON + 59 * DAY_US)
                .names()
                .all(|n| n != "dormant_60d")
        );
        assert!(p.tags(&rules, NOON + 60 * DAY_US).contains("dormant_60d"));
        assert!(
            !Profile::default()
                .tags(&rules, NOON)
                .contains("dormant_60d")
        );
    }

    #[test]
    fn snapshot_reports_recency_by_type_and_channel() {
        let rules = Rules::default();
        let today = rules.day_of(NOON);
        let mut p = Profile::default();
        p.apply(&ev("1", NOON - DAY_US, "complaint"), &rules, today);
        p.apply(&ev("2", NOON, "login"), &rules, today);
        p.apply(&tx("3", NOON, 100, "debit", "purchase"), &rules, today);
        let s = ProfileView::new("C1", &p, &rules, NOON).snapshot();
        assert_eq!(s.recency.event_channel["web"], format_timestamp(NOON));
        assert_eq!(
            s.recency.event_type["complaint"],
            format_timestamp(NOON - DAY_US)
        );
        assert_eq!(s.recency.txn_channel["mobile"], format_timestamp(NOON));
        assert_eq!(s.windows["today"].events, 1);
        assert_eq!(s.windows["7d"].events, 2);
        assert_eq!(s.windows["7d"].debit_fen, 100);
        assert!(s.tags.contains(&"complaint_30d".to_string()));
    }

    proptest::proptest! {
        /// Day-bucketed windows equal a brute-force count over the raw records, in any
        /// arrival order, at any later reading time.
        #[test]
        fn windows_equal_brute_force(
            recs in proptest::collection::vec((0i64..120 * 86_400, 0u8..3, 1i64..10_000_000), 0..60),
            read_after_days in 0i32..40,
        ) {
            let rules = Rules::default();
            let today = rules.day_of(NOON);
            let mut p = Profile::default();
            let mut raw = Vec::new();
            for (i, (age_s, kind, fen)) in recs.iter().enumerate() {
                let ts = NOON - age_s * MICROS_PER_SEC;
                let r = match kind {
                    0 => ev(&i.to_string(), ts, "login"),
                    1 => tx(&i.to_string(), ts, *fen, "credit", "transfer_in"),
                    _ => tx(&i.to_string(), ts, *fen, "debit", "purchase"),
                };
                p.apply(&r, &rules, today);
                raw.push((rules.day_of(ts), *kind, *fen));
            }
            let now_day = today + read_after_days;
            for days in [1, 7, 30, 90] {
                let w = p.window(now_day, days);
                let inside: Vec<_> = raw.iter().filter(|(d, _, _)| *d > now_day - days && *d <= now_day && *d > today - RETAIN_DAYS).collect();
                proptest::prop_assert_eq!(w.events, inside.iter().filter(|r| r.1 == 0).count() as u64);
                proptest::prop_assert_eq!(w.transactions, inside.iter().filter(|r| r.1 != 0).count() as u64);
                proptest::prop_assert_eq!(w.credit_fen, inside.iter().filter(|r| r.1 == 1).map(|r| r.2).sum::<i64>());
                proptest::prop_assert_eq!(w.debit_fen, inside.iter().filter(|r| r.1 == 2).map(|r| r.2).sum::<i64>());
            }
            proptest::prop_assert_eq!(p.lifetime_events + p.lifetime_txns, raw.len() as u64);
        }
    }
}
