//! What clients send: channel events and transactions, validated field by field against the
//! canonical code lists in `zhiying_core::schema`, and the records the log stores.
//!
//! Validation collects every problem of an item (not just the first), each naming the field,
//! the offending value and the fix, so a channel system can correct a batch in one round trip.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zhiying_core::schema::{
    CURRENCIES, DIRECTIONS, EVENT_CHANNELS, EVENT_TYPES, TXN_CHANNELS, TXN_TYPES,
};
use zhiying_core::time::{CST_OFFSET_SECS, MICROS_PER_SEC, format_timestamp, parse_timestamp};

/// Longest id accepted (the catalogue's id columns are text of at most 64 characters).
pub const MAX_ID_LEN: usize = 64;
/// Largest transaction amount, 分 (the catalogue's range for `transactions.amount_fen`).
pub const MAX_AMOUNT_FEN: i64 = 100_000_000_000;
/// Largest `attributes` object, in bytes of compact JSON.
pub const MAX_ATTRIBUTES_BYTES: usize = 4000;
/// How far in the future a timestamp may be (sender clock skew) before it is rejected.
pub const MAX_FUTURE_SKEW_US: i64 = 5 * 60 * MICROS_PER_SEC;
/// Timestamps before 2000-01-01 are treated as typos.
pub const MIN_TS_US: i64 = 946_684_800 * MICROS_PER_SEC;

/// A channel interaction (`events` table): a login, a page view, a complaint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelEvent {
    pub event_id: String,
    pub customer_id: String,
    /// UTC microseconds.
    pub ts: i64,
    pub channel: String,
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Map<String, Value>>,
}

/// A booked transaction (`transactions` table). Amounts are positive; `direction` says which
/// way the money moved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    pub txn_id: String,
    pub customer_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// UTC microseconds.
    pub ts: i64,
    pub amount_fen: i64,
    pub currency: String,
    pub direction: String,
    pub channel: String,
    pub txn_type: String,
}

/// Whether a customer entered or left a saved audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Entered,
    Left,
}

/// `AudienceEntered` / `AudienceLeft`: produced by the store when a watched predicate flips,
/// written to the log in the same group commit as the record that caused it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudienceChange {
    pub audience_id: String,
    pub customer_id: String,
    pub change: Change,
    /// UTC microseconds when the change was evaluated.
    pub ts: i64,
    /// The event or transaction id whose arrival caused the change, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// One log record. Serialised as JSON inside a CRC-checked frame (see `log`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    Event(ChannelEvent),
    Transaction(Transaction),
    Audience(AudienceChange),
}

impl Record {
    pub fn customer_id(&self) -> &str {
        match self {
            Record::Event(e) => &e.customer_id,
            Record::Transaction(t) => &t.customer_id,
            Record::Audience(a) => &a.customer_id,
        }
    }
    /// When it happened (UTC microseconds).
    pub fn ts(&self) -> i64 {
        match self {
            Record::Event(e) => e.ts,
            Record::Transaction(t) => t.ts,
            Record::Audience(a) => a.ts,
        }
    }
    /// The client-supplied id that makes the record idempotent (`None` for derived records).
    pub fn id(&self) -> Option<&str> {
        match self {
            Record::Event(e) => Some(&e.event_id),
            Record::Transaction(t) => Some(&t.txn_id),
            Record::Audience(_) => None,
        }
    }
    /// The idempotency key: events and transactions have separate id spaces.
    pub fn dedupe_key(&self) -> Option<u128> {
        match self {
            Record::Event(e) => Some(dedupe_key(b'e', &e.event_id)),
            Record::Transaction(t) => Some(dedupe_key(b't', &t.txn_id)),
            Record::Audience(_) => None,
        }
    }
}

/// A stable 128-bit hash of `(kind, id)`; stable across releases because it is persisted.
pub fn dedupe_key(kind: u8, id: &str) -> u128 {
    let mut buf = Vec::with_capacity(id.len() + 1);
    buf.push(kind);
    buf.extend_from_slice(id.as_bytes());
    twox_hash::XxHash3_128::oneshot(&buf)
}

