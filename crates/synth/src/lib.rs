//! A deterministic synthetic retail bank with planted ground truth (brief §5).
//!
//! [`generate`] writes one file per canonical fact table (except `applicants`, which comes
//! from the German credit dataset) plus `ground_truth.json` and `truth_customers.csv`, the
//! answers later models are checked against. See `docs/synthetic-bank.md` for every planted
//! effect and its size.
//!
//! Persons are generated independently from RNGs seeded by (seed, person index), in chunks
//! of [`CHUNK`] persons by two worker threads; the main thread writes chunks in order, so the
//! output is byte-identical for a seed whatever the timing, and memory stays bounded.

mod catalog;
pub mod ids;
mod model;
mod person;
mod sink;
mod stats;

use chrono::NaiveDate;
use person::{Out, TABLES, World};
use sink::{TableBuf, TableWriter};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;
use zhiying_core::time::days_from_civil;

pub use stats::DIRTY_KINDS;

/// Persons per chunk: the unit of work, of progress reports and of Parquet record batches.
pub const CHUNK: u64 = 2048;
/// File name of the ground-truth summary.
pub const GROUND_TRUTH_FILE: &str = "ground_truth.json";
/// File name of the per-customer truth.
pub const TRUTH_CUSTOMERS_FILE: &str = "truth_customers.csv";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    #[default]
    Csv,
    Parquet,
}

#[derive(Debug, Clone)]
pub struct GenerateConfig {
    /// Persons to generate (about 2% also get a second record in the card system).
    pub customers: u64,
    /// Months of history ending with `end_date`'s month.
    pub months: u32,
    pub seed: u64,
    /// Output folder; created if missing.
    pub out: PathBuf,
    pub format: OutputFormat,
    /// Last day of history.
    pub end_date: NaiveDate,
    /// Share of transaction rows deliberately corrupted in CSV output (0 = clean).
    pub dirty_share: f64,
}

impl Default for GenerateConfig {
    fn default() -> Self {
        GenerateConfig {
            customers: 10_000,
            months: 12,
            seed: 42,
            out: PathBuf::from("synthetic-bank"),
            format: OutputFormat::Csv,
            end_date: NaiveDate::from_ymd_opt(2026, 10, 31).unwrap_or_default(),
            dirty_share: 0.0,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub customers_done: u64,
    pub customers_total: u64,
    pub rows_written: u64,
}

#[derive(Debug, Clone)]
pub struct GenerateSummary {
    /// Rows written per table (dirty duplicate rows included).
    pub rows: BTreeMap<String, u64>,
    /// The table files, in catalogue order.
    pub files: Vec<PathBuf>,
    pub ground_truth: PathBuf,
    pub seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("invalid generate configuration: {0}")]
    Config(String),
    #[error(
        "cannot write {path}: {source} (check the folder exists, is writable and the disk is not full)"
    )]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write Parquet file {path}: {source}")]
    Parquet {
        path: PathBuf,
        source: parquet::errors::ParquetError,
    },
    #[error("cannot build an Arrow batch for {path}: {source}")]
    Arrow {
        path: PathBuf,
        source: arrow::error::ArrowError,
    },
    #[error(
        "a generator thread stopped unexpectedly; this is a bug, please report it with the seed and sizes"
    )]
    Worker,
}

impl SynthError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        SynthError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
    fn parquet(path: &Path, source: parquet::errors::ParquetError) -> Self {
        SynthError::Parquet {
            path: path.to_path_buf(),
            source,
        }
    }
}

fn validate(cfg: &GenerateConfig) -> Result<(), SynthError> {
    if cfg.customers == 0 || cfg.customers > 99_999_999 {
        return Err(SynthError::Config(format!(
            "customers = {}: use between 1 and 99,999,999 (ids have 8 digits)",
            cfg.customers
        )));
    }
    if !(1..=120).contains(&cfg.months) {
        return Err(SynthError::Config(format!(
            "months = {}: use between 1 and 120",
            cfg.months
        )));
    }
    if !(0.0..0.5).contains(&cfg.dirty_share) {
        return Err(SynthError::Config(format!(
            "dirty_share = {}: use a share in [0, 0.5)",
            cfg.dirty_share
        )));
    }
    Ok(())
}

