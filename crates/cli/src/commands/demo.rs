//! `zhiying demo`: the whole pipeline on one machine. Later capabilities plug in as steps.

use anyhow::Context;
use serde::Serialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use zhiying_core::DataDir;
use zhiying_core::schema::FACT_TABLES;
use zhiying_datasets::Dataset;
use zhiying_ingest::{IngestOptions, IngestSummary};
use zhiying_synth::GenerateConfig;

use super::DataDirArg;
use crate::config::Config;
use crate::output;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  zhiying demo                          # 100k customers, then http://127.0.0.1:8080/console\n  zhiying demo --customers 5000 --no-serve --json\n\nRunning it again on the same data directory is safe: ingestion is idempotent."
)]
pub struct Args {
    #[command(flatten)]
    pub data_dir: DataDirArg,
    /// Customers in the synthetic bank.
    #[arg(long, default_value_t = 100_000)]
    pub customers: u64,
    /// Months of history.
    #[arg(long, default_value_t = 12)]
    pub months: u32,
    /// Seed of the synthetic bank.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Stop after the summary instead of serving the console.
    #[arg(long)]
    pub no_serve: bool,
    /// Port for the console (default 8080, or ZHIYING_PORT).
    #[arg(long)]
    pub port: Option<u16>,
    /// Print the summary as JSON (implies no progress bars).
    #[arg(long)]
    pub json: bool,
    /// Do not create a data key: keep the facts and store fields in plaintext (encryption
    /// at rest off, e.g. to measure its cost).
    #[arg(long)]
    pub plaintext: bool,
}

/// Encryption at rest in the demo.
#[derive(Serialize)]
struct DemoEncryption {
    on: bool,
    active_key: Option<String>,
    /// The key file; keep it secret. Other commands on this data directory find it there.
    key_file: Option<PathBuf>,
    message: String,
}

/// Uses the configured data key, or creates `DATA_DIR/keys/data-keys.toml` (mode 0600)
/// with a fresh one, unless `plaintext`.
fn demo_encryption(dd: &DataDir, plaintext: bool) -> anyhow::Result<DemoEncryption> {
    let mut ring = zhiying_keyring::current()?;
    if !ring.enabled() && !plaintext {
        let path = dd.root().join(zhiying_keyring::DATA_DIR_KEY_FILE);
        let mut k = zhiying_keyring::Keyring::generate("k1")?;
        k.write_file(&path)?;
        ring = zhiying_keyring::install(k);
    }
    Ok(DemoEncryption {
        on: ring.enabled(),
        active_key: ring.active_id().map(str::to_string),
        key_file: match ring.source() {
            zhiying_keyring::KeySource::File(p) => Some(p.clone()),
            _ => None,
        },
        message: ring.describe(),
    })
}

#[derive(Serialize)]
struct DemoSummary {
    data_dir: PathBuf,
    synthetic: Vec<IngestSummary>,
    real: Vec<IngestSummary>,
    identities: zhiying_ingest::IdentitySummary,
    quality: zhiying_core::quality::QualityReport,
    encryption: DemoEncryption,
    /// Console logins, with passwords freshly set by this run.
    logins: Vec<DemoLogin>,
    models: zhiying_bankmodels::BankModelsSummary,
    tags: zhiying_profiles::BuildSummary,
    segments: super::segment::RunOut,
    /// Example audiences (人群圈选) saved for the console and campaigns, with their sizes.
    audiences: Vec<super::audience::ExampleAudience>,
    campaign_effects: Vec<zhiying_measure::CampaignEffect>,
    /// The demo's own campaign with a holdout, measured beside the planted truth.
    demo_campaign: super::campaign::DemoCampaign,
    seconds: f64,
}

/// A demo account. The password is reset on every demo run and printed, never stored.
#[derive(Serialize)]
struct DemoLogin {
    username: String,
    role: &'static str,
    password: String,
}

/// Tags the demo segmentation clusters on: value, life stage, activity, digital habit.
const DEMO_SEGMENT_FEATURES: &[&str] = &[
    "age",
    "aum_yuan",
    "txn_count_90d",
    "digital_event_share",
    "product_count",
];

/// admin, a marketer and a compliance officer: enough to see every page and the 403s.
const DEMO_USERS: &[(&str, &str, zhiying_core::domain::Role)] = &[
    ("admin", "Demo admin", zhiying_core::domain::Role::Admin),
    ("marketer", "演示营销", zhiying_core::domain::Role::Marketer),
    (
        "compliance",
        "演示合规",
        zhiying_core::domain::Role::ComplianceOfficer,
    ),
];

