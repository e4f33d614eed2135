//! `zhiying keys`: switching encryption at rest on for a plaintext data directory, rotating,
//! retiring the old key, and the error when the key is gone, all through the binary.

use serde_json::Value;
use std::path::Path;

mod common;
use common::zhiying;

fn json(args: &[&str]) -> Value {
    let (ok, out, err) = zhiying(args);
    assert!(ok, "zhiying {args:?} failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {out}"))
}

fn ingest(data: &str, table: &str, file: &str) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(file);
    json(&[
        "ingest",
        "--data-dir",
        data,
        "--table",
        table,
        "--json",
        fixture.to_str().unwrap(),
    ]);
}

/// The quality report's tables without the time-dependent staleness.
fn tables(data: &str, extra: &[&str]) -> Value {
    let mut args = vec!["quality", "--data-dir", data, "--json"];
    args.extend_from_slice(extra);
    let mut t = json(&args)["tables"].clone();
    for x in t.as_array_mut().unwrap() {
        x.as_object_mut().unwrap().remove("staleness_hours");
    }
    t
}

fn facts_contain(data: &Path, table: &str, needle: &str) -> bool {
    std::fs::read_dir(data.join("facts").join(table))
        .unwrap()
        .flatten()
        .any(|e| {
            let b = std::fs::read(e.path()).unwrap();
            b.windows(needle.len()).any(|w| w == needle.as_bytes())
        })
}

#[test]
fn rotate_encrypts_a_plaintext_dir_then_moves_to_a_new_key_and_retires_the_old() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    ingest(d, "customers", "customers.csv");
    ingest(d, "accounts", "accounts.csv");
    assert!(
        facts_contain(&data, "customers", "13800138000"),
        "control: plaintext"
    );
    let quality_before = tables(d, &[]);

    let s = json(&["keys", "status", "--data-dir", d, "--json"]);
    assert_eq!(s["encryption_at_rest"], false, "{s}");
    assert!(s["message"].as_str().unwrap().contains("OFF"), "{s}");

    // No key yet: the first rotation creates k1 and encrypts what is there.
    let r = json(&["keys", "rotate", "--data-dir", d, "--json"]);
    assert_eq!(r["active_key"], "k1", "{r}");
    assert_eq!(r["files_reencrypted"], 2, "{r}");
    let key_file = data.join("keys/data-keys.toml");
    assert!(key_file.is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "key file mode {mode:o}");
    }
    assert!(!facts_contain(&data, "customers", "13800138000"));
    assert!(!facts_contain(&data, "customers", "张伟"));
    // Everything that reads facts still works, and sees the same data.
    assert_eq!(tables(d, &[]), quality_before);

    let r2 = json(&[
        "keys",
        "rotate",
        "--data-dir",
        d,
        "--new-key-id",
        "k2026",
        "--json",
    ]);
    assert_eq!(r2["previous_key"], "k1");
    assert_eq!(r2["active_key"], "k2026");
    assert_eq!(r2["files_reencrypted"], 2, "{r2}");
    // A resumed rotation finds nothing left to do.
    let r3 = json(&["keys", "rotate", "--data-dir", d, "--resume", "--json"]);
    assert_eq!(r3["files_reencrypted"], 0, "{r3}");
    assert_eq!(r3["files_unchanged"], 2, "{r3}");

    json(&["keys", "retire", "--data-dir", d, "k1", "--json"]);
    let s = json(&["keys", "status", "--data-dir", d, "--json"]);
    assert_eq!(s["encryption_at_rest"], true);
    assert_eq!(s["active_key"], "k2026");
    assert_eq!(s["keys"].as_array().unwrap().len(), 1, "{s}");
    assert_eq!(s["usage"]["files"]["k2026"], 2, "{s}");
    assert_eq!(tables(d, &[]), quality_before);
    // The active key cannot be retired.
    let (ok, _, err) = zhiying(&["keys", "retire", "--data-dir", d, "k2026"]);
    assert!(!ok && err.contains("active"), "{err}");

    // The rotations are in the audit log, and the chain verifies.
    let v = json(&["audit", "verify", "--data-dir", d, "--json"]);
    assert_eq!(v["ok"], true, "{v}");

    // Without the key file: a clear error naming the key id and the fix.
    std::fs::rename(&key_file, tmp.path().join("moved.toml")).unwrap();
    let (ok, _, err) = zhiying(&["quality", "--data-dir", d, "--json"]);
    assert!(!ok);
    assert!(err.contains("'k2026'"), "{err}");
    assert!(err.contains("--key-file"), "{err}");
    // … and supplying it by flag works.
    let moved = tmp.path().join("moved.toml");
    assert_eq!(
        tables(d, &["--key-file", moved.to_str().unwrap()]),
        quality_before
    );
}