/// One problem with one field of one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub message: String,
}

impl FieldError {
    fn new(field: &str, value: Option<&Value>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.to_string(),
            value: value.map(|v| {
                let s = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                // Enough to recognise the value; never echo a whole payload back.
                s.chars().take(80).collect()
            }),
            message: message.into(),
        }
    }
}

/// All the problems of one item of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemError {
    /// Position in the request's array (0 for a single object).
    pub index: usize,
    pub errors: Vec<FieldError>,
}

const EVENT_FIELDS: &[&str] = &[
    "kind",
    "event_id",
    "customer_id",
    "ts",
    "channel",
    "event_type",
    "attributes",
];
const TXN_FIELDS: &[&str] = &[
    "kind",
    "txn_id",
    "customer_id",
    "account_id",
    "ts",
    "amount_fen",
    "currency",
    "direction",
    "channel",
    "txn_type",
];

/// Options for validation.
#[derive(Debug, Clone, Copy)]
pub struct ValidateOptions {
    /// Offset east of UTC for timestamps without one (default UTC+8, as in ingest).
    pub naive_offset_secs: i32,
    /// Current time, UTC microseconds; timestamps more than [`MAX_FUTURE_SKEW_US`] ahead are rejected.
    pub now_us: i64,
}

impl ValidateOptions {
    pub fn at(now_us: i64) -> Self {
        ValidateOptions {
            naive_offset_secs: CST_OFFSET_SECS,
            now_us,
        }
    }
}

/// Validates a request body that is one object or an array of objects.
/// Returns the records in order, or every item's errors.
pub fn parse_body(body: &[u8], opts: ValidateOptions) -> Result<Vec<Record>, Vec<ItemError>> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        vec![ItemError {
            index: 0,
            errors: vec![FieldError {
                field: "(body)".into(),
                value: None,
                message: format!(
                    "the body is not JSON ({e}); send one event object or an array of them"
                ),
            }],
        }]
    })?;
    match value {
        Value::Array(items) => parse_items(&items, opts),
        Value::Object(_) => parse_items(std::slice::from_ref(&value), opts),
        other => Err(vec![ItemError {
            index: 0,
            errors: vec![FieldError::new(
                "(body)",
                Some(&other),
                "expected a JSON object or an array of objects",
            )],
        }]),
    }
}