/// Creates the demo users if absent, and gives each a new generated password (printed).
async fn demo_logins(
    store: &dyn zhiying_store::OperationalStore,
) -> anyhow::Result<Vec<DemoLogin>> {
    let mut out = Vec::new();
    for (username, display, role) in DEMO_USERS {
        let pw = zhiying_server::auth::password::random_password();
        if store.user(username).await?.is_some() {
            super::users::set_password(store, "demo", username, &pw).await?;
        } else {
            super::users::add_user(store, "demo", username, Some(*display), &[*role], &pw).await?;
        }
        out.push(DemoLogin {
            username: username.to_string(),
            role: role.as_str(),
            password: pw,
        });
    }
    Ok(out)
}

pub fn run(cfg: &Config, a: Args) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let dd = a.data_dir.resolve(cfg);
    std::fs::create_dir_all(dd.root())
        .with_context(|| format!("cannot create data directory {}", dd.root().display()))?;
    let quiet = a.json;
    let say = |s: &str| {
        if !quiet {
            eprintln!("{s}");
        }
    };

    let encryption = demo_encryption(&dd, a.plaintext)?;
    say(&format!("⓪ {}", encryption.message));
    say(&format!(
        "① Generating a synthetic bank: {} customers × {} months (seed {})",
        a.customers, a.months, a.seed
    ));
    let staging = dd.root().join("staging").join(format!(
        "synthetic-{}x{}-s{}",
        a.customers, a.months, a.seed
    ));
    let gen_cfg = GenerateConfig {
        customers: a.customers,
        months: a.months,
        seed: a.seed,
        out: staging.clone(),
        dirty_share: 0.001,
        ..GenerateConfig::default()
    };
    if staging.join("ground_truth.json").exists() {
        say("   already generated: reusing it (generation is deterministic)");
    } else {
        super::generate::generate_with_bar(&gen_cfg, quiet)?;
    }

    say("② Ingesting the synthetic bank (validation, quarantine, deduplication)");
    let opts = IngestOptions::default();
    let mut synthetic = Vec::new();
    for table in FACT_TABLES {
        let file = staging.join(format!("{}.csv", table.name));
        if file.exists() {
            synthetic.push(ingest_one(&dd, table.name, &file, &opts, quiet)?);
        }
    }

    say("③ Ingesting the real datasets through the same pipeline");
    let mut real = Vec::new();
    for ds in Dataset::all() {
        let Some(input) = zhiying_datasets::locate(ds) else {
            say(&format!(
                "   {} not found: set ZHIYING_DATASETS_DIR to the folder with {}",
                ds.name(),
                ds.file_name()
            ));
            continue;
        };
        let out = dd.root().join("staging").join("real").join(ds.name());
        let converted = zhiying_datasets::convert(ds, &input, &out)
            .with_context(|| format!("converting {} from {}", ds.name(), input.display()))?;
        for t in converted {
            real.push(ingest_one(&dd, t.table, &t.path, &opts, quiet)?);
        }
    }

    say("④ Resolving identities across channels");
    let identities = zhiying_ingest::resolve_identities(&dd)?;
    say("⑤ Data-quality report");
    let quality = zhiying_ingest::quality_report(&dd)?;
    say("⑥ Training the bank's models: churn, product propensity, transaction anomaly");
    let bank_args = super::model::BankArgs {
        data_dir: a.data_dir.clone(),
        only: Vec::new(),
        as_of: None,
        no_reasons: false,
        seed: a.seed,
        author: None,
        json: false,
    };
    let models = super::model::train_bank_models(cfg, &dd, &bank_args, quiet)?.summary;
    if !quiet {
        super::model::print_bank_summary(&models);
    }
    say("⑦ Building customer tags (客户画像), model scores included");
    let tags = super::tags::build_tags(&dd, None, quiet)?;
    say("⑧ Customer segments (客户分群): k-means on tags, each cluster saved as an audience");
    let seg_args = super::segment::RunArgs {
        data_dir: a.data_dir.clone(),
        features: DEMO_SEGMENT_FEATURES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        name: "演示分群".into(),
        k: None,
        k_min: 3,
        k_max: 6,
        seed: a.seed,
        no_save: false,
        by: "demo".into(),
        json: false,
    };
    let segments = super::segment::segment_and_save(cfg, &dd, &seg_args, quiet)?;
    if !quiet {
        super::segment::print_run(&segments);
    }

    say("⑨ Example audiences (人群圈选), saved for the console and campaigns");
    let audiences = super::audience::save_examples(cfg, &dd, "demo")?;
    if !quiet {
        super::audience::print_examples(&audiences);
    }

    say(
        "⑩ A campaign with a holdout (营销活动): made, approved by a second user, run, responses simulated from the planted truth",
    );
    let demo_campaign = super::campaign::demo_campaign(cfg, &dd)?;
    if !quiet {
        super::campaign::print_demo_campaign(&demo_campaign);
    }

    say("⑪ Measuring the campaigns against their holdouts (营销效果评估)");
    let effects = super::measure::campaign_effects(&dd, 0.05)?;
    if !quiet {
        super::measure::print_effects(&effects);
    }

    let rt = super::runtime()?;
    say("⑫ Console accounts");
    let logins = rt.block_on(async {
        for s in synthetic.iter().chain(&real) {
            super::ingest::record_run(cfg, &dd, s).await?;
        }
        let store = zhiying_store::open(cfg.database_url.as_deref(), &dd).await?;
        let logins = demo_logins(store.as_ref()).await;
        store.close().await;
        logins
    })?;

    let summary = DemoSummary {
        data_dir: dd.root().to_path_buf(),
        synthetic,
        real,
        identities,
        quality,
        encryption,
        logins,
        models,
        tags,
        segments,
        audiences,
        campaign_effects: effects,
        demo_campaign,
        seconds: started.elapsed().as_secs_f64(),
    };
    if a.json {
        output::print_json(&summary)?;
    } else {
        print_summary(&summary);
    }
    if a.no_serve {
        return Ok(());
    }
    let addr = SocketAddr::from(([127, 0, 0, 1], a.port.unwrap_or(cfg.default_port)));
    eprintln!("\nConsole: http://{addr}/console   (Ctrl-C to stop)");
    rt.block_on(super::serve::serve(
        cfg,
        dd,
        addr,
        false,
        None,
        zhiying_server::limits::Limits::default(),
    ))
}

