use anyhow::Context;
use std::path::PathBuf;
use zhiying_core::money::AmountUnit;
use zhiying_core::schema::{fact_table, fact_table_names};
use zhiying_ingest::{IngestOptions, IngestSummary, InputFormat};

use super::DataDirArg;
use crate::config::Config;
use crate::output;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Every rejected row goes to DATA_DIR/quarantine/<table>/ with its file, line, raw row and a reason.\n\
Re-ingesting the same file adds nothing.\n\nExamples:\n  zhiying ingest --data-dir data --table customers bank/customers.csv\n  zhiying ingest --data-dir data --table transactions --amount-unit yuan --json txns-2026-10.csv\n  zhiying ingest --data-dir data --table events --format jsonl events.ndjson"
)]
pub struct Args {
    #[command(flatten)]
    pub data_dir: DataDirArg,
    /// Canonical table to load into (customers, accounts, transactions, …).
    #[arg(long)]
    pub table: String,
    /// Input format; guessed from the file extension when absent.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// How plain numbers in money columns are read: fen (分, default) or yuan (元).
    #[arg(long, value_enum, default_value_t = Unit::Fen)]
    pub amount_unit: Unit,
    /// UTC offset of timestamps that carry none, in hours (China: 8).
    #[arg(long, default_value_t = 8, allow_negative_numbers = true)]
    pub source_utc_offset: i32,
    /// CSV field delimiter.
    #[arg(long, default_value = ",")]
    pub delimiter: char,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Files to ingest, together as one batch.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Format {
    Csv,
    Parquet,
    Jsonl,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Unit {
    Fen,
    Yuan,
}

pub fn run(cfg: &Config, a: Args) -> anyhow::Result<()> {
    let dd = a.data_dir.resolve(cfg);
    let table = fact_table(&a.table).with_context(|| {
        format!(
            "unknown table '{}': choose one of {}",
            a.table,
            fact_table_names().join(", ")
        )
    })?;
    anyhow::ensure!(
        a.delimiter.is_ascii(),
        "--delimiter must be a single ASCII character"
    );
    anyhow::ensure!(
        (-14..=14).contains(&a.source_utc_offset),
        "--source-utc-offset must be between -14 and 14"
    );
    let opts = IngestOptions {
        format: a.format.map(|f| match f {
            Format::Csv => InputFormat::Csv,
            Format::Parquet => InputFormat::Parquet,
            Format::Jsonl => InputFormat::Jsonl,
        }),
        amount_unit: match a.amount_unit {
            Unit::Fen => AmountUnit::Fen,
            Unit::Yuan => AmountUnit::Yuan,
        },
        naive_offset_secs: a.source_utc_offset * 3600,
        delimiter: a.delimiter as u8,
    };
    let pb = output::spinner(&format!("ingesting {}", table.name), a.json);
    let summary = zhiying_ingest::ingest_files(&dd, table, &a.files, &opts)?;
    pb.finish_and_clear();
    let rt = super::runtime()?;
    rt.block_on(record_run(cfg, &dd, &summary))?;
    if a.json {
        output::print_json(&summary)?;
    } else {
        print_summary(&summary);
    }
    Ok(())
}

pub fn print_summary(s: &IngestSummary) {
    println!(
        "{:<18} read {:>10}  accepted {:>10}  rejected {:>8}  duplicates {:>8}  ({:.1}s)",
        s.table, s.rows_read, s.accepted, s.rejected, s.duplicates_skipped, s.seconds
    );
    if let Some(q) = &s.quarantine_path {
        for (reason, n) in s.rejections_by_reason.iter().take(8) {
            println!("    {n:>8} × {reason}");
        }
        println!("    quarantine: {}", q.display());
    }
}

/// Records the batch in the operational store's ingest log (idempotent per batch id).
pub async fn record_run(
    cfg: &Config,
    dd: &zhiying_core::DataDir,
    s: &IngestSummary,
) -> anyhow::Result<()> {
    let store = zhiying_store::open(cfg.database_url.as_deref(), dd).await?;
    store
        .record_ingest_run(&crate::commands::ingest::to_run(s))
        .await?;
    Ok(())
}

pub fn to_run(s: &IngestSummary) -> zhiying_store::IngestRun {
    let finished_at = chrono::Utc::now().timestamp_micros();
    zhiying_store::IngestRun {
        batch_id: s.batch_id.clone(),
        table_name: s.table.clone(),
        source_file: s.files.join(","),
        file_hash: s.batch_id.clone(),
        started_at: finished_at - (s.seconds * 1e6) as i64,
        finished_at,
        accepted: s.accepted,
        rejected: s.rejected,
        duplicates_skipped: s.duplicates_skipped,
        quarantine_path: s.quarantine_path.as_ref().map(|p| p.display().to_string()),
    }
}
