//! Entry points for the cargo-fuzz targets in `fuzz/` (and the unit test that keeps them
//! compiling): arbitrary bytes through a reader, the validator and the Arrow builders, exactly
//! as `ingest_files` drives them, without writing a batch.

use std::path::PathBuf;

use zhiying_core::schema::FACT_TABLES;

use crate::source::{Next, Source};
use crate::validate::{Builders, Validator};
use crate::{IngestOptions, InputFormat};

/// The first byte picks the canonical table; the rest is the file. Returns how many rows
/// were accepted. Any panic (or a batch the builders cannot finish) is a finding.
pub fn parse_bytes(data: &[u8], format: InputFormat) -> usize {
    let Some((&pick, body)) = data.split_first() else {
        return 0;
    };
    let table = FACT_TABLES[pick as usize % FACT_TABLES.len()];
    let path = scratch_file(format);
    if std::fs::write(&path, body).is_err() {
        return 0;
    }
    let opts = IngestOptions::default();
    let Ok(mut src) = Source::open(&path, format, table, opts.delimiter) else {
        return 0;
    };
    let mut v = Validator::new(table, opts.amount_unit, opts.naive_offset_secs);
    let mut builders = Builders::new(table, 1024);
    let mut accepted = 0;
    while let Ok(Some(next)) = src.next() {
        // The quarantine keeps the raw row: it must render for any input.
        let _ = src.raw();
        if let Next::Row = next
            && v.validate(|i| src.field(i)).is_ok()
        {
            builders.append(&v);
            accepted += 1;
        }
    }
    if let Err(e) = builders.finish() {
        panic!("validated rows must always build an Arrow batch: {e}");
    }
    accepted
}

/// One scratch file per process and thread, in tmpfs when there is one.
fn scratch_file(format: InputFormat) -> PathBuf {
    let dir = ["/dev/shm", ""]
        .iter()
        .map(|d| {
            if d.is_empty() {
                std::env::temp_dir()
            } else {
                PathBuf::from(d)
            }
        })
        .find(|d| d.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let ext = match format {
        InputFormat::Csv => "csv",
        InputFormat::Jsonl => "jsonl",
        InputFormat::Parquet => "parquet",
    };
    dir.join(format!(
        "zhiying-fuzz-{}-{:?}.{ext}",
        std::process::id(),
        std::thread::current().id()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_and_garbage_go_through_without_panicking() {
        let customers = FACT_TABLES
            .iter()
            .position(|t| t.name == "customers")
            .expect("customers table") as u8;
        let mut csv = vec![customers];
        csv.extend_from_slice(
            b"customer_id,source_system,gender,birth_date,city,risk_level,open_date\n\
              C1,core,f,1980-01-01,SH,c2,2020-01-01\n\
              C2,core,x,not-a-date,,c9,2020-01-01\n",
        );
        assert_eq!(
            parse_bytes(&csv, InputFormat::Csv),
            1,
            "one good row, one rejected"
        );
        let mut jsonl = vec![customers];
        jsonl.extend_from_slice(
            br#"{"customer_id":"C1","source_system":"core","open_date":"2020-01-01"}
{"customer_id":
"#,
        );
        assert_eq!(parse_bytes(&jsonl, InputFormat::Jsonl), 1);
        for junk in [
            &b""[..],
            b"\x00",
            b"\x05\xff\xfe\x00,,,\n\"",
            b"\x02PAR1\x00\x00PAR1",
        ] {
            for f in [InputFormat::Csv, InputFormat::Jsonl, InputFormat::Parquet] {
                parse_bytes(junk, f);
            }
        }
    }
}
