//! `zhiying compliance check-copy`: the marketing-copy checker.

use std::path::PathBuf;

use anyhow::{Context, bail};

use crate::config::Config;
use crate::output;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Finds prohibited claims (保本, 零风险, 稳赚, guaranteed returns), absolute terms (最高, 最佳, 第一),\n\
misleading comparisons with deposits, missing risk disclosures (理财非存款、产品有风险、投资须谨慎) and\n\
regulator impersonation. Exits with status 1 when a high or critical violation blocks approval.\n\
The rules are listed in docs/compliance.md.\n\n\
Examples:\n  zhiying compliance check-copy --text '本理财产品保本保收益，年化最高4.5%'\n  \
zhiying compliance check-copy --file sms-campaign.txt --json\n  zhiying compliance rules"
)]
pub struct Args {
    #[command(subcommand)]
    pub command: ComplianceCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum ComplianceCommand {
    /// Check marketing copy for prohibited and misleading content.
    CheckCopy {
        /// The copy to check.
        #[arg(long, conflicts_with = "file", required_unless_present = "file")]
        text: Option<String>,
        /// A UTF-8 file holding the copy.
        #[arg(long)]
        file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// List the rules.
    Rules {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(_cfg: &Config, a: Args) -> anyhow::Result<()> {
    let checker = zhiying_compliance::builtin().map_err(|e| anyhow::anyhow!("{e}"))?;
    match a.command {
        ComplianceCommand::Rules { json } => {
            let rules = checker.rules();
            if json {
                output::print_json(&rules)?;
            } else {
                for r in rules {
                    println!(
                        "{:<26} {:<9} {} / {}",
                        r.id,
                        r.severity.as_str(),
                        r.title_zh,
                        r.title_en
                    );
                }
            }
        }
        ComplianceCommand::CheckCopy { text, file, json } => {
            let text = match (text, file) {
                (Some(t), _) => t,
                (None, Some(f)) => std::fs::read_to_string(&f)
                    .with_context(|| format!("cannot read {} as UTF-8 text", f.display()))?,
                (None, None) => bail!("give --text TEXT or --file FILE"),
            };
            let r = checker.check(&text);
            if json {
                output::print_json(&r)?;
            } else if r.violations.is_empty() {
                println!(
                    "No violations ({} rules checked, {} characters).",
                    r.rules_checked, r.chars
                );
            } else {
                for v in &r.violations {
                    println!(
                        "[{}] {} ({}) at chars {}..{}: 「{}」",
                        v.severity.as_str(),
                        v.rule_id,
                        v.title_zh,
                        v.char_start,
                        v.char_end,
                        v.matched
                    );
                    println!("    {}", v.message_zh);
                    println!("    {}", v.message_en);
                    println!("    建议 fix: {}", v.fix_zh);
                    println!("             {}", v.fix_en);
                }
                println!(
                    "{} violation(s); {}",
                    r.violations.len(),
                    if r.blocking {
                        "BLOCKING: this copy cannot be approved as is"
                    } else {
                        "warnings only"
                    }
                );
            }
            if r.blocking {
                std::process::exit(1);
            }
        }
    }
    Ok(())
}
