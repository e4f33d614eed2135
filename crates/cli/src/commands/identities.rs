use super::DataDirArg;
use crate::config::Config;
use crate::output;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Records sharing a phone, resident ID, card or e-mail become one party.\nThe links are written to DATA_DIR/derived/customer_links.parquet.\n\nExample:\n  zhiying identities --data-dir data --json"
)]
pub struct Args {
    #[command(flatten)]
    pub data_dir: DataDirArg,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cfg: &Config, a: Args) -> anyhow::Result<()> {
    let dd = a.data_dir.resolve(cfg);
    let s = zhiying_ingest::resolve_identities(&dd)?;
    if a.json {
        output::print_json(&s)
    } else {
        println!(
            "{} customer records → {} parties ({} records merged)",
            s.records, s.parties, s.merged_records
        );
        Ok(())
    }
}
