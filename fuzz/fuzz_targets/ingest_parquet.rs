//! The parquet reader and the validator of zhiying-ingest on arbitrary bytes. The first byte
//! picks the canonical table; the rest is the file.
#![no_main]
use libfuzzer_sys::fuzz_target;
use zhiying_ingest::{InputFormat, fuzzing};

fuzz_target!(|data: &[u8]| {
    fuzzing::parse_bytes(data, InputFormat::Parquet);
});
