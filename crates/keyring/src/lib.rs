//! Encryption at rest (issue 7 item 4; `docs/encryption.md`).
//!
//! * [`Keyring`]: AES-256 data keys with ids, from a key file (`--key-file` /
//!   `ZHIYING_KEY_FILE`), `ZHIYING_DATA_KEY=<id>:<hex>`, or `DATA_DIR/keys/data-keys.toml`;
//!   the active key encrypts, every key decrypts, so keys rotate. [`current`] is the
//!   process keyring every reader and writer uses; the CLI points it at the flag and the
//!   data directory ([`use_key_file`], [`use_data_dir`]), tests [`install`] one.
//! * [`parquet_io`]: Parquet modular encryption of the facts' C2/C3 columns and footer,
//!   and the shared helpers every Parquet reader and writer goes through.
//! * [`field`]: AES-256-GCM for single values in the operational store, bound to their
//!   `table.column`.
//!
//! With no key configured everything is plaintext, as before, and `status` says so.

pub mod field;
mod keys;
pub mod parquet_io;

pub use field::{FIELD_PREFIX, field_key_id, is_encrypted};
pub use keys::{
    DATA_DIR_KEY_FILE, DATA_KEY_ENV, DataKey, KEY_FILE_ENV, KeyError, KeySource, Keyring, current,
    install, mode_warning, random_key, use_data_dir, use_key_file,
};
pub use parquet_io::{
    FileDecryption, file_key_ids, open_metadata, open_reader, open_reader_with, reencrypt_file,
    sensitive_columns, writer_properties,
};
