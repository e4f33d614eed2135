//! Parquet modular encryption on real files: what is on disk, what reads, what fails and
//! how, and a rotation followed by removing the old key.
//!
//! The keyring is process-wide, so the tests take a lock (nextest runs each test in its
//! own process anyway; `cargo test` runs them on threads).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow::array::{Array, ArrayRef, Date32Array, Int64Array, RecordBatch, StringArray};
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::file::properties::WriterProperties;
use zhiying_core::schema::CUSTOMERS;
use zhiying_keyring::{Keyring, install};

static LOCK: Mutex<()> = Mutex::new(());

const NAMES: [&str; 3] = ["张三丰", "李小龙", "Wang Planted"];
const PHONES: [&str; 3] = ["13812345678", "13987654321", "15500001111"];
const CITIES: [&str; 3] = ["上海", "北京", "Shenzhen"];

/// Three customers with the catalogue's schema: planted names and phones (C2), cities (C1).
fn customers() -> RecordBatch {
    let schema = CUSTOMERS.arrow_schema();
    let cols: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| -> ArrayRef {
            match f.name().as_str() {
                "customer_id" => Arc::new(StringArray::from(vec!["C1", "C2", "C3"])),
                "source_system" => Arc::new(StringArray::from(vec!["core"; 3])),
                "name" => Arc::new(StringArray::from(NAMES.to_vec())),
                "phone" => Arc::new(StringArray::from(PHONES.to_vec())),
                "city" => Arc::new(StringArray::from(CITIES.to_vec())),
                "monthly_income_fen" => Arc::new(Int64Array::from(vec![1_000_000, 2_000_000, 3])),
                "open_date" => Arc::new(Date32Array::from(vec![18_000, 18_001, 18_002])),
                _ => arrow::array::new_null_array(f.data_type(), 3),
            }
        })
        .collect();
    RecordBatch::try_new(schema, cols).expect("batch")
}

/// Writes the customers as a fact file the way ingest does (through the keyring).
fn write_fact(dir: &Path) -> PathBuf {
    let path = dir.join("facts/customers/batch-t.parquet");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let props = zhiying_keyring::writer_properties(
        &CUSTOMERS,
        &CUSTOMERS.arrow_schema(),
        WriterProperties::builder(),
    )
    .expect("props");
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(&path).expect("create"),
        CUSTOMERS.arrow_schema(),
        Some(props),
    )
    .expect("writer");
    w.write(&customers()).expect("write");
    w.close().expect("close");
    path
}

fn read_column(path: &Path, column: &str) -> Result<Vec<String>, String> {
    let b = zhiying_keyring::open_reader(path).map_err(|e| e.to_string())?;
    let idx = b.schema().index_of(column).map_err(|e| e.to_string())?;
    let mask = ProjectionMask::roots(b.parquet_schema(), [idx]);
    let mut out = Vec::new();
    for batch in b.with_projection(mask).build().map_err(|e| e.to_string())? {
        let batch = batch.map_err(|e| e.to_string())?;
        let col = batch.column(0);
        let s = col
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("text column");
        out.extend((0..s.len()).map(|i| s.value(i).to_string()));
    }
    Ok(out)
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn encrypted_file_hides_c2_values_and_reads_back_with_the_key() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tmp");

    // Control: without a key the planted values are on disk in the clear.
    install(Keyring::empty());
    let plain = write_fact(&dir.path().join("plain"));
    let raw = std::fs::read(&plain).expect("read");
    assert!(
        contains(&raw, PHONES[0]),
        "control: plaintext file holds the phone"
    );

    let ring = install(Keyring::generate("k1").expect("key"));
    let path = write_fact(dir.path());
    let raw = std::fs::read(&path).expect("read");
    for v in NAMES.iter().chain(&PHONES) {
        assert!(
            !contains(&raw, v),
            "{v} found in the raw bytes of an encrypted file"
        );
    }
    // Column names and statistics live in the encrypted footer too.
    assert!(!contains(&raw, "monthly_income_fen"));

    assert_eq!(read_column(&path, "name").expect("name"), NAMES);
    assert_eq!(read_column(&path, "phone").expect("phone"), PHONES);
    assert_eq!(read_column(&path, "city").expect("city"), CITIES);
    let meta = zhiying_keyring::open_metadata(&path).expect("footer");
    assert_eq!(meta.file_metadata().num_rows(), 3);
    assert_eq!(
        zhiying_keyring::file_key_ids(&ring, &path).expect("ids"),
        std::collections::BTreeSet::from(["k1".to_string()])
    );
    assert!(
        zhiying_keyring::file_key_ids(&ring, &plain)
            .expect("ids")
            .is_empty()
    );
    // Plaintext files still read with a key configured.
    assert_eq!(read_column(&plain, "phone").expect("phone"), PHONES);
}