/// Validates items; all or nothing, so a batch is never half-applied.
pub fn parse_items(items: &[Value], opts: ValidateOptions) -> Result<Vec<Record>, Vec<ItemError>> {
    let mut out = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match parse_item(item, opts) {
            Ok(r) => out.push(r),
            Err(e) => errors.push(ItemError { index, errors: e }),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Validates one item. The kind comes from `kind` (`event` or `transaction`) or, when absent,
/// from which of `event_type` / `txn_type` is present.
pub fn parse_item(item: &Value, opts: ValidateOptions) -> Result<Record, Vec<FieldError>> {
    let Some(obj) = item.as_object() else {
        return Err(vec![FieldError::new(
            "(item)",
            Some(item),
            "each item must be a JSON object",
        )]);
    };
    let kind = match obj.get("kind") {
        Some(Value::String(k)) => match k.trim().to_ascii_lowercase().as_str() {
            "event" => "event",
            "transaction" | "txn" => "transaction",
            _ => {
                return Err(vec![FieldError::new(
                    "kind",
                    obj.get("kind"),
                    "kind must be \"event\" or \"transaction\"",
                )]);
            }
        },
        Some(other) => {
            return Err(vec![FieldError::new(
                "kind",
                Some(other),
                "kind must be the string \"event\" or \"transaction\"",
            )]);
        }
        None if obj.contains_key("event_type") => "event",
        None if obj.contains_key("txn_type") => "transaction",
        None => {
            return Err(vec![FieldError::new(
                "kind",
                None,
                "cannot tell an event from a transaction: set kind to \"event\" (with event_type) or \"transaction\" (with txn_type)",
            )]);
        }
    };
    let mut errs = Vec::new();
    let allowed = if kind == "event" {
        EVENT_FIELDS
    } else {
        TXN_FIELDS
    };
    for k in obj.keys() {
        if !allowed.contains(&k.as_str()) {
            let hint = if k == "amount" {
                "; send amount_fen as an integer number of 分 (1 元 = 100 分)".to_string()
            } else {
                String::new()
            };
            errs.push(FieldError::new(
                k,
                None,
                format!(
                    "unknown field for a {kind}; allowed fields: {}{hint}",
                    allowed.join(", ")
                ),
            ));
        }
    }
    let customer_id = id_field(obj, "customer_id", &mut errs);
    let ts = ts_field(obj, opts, &mut errs);
    if kind == "event" {
        let event_id = id_field(obj, "event_id", &mut errs);
        let channel = code_field(obj, "channel", EVENT_CHANNELS, true, &mut errs);
        let event_type = code_field(obj, "event_type", EVENT_TYPES, true, &mut errs);
        let attributes = match obj.get("attributes") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => {
                let size = serde_json::to_string(m).map(|s| s.len()).unwrap_or(0);
                if size > MAX_ATTRIBUTES_BYTES {
                    errs.push(FieldError::new(
                        "attributes",
                        None,
                        format!(
                            "attributes is {size} bytes; at most {MAX_ATTRIBUTES_BYTES} are kept per event: send references, not documents"
                        ),
                    ));
                    None
                } else {
                    Some(m.clone())
                }
            }
            Some(other) => {
                errs.push(FieldError::new(
                    "attributes",
                    Some(other),
                    "attributes must be a JSON object of extra details, e.g. {\"item\": \"fund-001\"}",
                ));
                None
            }
        };
        match (event_id, customer_id, ts, channel, event_type) {
            (Some(event_id), Some(customer_id), Some(ts), Some(channel), Some(event_type))
                if errs.is_empty() =>
            {
                Ok(Record::Event(ChannelEvent {
                    event_id,
                    customer_id,
                    ts,
                    channel,
                    event_type,
                    attributes,
                }))
            }
            _ => Err(errs),
        }
    } else {
        let txn_id = id_field(obj, "txn_id", &mut errs);
        let account_id = match obj.get("account_id") {
            None | Some(Value::Null) => None,
            Some(_) => id_field(obj, "account_id", &mut errs),
        };
        let amount_fen = match obj.get("amount_fen") {
            None => {
                errs.push(FieldError::new(
                    "amount_fen",
                    None,
                    "amount_fen is required: the amount as an integer number of 分",
                ));
                None
            }
            Some(v) => match v.as_i64() {
                Some(a) if (0..=MAX_AMOUNT_FEN).contains(&a) => Some(a),
                Some(_) => {
                    errs.push(FieldError::new(
                        "amount_fen",
                        Some(v),
                        format!(
                            "amount_fen must be between 0 and {MAX_AMOUNT_FEN} 分; amounts are positive and direction says which way money moved"
                        ),
                    ));
                    None
                }
                None => {
                    errs.push(FieldError::new(
                        "amount_fen",
                        Some(v),
                        "amount_fen must be an integer number of 分 (e.g. 12345 for 123.45 元), not a string or a decimal",
                    ));
                    None
                }
            },
        };
        let currency = code_field(obj, "currency", CURRENCIES, false, &mut errs)
            .unwrap_or_else(|| "cny".to_string());
        let direction = code_field(obj, "direction", DIRECTIONS, true, &mut errs);
        let channel = code_field(obj, "channel", TXN_CHANNELS, true, &mut errs);
        let txn_type = code_field(obj, "txn_type", TXN_TYPES, true, &mut errs);
        match (
            txn_id,
            customer_id,
            ts,
            amount_fen,
            direction,
            channel,
            txn_type,
        ) {
            (
                Some(txn_id),
                Some(customer_id),
                Some(ts),
                Some(amount_fen),
                Some(direction),
                Some(channel),
                Some(txn_type),
            ) if errs.is_empty() => Ok(Record::Transaction(Transaction {
                txn_id,
                customer_id,
                account_id,
                ts,
                amount_fen,
                currency,
                direction,
                channel,
                txn_type,
            })),
            _ => Err(errs),
        }
    }
}

fn id_field(obj: &Map<String, Value>, field: &str, errs: &mut Vec<FieldError>) -> Option<String> {
    match obj.get(field) {
        None | Some(Value::Null) => {
            errs.push(FieldError::new(field, None, format!("{field} is required")));
            None
        }
        Some(Value::String(s)) => {
            let t = s.trim();
            if t.is_empty() {
                errs.push(FieldError::new(
                    field,
                    obj.get(field),
                    format!("{field} is empty"),
                ));
                None
            } else if t.chars().count() > MAX_ID_LEN {
                errs.push(FieldError::new(
                    field,
                    obj.get(field),
                    format!("{field} is longer than {MAX_ID_LEN} characters"),
                ));
                None
            } else if t.chars().any(char::is_control) {
                errs.push(FieldError::new(
                    field,
                    obj.get(field),
                    format!("{field} contains control characters"),
                ));
                None
            } else {
                Some(t.to_string())
            }
        }
        Some(other) => {
            errs.push(FieldError::new(
                field,
                Some(other),
                format!("{field} must be a string"),
            ));
            None
        }
    }
}

fn code_field(
    obj: &Map<String, Value>,
    field: &str,
    list: &'static [&'static str],
    required: bool,
    errs: &mut Vec<FieldError>,
) -> Option<String> {
    match obj.get(field) {
        None | Some(Value::Null) => {
            if required {
                errs.push(FieldError::new(
                    field,
                    None,
                    format!("{field} is required; one of: {}", list.join(", ")),
                ));
            }
            None
        }
        Some(Value::String(s)) => {
            let code = s.trim().to_ascii_lowercase();
            if let Some(c) = list.iter().find(|c| **c == code) {
                Some((*c).to_string())
            } else {
                errs.push(FieldError::new(
                    field,
                    obj.get(field),
                    format!("not a known {field}; use one of: {}", list.join(", ")),
                ));
                None
            }
        }
        Some(other) => {
            errs.push(FieldError::new(
                field,
                Some(other),
                format!("{field} must be a string; one of: {}", list.join(", ")),
            ));
            None
        }
    }
}