fn generate_chunk(w: &World, chunk: u64, total: u64, mut o: Out) -> Out {
    o.reset();
    let lo = chunk * CHUNK;
    let hi = (lo + CHUNK).min(total);
    for idx in lo..hi {
        person::person(w, idx, &mut o);
    }
    o
}

/// Writes products, offers, campaigns and the experiment: the bank-wide tables.
fn static_tables(w: &World, csv: bool) -> [TableBuf; 4] {
    use catalog::*;
    let mut products = TableBuf::new(&zhiying_core::schema::PRODUCTS, csv);
    for p in PRODUCTS {
        products.s(p.id);
        products.s(p.name_zh);
        products.s(p.name_en);
        products.s(p.category);
        products.s(zhiying_core::schema::PRODUCT_RISK_LEVELS[p.risk as usize - 1]);
        products.i(p.min_yuan * 100);
        products.opt_i(p.rate_bp);
        products.date(days_from_civil(p.launch.0, p.launch.1, p.launch.2));
        products.end();
    }
    let mut offers = TableBuf::new(&zhiying_core::schema::OFFERS, csv);
    for (i, o) in OFFERS.iter().enumerate() {
        let (from, to) = match CAMPAIGNS.iter().position(|c| c.offer == i) {
            Some(c) => (w.campaigns[c].0 - 7, Some(w.campaigns[c].1 + 30)),
            None => (w.start_day, None),
        };
        offers.s(o.id);
        offers.s(o.product);
        offers.s(o.name);
        offers.i(o.value_yuan * 100);
        offers.i(o.cost_fen);
        offers.date(from);
        offers.opt_date(to);
        offers.end();
    }
    let mut campaigns = TableBuf::new(&zhiying_core::schema::CAMPAIGNS, csv);
    for (c, spec) in CAMPAIGNS.iter().enumerate() {
        let (s, e) = w.campaigns[c];
        campaigns.s(spec.id);
        campaigns.s(spec.name);
        campaigns.s(OFFERS[spec.offer].id);
        campaigns.s(spec.main_channel);
        campaigns.date(s);
        campaigns.date(e);
        campaigns.s(if e < w.end_day {
            "completed"
        } else {
            "running"
        });
        campaigns.i(spec.budget_yuan * 100);
        campaigns.f(HOLDOUT_SHARE);
        campaigns.end();
    }
    let mut experiments = TableBuf::new(&zhiying_core::schema::EXPERIMENTS, csv);
    experiments.s(EXPERIMENT_ID);
    experiments.s(EXPERIMENT_NAME);
    experiments.s(&EXPERIMENT_ARMS.join("|"));
    experiments.s(EXPERIMENT_ARMS[0]);
    experiments.date(w.experiment.0);
    experiments.date(w.experiment.1);
    experiments.end();
    [products, offers, campaigns, experiments]
}