fn ingest_one(
    dd: &DataDir,
    table: &str,
    file: &Path,
    opts: &IngestOptions,
    quiet: bool,
) -> anyhow::Result<IngestSummary> {
    let def = zhiying_core::schema::fact_table(table)
        .with_context(|| format!("unknown table {table}"))?;
    let pb = output::spinner(&format!("{table} ← {}", file.display()), quiet);
    let s = zhiying_ingest::ingest_files(dd, def, &[file.to_path_buf()], opts)?;
    pb.finish_and_clear();
    if !quiet {
        super::ingest::print_summary(&s);
    }
    Ok(s)
}

fn print_summary(s: &DemoSummary) {
    println!("\n═══ Zhiying demo summary ═══");
    println!("Data directory: {}", s.data_dir.display());
    let sum = |v: &[IngestSummary], f: fn(&IngestSummary) -> u64| v.iter().map(f).sum::<u64>();
    for (name, v) in [("synthetic bank", &s.synthetic), ("real datasets", &s.real)] {
        println!(
            "{name:<15} accepted {:>10}  rejected {:>7}  duplicates {:>7}",
            sum(v, |x| x.accepted),
            sum(v, |x| x.rejected),
            sum(v, |x| x.duplicates_skipped)
        );
    }
    println!(
        "Identity resolution: {} records → {} parties ({} merged)",
        s.identities.records, s.identities.parties, s.identities.merged_records
    );
    println!(
        "Customer tags: {} tags for {} customers (as of {}) in {:.1}s → {}",
        s.tags.tags,
        s.tags.customers,
        s.tags.as_of,
        s.tags.seconds,
        s.tags.parquet.display()
    );
    match &s.encryption.key_file {
        Some(p) if s.encryption.on => println!(
            "Encryption at rest: on, key '{}' in {} (keep it secret; `zhiying keys status`)",
            s.encryption.active_key.as_deref().unwrap_or("?"),
            p.display()
        ),
        _ => println!("{}", s.encryption.message),
    }
    println!();
    super::quality::print_report(&s.quality);
    println!(
        "\nConsole logins (passwords are new on every demo run; change them with `zhiying user passwd`):"
    );
    for l in &s.logins {
        println!(
            "  {:<12} {:<20} password: {}",
            l.username, l.role, l.password
        );
    }
    println!("\nDone in {:.1}s.", s.seconds);
}