#[test]
fn missing_or_wrong_key_fails_naming_the_file_the_key_id_and_the_fix() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tmp");
    install(Keyring::generate("k7").expect("key"));
    let path = write_fact(dir.path());

    install(Keyring::empty());
    let err = read_column(&path, "city").unwrap_err();
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("'k7'"), "{err}");
    assert!(err.contains("--key-file"), "{err}");
    assert!(err.contains("ZHIYING_DATA_KEY"), "{err}");
    assert!(zhiying_keyring::open_metadata(&path).is_err());

    // Same id, different key material.
    install(Keyring::generate("k7").expect("key"));
    let err = read_column(&path, "city").unwrap_err();
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("key"), "{err}");
}

#[test]
fn rotation_then_removing_the_old_key_still_reads_everything() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tmp");
    let mut k = Keyring::generate("k1").expect("key");
    install(k.clone());
    let path = write_fact(dir.path());

    k.rotate(None).expect("rotate");
    assert_eq!(k.active_id(), Some("k2"));
    let ring = install(k.clone());
    assert!(
        zhiying_keyring::reencrypt_file(&ring, &CUSTOMERS, &path, WriterProperties::builder())
            .expect("re-encrypts")
    );
    // A rerun (after an interrupted rotation) skips files already under the new key.
    assert!(
        !zhiying_keyring::reencrypt_file(&ring, &CUSTOMERS, &path, WriterProperties::builder())
            .expect("skips")
    );
    assert!(!path.with_extension("parquet.rekey.tmp").exists());

    k.remove_key("k1");
    let ring = install(k);
    assert_eq!(
        zhiying_keyring::file_key_ids(&ring, &path).expect("ids"),
        std::collections::BTreeSet::from(["k2".to_string()])
    );
    assert_eq!(read_column(&path, "name").expect("name"), NAMES);
    assert_eq!(read_column(&path, "city").expect("city"), CITIES);
    let raw = std::fs::read(&path).expect("read");
    assert!(!contains(&raw, PHONES[1]));
}

#[test]
fn key_file_round_trips_warns_on_loose_modes_and_rejects_bad_keys() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("keys/data-keys.toml");
    let mut k = Keyring::generate("k1").expect("key");
    k.rotate(Some("k2026")).expect("rotate");
    k.write_file(&path).expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(zhiying_keyring::mode_warning(&path).is_none());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let w = zhiying_keyring::mode_warning(&path).expect("warns");
        assert!(w.contains("chmod 600"), "{w}");
    }
    let back = Keyring::read_file(&path).expect("reads");
    assert_eq!(back.active_id(), Some("k2026"));
    assert_eq!(back.key_ids(), ["k1", "k2026"]);
    let e = back.encrypt_field("t.c", "v").expect("encrypts");
    assert_eq!(k.decrypt_field("t.c", &e).expect("decrypts"), "v");

    // The data directory's key file is found when nothing else is configured.
    if std::env::var_os(zhiying_keyring::KEY_FILE_ENV).is_none()
        && std::env::var_os(zhiying_keyring::DATA_KEY_ENV).is_none()
    {
        let found = Keyring::load(None, Some(dir.path())).expect("loads");
        assert_eq!(found.active_id(), Some("k2026"));
        assert!(
            !Keyring::load(None, Some(&dir.path().join("none")))
                .expect("ok")
                .enabled()
        );
    }

    let bad = |text: &str| {
        Keyring::parse_file(text, Path::new("k.toml"))
            .unwrap_err()
            .to_string()
    };
    let e = bad("active = \"k9\"\n[[keys]]\nid = \"k1\"\nkey_hex = \"00\"\n");
    assert!(e.contains("k.toml") && e.contains("32"), "{e}");
    let hex64 = "11".repeat(32);
    let e = bad(&format!(
        "active = \"k9\"\n[[keys]]\nid = \"k1\"\nkey_hex = \"{hex64}\"\n"
    ));
    assert!(e.contains("'k9'"), "{e}");
    let e = bad(&format!(
        "active = \"k1\"\n[[keys]]\nid = \"k1\"\nkey_hex = \"{hex64}\"\n[[keys]]\nid = \"k1\"\nkey_hex = \"{hex64}\"\n"
    ));
    assert!(e.contains("already"), "{e}");
    assert!(
        Keyring::from_env_value(&format!("k1:{hex64}"))
            .expect("env")
            .enabled()
    );
    assert!(Keyring::from_env_value("k1").is_err());
    assert!(Keyring::from_env_value("bad id:00").is_err());
}
