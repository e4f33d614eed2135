//! The audit log's hash chain, computed in Rust so both backends produce identical hashes.
//!
//! `hash = hex(sha256(prev_hash ‖ seq ‖ ts ‖ actor ‖ action ‖ target ‖ detail))`, where every
//! field is written as its 8-byte big-endian length followed by its UTF-8 bytes (numbers in
//! decimal), so no choice of field contents can make two different entries hash alike.
//! `detail` is canonical JSON: object keys sorted, no whitespace. The first entry's
//! `prev_hash` is [`GENESIS_HASH`]. An auditor can recompute the chain from an export alone.

use sha2::{Digest, Sha256};

/// `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of one audit entry, given the hash of the entry before it.
pub fn audit_hash(
    prev_hash: &str,
    seq: u64,
    ts: i64,
    actor: &str,
    action: &str,
    target: &str,
    detail: &str,
) -> String {
    let mut h = Sha256::new();
    let seq = seq.to_string();
    let ts = ts.to_string();
    for field in [prev_hash, &seq, &ts, actor, action, target, detail] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The SHA-256 of a raw API token, hex-encoded: what [`crate::OperationalStore::create_token`]
/// expects, so the raw token itself is never stored.
pub fn hash_token(raw_token: &str) -> String {
    hex::encode(Sha256::digest(raw_token.as_bytes()))
}

/// Serialises JSON with object keys sorted and no whitespace. Written out by hand rather than
/// relying on `serde_json`'s map order, which a `preserve_order` feature elsewhere in the
/// build would silently change.
pub fn canonical_json(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let v = json!({"b": 1, "a": {"z": [3, {"y": null, "x": "中"}], "c": true}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":true,"z":[3,{"x":"中","y":null}]},"b":1}"#
        );
    }

    #[test]
    fn hash_depends_on_every_field_and_field_boundaries() {
        let base = audit_hash(GENESIS_HASH, 1, 10, "alice", "login", "", "{}");
        assert_eq!(base.len(), 64);
        assert_ne!(
            base,
            audit_hash(GENESIS_HASH, 2, 10, "alice", "login", "", "{}")
        );
        assert_ne!(
            base,
            audit_hash(GENESIS_HASH, 1, 11, "alice", "login", "", "{}")
        );
        assert_ne!(
            base,
            audit_hash(GENESIS_HASH, 1, 10, "alic", "elogin", "", "{}")
        );
        assert_ne!(base, audit_hash(&base, 1, 10, "alice", "login", "", "{}"));
        assert_eq!(
            base,
            audit_hash(GENESIS_HASH, 1, 10, "alice", "login", "", "{}")
        );
    }

    #[test]
    fn token_hash_is_sha256_hex() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
