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
    after_help = "Examples:\n  zhiying demo                                   # 100k-customer bank, then the console\n  zhiying generate --customers 10000 --months 12 --out bank/\n  zhiying ingest --data-dir data --table transactions bank/transactions.csv --json\n  zhiying quality --data-dir data --json\n  zhiying serve --data-dir data --port 8080"
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
    /// Customer tags (客户画像): build, list, add, retire, history, explain.
    Tags(commands::tags::Args),
    /// Serve the API and the console.
    Serve(commands::serve::Args),
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
    let result = match cli.command {
        Command::Generate(a) => commands::generate::run(&cfg, a),
        Command::Ingest(a) => commands::ingest::run(&cfg, a),
        Command::Quality(a) => commands::quality::run(&cfg, a),
        Command::Identities(a) => commands::identities::run(&cfg, a),
        Command::Pii(a) => commands::pii::run(&cfg, a),
        Command::Tags(a) => commands::tags::run(&cfg, a),
        Command::Serve(a) => commands::serve::run(&cfg, a),
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
