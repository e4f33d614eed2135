use anyhow::Context;
use serde::Serialize;
use std::path::PathBuf;
use zhiying_pii::{Finding, PiiKind};

use crate::config::Config;
use crate::output;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Finds resident IDs (GB 11643 check digit), mobile and landline numbers, bank cards (Luhn),\n\
e-mail and IP addresses, passports and HK/Macau permits, names and addresses in Chinese text.\n\
Matched values are never printed: findings carry spans, types and confidence, and a masked preview.\n\n\
Examples:\n  zhiying pii scan chat-transcripts.txt\n  zhiying pii scan --json notes/*.txt | jq '.files[].findings | length'"
)]
pub struct Args {
    #[command(subcommand)]
    pub command: PiiCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum PiiCommand {
    /// Scan text files for personal information.
    Scan {
        /// Print findings as JSON.
        #[arg(long)]
        json: bool,
        /// Files to scan (UTF-8 text).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

#[derive(Serialize)]
struct FileReport {
    file: PathBuf,
    bytes: u64,
    findings: Vec<Reported>,
}

#[derive(Serialize)]
struct Reported {
    kind: PiiKind,
    start: usize,
    end: usize,
    line: usize,
    confidence: f32,
    masked: String,
}

#[derive(Serialize)]
struct ScanReport {
    files: Vec<FileReport>,
    findings: usize,
    by_kind: std::collections::BTreeMap<String, usize>,
    bytes: u64,
    seconds: f64,
    mb_per_second: f64,
}

pub fn run(_cfg: &Config, a: Args) -> anyhow::Result<()> {
    let PiiCommand::Scan { json, files } = a.command;
    let mut report = ScanReport {
        files: Vec::new(),
        findings: 0,
        by_kind: Default::default(),
        bytes: 0,
        seconds: 0.0,
        mb_per_second: 0.0,
    };
    for file in files {
        let text = std::fs::read_to_string(&file).with_context(|| {
            format!(
                "cannot read {} as UTF-8 text: convert it (e.g. iconv -f GBK -t UTF-8) and retry",
                file.display()
            )
        })?;
        let started = std::time::Instant::now();
        let found: Vec<Finding> = zhiying_pii::scan(&text);
        report.seconds += started.elapsed().as_secs_f64();
        report.bytes += text.len() as u64;
        let findings = found
            .iter()
            .map(|f| Reported {
                kind: f.kind,
                start: f.start,
                end: f.end,
                line: 1 + text[..f.start].bytes().filter(|&b| b == b'\n').count(),
                confidence: f.confidence,
                masked: zhiying_pii::mask(&text[f.start..f.end], f.kind),
            })
            .collect::<Vec<_>>();
        for f in &findings {
            *report.by_kind.entry(f.kind.code().to_string()).or_default() += 1;
        }
        report.findings += findings.len();
        report.files.push(FileReport {
            file,
            bytes: text.len() as u64,
            findings,
        });
    }
    report.mb_per_second = if report.seconds > 0.0 {
        report.bytes as f64 / 1e6 / report.seconds
    } else {
        0.0
    };
    if json {
        return output::print_json(&report);
    }
    for f in &report.files {
        for r in &f.findings {
            println!(
                "{}:{}: {:<16} {:>5.2}  {}  (bytes {}..{})",
                f.file.display(),
                r.line,
                r.kind.code(),
                r.confidence,
                r.masked,
                r.start,
                r.end
            );
        }
    }
    println!(
        "{} findings in {} bytes ({:.1} MB/s); by kind: {:?}",
        report.findings, report.bytes, report.mb_per_second, report.by_kind
    );
    Ok(())
}