fn ts_field(
    obj: &Map<String, Value>,
    opts: ValidateOptions,
    errs: &mut Vec<FieldError>,
) -> Option<i64> {
    let v = obj.get("ts");
    let ts = match v {
        None | Some(Value::Null) => {
            errs.push(FieldError::new(
                "ts",
                None,
                "ts is required: RFC 3339, e.g. 2024-03-01T09:30:00+08:00",
            ));
            return None;
        }
        Some(Value::String(s)) => match parse_timestamp(s, opts.naive_offset_secs) {
            Ok(ts) => ts,
            Err(e) => {
                errs.push(FieldError::new("ts", v, e.to_string()));
                return None;
            }
        },
        Some(other) => {
            errs.push(FieldError::new(
                "ts",
                Some(other),
                "ts must be a string: RFC 3339, e.g. 2024-03-01T09:30:00+08:00 (numbers are ambiguous between seconds and milliseconds)",
            ));
            return None;
        }
    };
    if ts > opts.now_us + MAX_FUTURE_SKEW_US {
        errs.push(FieldError::new(
            "ts",
            v,
            format!(
                "ts is in the future (server time is {}); check the sender's clock and time zone",
                format_timestamp(opts.now_us)
            ),
        ));
        return None;
    }
    if ts < MIN_TS_US {
        errs.push(FieldError::new(
            "ts",
            v,
            "ts is before 2000-01-01; check the value and its unit",
        ));
        return None;
    }
    Some(ts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn opts() -> ValidateOptions {
        // 2024-03-01T12:00:00Z
        ValidateOptions::at(1_709_294_400 * MICROS_PER_SEC)
    }

    #[test]
    fn a_valid_event_and_transaction() {
        let e = parse_item(
            &json!({"event_id": "E1", "customer_id": "C1", "ts": "2024-03-01T09:30:00+08:00",
                     "channel": "Mobile_App", "event_type": "login", "attributes": {"os": "ios"}}),
            opts(),
        )
        .unwrap();
        let Record::Event(e) = e else { panic!() };
        assert_eq!(e.ts, 1_709_256_600 * MICROS_PER_SEC);
        assert_eq!(e.channel, "mobile_app", "codes are lower-cased");
        let t = parse_item(
            &json!({"kind": "transaction", "txn_id": "T1", "customer_id": "C1", "ts": "2024-03-01 09:30:00",
                     "amount_fen": 5_000_000, "direction": "credit", "channel": "batch", "txn_type": "salary"}),
            opts(),
        )
        .unwrap();
        let Record::Transaction(t) = t else { panic!() };
        assert_eq!(t.currency, "cny");
        assert_eq!(
            t.ts,
            1_709_256_600 * MICROS_PER_SEC,
            "naive times are read at UTC+8"
        );
    }

    #[test]
    fn every_bad_field_is_reported_with_its_fix() {
        let errs = parse_item(
            &json!({"kind": "transaction", "txn_id": "", "customer_id": 7, "ts": "yesterday",
                     "amount_fen": "12.5", "direction": "sideways", "channel": "fax", "txn_type": "salary", "amount": 3}),
            opts(),
        )
        .unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "amount",
            "txn_id",
            "customer_id",
            "ts",
            "amount_fen",
            "direction",
            "channel",
        ] {
            assert!(fields.contains(&f), "{f} missing from {errs:?}");
        }
        let channel = errs.iter().find(|e| e.field == "channel").unwrap();
        assert_eq!(channel.value.as_deref(), Some("fax"));
        assert!(channel.message.contains("mobile"), "{}", channel.message);
        assert!(
            errs.iter()
                .find(|e| e.field == "amount")
                .unwrap()
                .message
                .contains("amount_fen")
        );
    }

    #[test]
    fn future_and_ancient_timestamps_are_rejected() {
        let mk = |ts: &str| {
            parse_item(
                &json!({"event_id": "E", "customer_id": "C", "ts": ts, "channel": "web", "event_type": "login"}),
                opts(),
            )
        };
        assert!(mk("2024-03-01T12:04:00Z").is_ok(), "small skew is fine");
        assert!(
            mk("2024-03-01T12:06:00Z").unwrap_err()[0]
                .message
                .contains("future")
        );
        assert!(mk("1999-12-31T00:00:00Z").is_err());
    }

    #[test]
    fn a_batch_is_all_or_nothing_with_item_indices() {
        let body = json!([
            {"event_id": "E1", "customer_id": "C1", "ts": "2024-03-01T09:00:00Z", "channel": "web", "event_type": "login"},
            {"event_id": "E2", "customer_id": "C1", "ts": "2024-03-01T09:00:00Z", "channel": "web", "event_type": "dance"},
            {"customer_id": "C1"}
        ]);
        let errs = parse_body(body.to_string().as_bytes(), opts()).unwrap_err();
        assert_eq!(errs.iter().map(|e| e.index).collect::<Vec<_>>(), vec![1, 2]);
        assert!(parse_body(b"not json", opts()).is_err());
        assert_eq!(
            parse_body(br#"{"event_id": "E1", "customer_id": "C1", "ts": "2024-03-01T09:00:00Z", "channel": "web", "event_type": "login"}"#, opts())
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn records_round_trip_through_json() {
        let r = Record::Audience(AudienceChange {
            audience_id: "a".into(),
            customer_id: "C1".into(),
            change: Change::Left,
            ts: 5,
            cause: Some("E1".into()),
        });
        let s = serde_json::to_string(&r).unwrap();
        assert!(s.contains("\"kind\":\"audience\""), "{s}");
        assert_eq!(serde_json::from_str::<Record>(&s).unwrap(), r);
        assert_ne!(dedupe_key(b'e', "X"), dedupe_key(b't', "X"));
    }
}