/// Generates the bank into `cfg.out`. `progress` is called after every chunk.
pub fn generate(
    cfg: &GenerateConfig,
    progress: &mut dyn FnMut(&Progress),
) -> Result<GenerateSummary, SynthError> {
    validate(cfg)?;
    let started = Instant::now();
    std::fs::create_dir_all(&cfg.out).map_err(|e| SynthError::io(&cfg.out, e))?;
    let csv = cfg.format == OutputFormat::Csv;
    let world = World::new(
        cfg.seed,
        cfg.months,
        cfg.end_date,
        csv,
        if csv { cfg.dirty_share } else { 0.0 },
    );

    // A stale ground truth would mark a half-written folder as complete: remove it first.
    let gt_path = cfg.out.join(GROUND_TRUTH_FILE);
    if gt_path.exists() {
        std::fs::remove_file(&gt_path).map_err(|e| SynthError::io(&gt_path, e))?;
    }
    let mut writers = TABLES
        .iter()
        .map(|t| TableWriter::create(&cfg.out, t, csv))
        .collect::<Result<Vec<_>, _>>()?;
    let truth_path = cfg.out.join(TRUTH_CUSTOMERS_FILE);
    let truth_file =
        std::fs::File::create(&truth_path).map_err(|e| SynthError::io(&truth_path, e))?;
    let mut truth = std::io::BufWriter::with_capacity(1 << 20, truth_file);
    truth
        .write_all(person::truth_header().as_bytes())
        .map_err(|e| SynthError::io(&truth_path, e))?;

    for mut buf in static_tables(&world, csv) {
        let i = TABLES
            .iter()
            .position(|t| t.name == buf.table.name)
            .unwrap_or(0);
        writers[i].write(&mut buf)?;
    }

    let total = cfg.customers;
    let n_chunks = total.div_ceil(CHUNK);
    let workers = if n_chunks > 1 { 2u64 } else { 1 };
    let mut stats = stats::Stats::default();
    let mut rows_written: u64 = writers.iter().map(|w| w.rows).sum();
    let world_ref = &world;
    std::thread::scope(|scope| -> Result<(), SynthError> {
        // Each worker sends finished chunks on a channel of capacity 1 and gets emptied
        // buffers back for reuse, so at most three chunks per worker exist at any time.
        let mut receivers = Vec::new();
        let mut recyclers = Vec::new();
        for wi in 0..workers {
            let (tx, rx) = mpsc::sync_channel::<Out>(1);
            let (back_tx, back_rx) = mpsc::channel::<Out>();
            receivers.push(rx);
            recyclers.push(back_tx);
            scope.spawn(move || {
                let mut c = wi;
                while c < n_chunks {
                    let buf = back_rx
                        .try_recv()
                        .unwrap_or_else(|_| Out::new(world_ref.csv));
                    if tx.send(generate_chunk(world_ref, c, total, buf)).is_err() {
                        break; // the writer stopped (an error); stop too
                    }
                    c += workers;
                }
            });
        }
        for c in 0..n_chunks {
            let w = (c % workers) as usize;
            let mut out = receivers[w].recv().map_err(|_| SynthError::Worker)?;
            for (i, buf) in out.t.iter_mut().enumerate() {
                rows_written += buf.rows;
                writers[i].write(buf)?;
            }
            truth
                .write_all(&out.truth)
                .map_err(|e| SynthError::io(&truth_path, e))?;
            stats.merge(&out.stats);
            // The worker may have finished already; then the buffer is simply dropped.
            let _ = recyclers[w].send(out);
            progress(&Progress {
                customers_done: ((c + 1) * CHUNK).min(total),
                customers_total: total,
                rows_written,
            });
        }
        Ok(())
    })?;
    for w in writers.iter_mut() {
        w.finish()?;
    }
    truth.flush().map_err(|e| SynthError::io(&truth_path, e))?;

    let rows: BTreeMap<String, u64> = TABLES
        .iter()
        .zip(&writers)
        .map(|(t, w)| (t.name.to_string(), w.rows))
        .collect();
    let gt = ground_truth(cfg, &world, &stats, &rows);
    let text = serde_json::to_string_pretty(&gt).unwrap_or_default();
    std::fs::write(&gt_path, text + "\n").map_err(|e| SynthError::io(&gt_path, e))?;
    Ok(GenerateSummary {
        rows,
        files: writers.iter().map(|w| w.path.clone()).collect(),
        ground_truth: gt_path,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn ground_truth(
    cfg: &GenerateConfig,
    w: &World,
    s: &stats::Stats,
    rows: &BTreeMap<String, u64>,
) -> serde_json::Value {
    use catalog::*;
    use serde_json::json;
    let fmt = zhiying_core::time::format_date;
    let rate = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let campaigns: Vec<_> = CAMPAIGNS
        .iter()
        .enumerate()
        .map(|(c, spec)| {
            let g = &s.campaigns[c];
            let group = |k: usize| {
                json!({
                    "customers": g[k].n, "conversions": g[k].conversions, "opens": g[k].opens,
                    "conversion_rate": rate(g[k].conversions, g[k].n),
                    "mean_true_uplift": if g[k].n == 0 { 0.0 } else { g[k].uplift_sum / g[k].n as f64 },
                })
            };
            let ctrl_n = g[1].n + g[2].n;
            json!({
                "campaign_id": spec.id, "name": spec.name, "offer_id": OFFERS[spec.offer].id,
                "channels": spec.channels, "start_date": fmt(w.campaigns[c].0), "end_date": fmt(w.campaigns[c].1),
                "treatment": group(0), "control": group(1), "holdout": group(2),
                "observed_uplift_treatment_minus_control_and_holdout":
                    rate(g[0].conversions, g[0].n) - rate(g[1].conversions + g[2].conversions, ctrl_n),
            })
        })
        .collect();
    let arms: Vec<_> = (0..3)
        .map(|a| {
            json!({
                "arm": EXPERIMENT_ARMS[a], "planted_click_rate": EXPERIMENT_CLICK[a],
                "assigned": s.experiment[a][0], "clicked": s.experiment[a][1],
                "observed_click_rate": rate(s.experiment[a][1], s.experiment[a][0]),
            })
        })
        .collect();
    let dirty: serde_json::Map<String, serde_json::Value> = DIRTY_KINDS
        .iter()
        .zip(s.dirty)
        .map(|(k, n)| (k.to_string(), json!(n)))
        .collect();
    json!({
        "generator": "zhiying-synth",
        "version": env!("CARGO_PKG_VERSION"),
        "config": {
            "customers": cfg.customers, "months": cfg.months, "seed": cfg.seed,
            "format": if w.csv { "csv" } else { "parquet" },
            "history_start": fmt(w.start_day), "end_date": fmt(w.end_day), "dirty_share": w.dirty_share,
        },
        "rows": rows,
        "persons": s.persons,
        "churn": {
            "churned": s.churned, "churn_rate": rate(s.churned, s.persons),
            "mean_churn_probability": if s.persons == 0 { 0.0 } else { s.churn_probability_sum / s.persons as f64 },
            "window": "churn month drawn uniformly from the second half of the history (needs months >= 2); activity stops from its first day",
            "decline_months": 3,
            "symptoms": {
                "competitor_transfer_per_decline_month": "1 + Bernoulli(0.5), each 35-60% of the current (or savings) balance; non-churners: Bernoulli(0.015) per month of 5-20%",
                "purchases_multiplier_in_decline": 0.5, "events_multiplier_in_decline": 0.6,
                "complaints_per_month": "0.01 + 0.08*[service_issue] + 0.5*[decline month]",
                "service_calls_per_month": "0.04 + 0.15*[decline month]",
                "salary_stops_in_last_decline_month_probability": 0.5,
                "accounts_after_churn": "current/savings closed (0.4) or dormant; credit card dormant plus a card_dormant event",
            },
            "service_issue_customers": s.service_issue,
        },
        "identity": {
            "duplicate_share": person::DUPLICATE_SHARE,
            "pairs": s.pairs_phone_and_rid + s.pairs_phone_only,
            "pairs_sharing_phone_and_resident_id": s.pairs_phone_and_rid,
            "pairs_sharing_phone_only": s.pairs_phone_only,
            "note": "card-system records K######## share name, phone and (usually) resident ID with the core record C########; see truth_customers.csv duplicate_customer_id",
        },
        "pii": {
            "share_per_row": person::PII_SHARE,
            "transactions_with_pii_description": s.pii_txn_rows, "transactions": s.txn_rows,
            "events_with_pii_detail": s.pii_event_rows, "events": s.event_rows,
            "kinds": ["names", "mobile numbers", "resident IDs"],
        },
        "dirty_rows": dirty,
        "campaigns": campaigns,
        "experiment": {"experiment_id": EXPERIMENT_ID, "start_date": fmt(w.experiment.0), "end_date": fmt(w.experiment.1), "arms": arms},
        "formulas": model::formulas(),
        "truth_files": {"per_customer": TRUTH_CUSTOMERS_FILE},
    })
}
