//! `zhiying`: the one binary. Each subcommand is glue over a capability crate.

mod commands;
mod config;
mod output;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "zhiying",
    version,
    about = "智营 Zhiying — intelligent marketing for retail banks, in one binary",
    long_about = "Zhiying turns a bank's customer, account, transaction and channel data into profiles, \
audiences, model scores and measured campaigns, with compliance at every decision.\n\n\
Start with `zhiying demo`: it generates a synthetic bank, ingests it with the real public \
datasets, and serves the console at http://127.0.0.1:8080/console.",
    after_help = "Examples:\n  zhiying demo                                   # 100k-customer bank, then the console\n  zhiying generate --customers 10000 --months 12 --out bank/\n  zhiying ingest --data-dir data --table transactions bank/transactions.csv --json\n  zhiying quality --data-dir data --json\n  zhiying model cv --csv datasets/bank-full.csv.gz --target y --exclude duration\n  zhiying audience count --data-dir data --expr 'aum_tier = \"high\" and did(\"app_login\", 30d)'\n  zhiying serve --data-dir data --port 8080\n  zhiying user add --username alice --role marketer\n  zhiying audit verify\n  zhiying compliance check-copy --text '保本保收益'"
)]
struct Cli {
    #[command(flatten)]
    global: config::GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a deterministic synthetic bank with planted ground truth.
    Generate(commands::generate::Args),
    /// Validate, clean and load files into a canonical table; bad rows go to quarantine.
    Ingest(commands::ingest::Args),
    /// Compute and print the data-quality report (completeness, validity, timeliness).
    Quality(commands::quality::Args),
    /// Link customer records of the same person across channels (phone, resident ID, card, e-mail).
    Identities(commands::identities::Args),
    /// Find personal information (resident IDs, phones, cards, names, …) in text files.
    Pii(commands::pii::Args),
    /// Train and cross-validate models on tabular files (boosted trees, scorecards).
    Model(commands::model::Args),
    /// Credit scorecards: WOE/IV binning, logistic regression on WOE, points and reason codes.
    Scorecard(commands::scorecard::Args),
    /// Customer lifetime value: fit BG/NBD, Pareto/NBD and Gamma-Gamma; predict CLV.
    Clv(commands::clv::Args),
    /// Audiences (人群圈选): count, sample, save, snapshot, export and overlap tag expressions.
    Audience(commands::audience::Args),
    /// Channel attribution over contact paths: rule-based, Markov removal effect, Shapley.
    Attribution(commands::attribution::Args),
    /// Campaign planning: the cross-campaign offer optimiser with its LP bound.
    Campaign(commands::campaign::Args),
    /// Experiments: analyse any CSV (lifts, CIs, SRM, Bayesian, sequential, CUPED) and size tests.
    Experiment(commands::experiment::Args),
    /// Campaign measurement: KPIs, and each campaign's effect against its holdout.
    Measure(commands::measure::Args),
    /// Customer segments (客户分群): k-means on tags, described in business terms, saved as audiences.
    Segment(commands::segment::Args),
    /// Reports that leave the bank: differentially private counts, sums and means.
    Report(commands::report::Args),
    /// Customer tags (客户画像): build, list, add, retire, history, explain.
    Tags(commands::tags::Args),
    /// Uplift modelling: who is persuadable (T/X-learners, class transformation; Qini, AUUC).
    Uplift(commands::uplift::Args),
    /// Serve the API and the console.
    Serve(commands::serve::Args),
    /// Create, list, disable users and reset passwords (console and API accounts).
    User(commands::users::UserArgs),
    /// Create, list and revoke API tokens (scoped, expiring, stored hashed).
    Token(commands::users::TokenArgs),
    /// Verify the tamper-evident audit log, or sign its head.
    Audit(commands::audit::Args),
    /// Encryption at rest: key status, rotation (re-encrypts everything), retiring old keys.
    Keys(commands::keys::Args),
    /// Marketing-copy checker and other compliance tools.
    Compliance(commands::compliance::Args),
    /// Generate a bank, ingest it with the real datasets, print a summary and serve the console.
    Demo(commands::demo::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let cfg = match config::Config::load(&cli.global) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    config::init_tracing(&cfg);
    zhiying_keyring::use_key_file(cli.global.key_file.clone());
    let result = match cli.command {
        Command::Generate(a) => commands::generate::run(&cfg, a),
        Command::Ingest(a) => commands::ingest::run(&cfg, a),
        Command::Quality(a) => commands::quality::run(&cfg, a),
        Command::Identities(a) => commands::identities::run(&cfg, a),
        Command::Pii(a) => commands::pii::run(&cfg, a),
        Command::Model(a) => commands::model::run(&cfg, a),
        Command::Scorecard(a) => commands::scorecard::run(&cfg, a),
        Command::Clv(a) => commands::clv::run(&cfg, a),
        Command::Audience(a) => commands::audience::run(&cfg, a),
        Command::Attribution(a) => commands::attribution::run(&cfg, a),
        Command::Campaign(a) => commands::campaign::run(&cfg, a),
        Command::Experiment(a) => commands::experiment::run(&cfg, a),
        Command::Measure(a) => commands::measure::run(&cfg, a),
        Command::Report(a) => commands::report::run(&cfg, a),
        Command::Segment(a) => commands::segment::run(&cfg, a),
        Command::Tags(a) => commands::tags::run(&cfg, a),
        Command::Uplift(a) => commands::uplift::run(&cfg, a),
        Command::Serve(a) => commands::serve::run(&cfg, a),
        Command::User(a) => commands::users::run_user(&cfg, a),
        Command::Token(a) => commands::users::run_token(&cfg, a),
        Command::Audit(a) => commands::audit::run(&cfg, a),
        Command::Keys(a) => commands::keys::run(&cfg, a),
        Command::Compliance(a) => commands::compliance::run(&cfg, a),
        Command::Demo(a) => commands::demo::run(&cfg, a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
