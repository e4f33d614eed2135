//! `zhiying segment run`: cluster customers on numeric tags, describe each cluster in
//! business terms and save every cluster as an audience.

use anyhow::Context;
use serde::Serialize;
use zhiying_segment::ClusterOptions;

use super::DataDirArg;
use crate::config::Config;
use crate::output;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: SegmentCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum SegmentCommand {
    /// Cluster customers (k-means, k chosen by silhouette) on numeric tags and save each
    /// cluster as an audience.
    #[command(
        after_help = "Features are standardised; missing values take the column mean. Each cluster is described by \
the features that differ most from the population (\"高资产、年长、少交易\"). The clusters are written to \
DIR/derived/segments.parquet, tags are rebuilt so the tag `segment` holds c1 (largest) … ck, and each cluster is \
saved as the audience `NAME c1: description` with the expression segment = \"c1\".\n\n\
Examples:\n  zhiying segment run --features aum_total,age,txn_count_90d,digital_share\n  \
zhiying segment run --name 价值分群 --features aum_total,txn_amount_90d --k 4 --json\n  \
zhiying segment run --features age,income,churn_score --k-min 3 --k-max 6 --no-save"
    )]
    Run(RunArgs),
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub data_dir: DataDirArg,
    /// Numeric tags to cluster on (comma-separated).
    #[arg(long, value_delimiter = ',', required = true)]
    pub features: Vec<String>,
    /// Name of the segmentation (prefix of the saved audiences).
    #[arg(long, default_value = "segment")]
    pub name: String,
    /// Force k (otherwise chosen by silhouette between --k-min and --k-max).
    #[arg(long)]
    pub k: Option<usize>,
    #[arg(long, default_value_t = 2)]
    pub k_min: usize,
    #[arg(long, default_value_t = 8)]
    pub k_max: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Don't save the clusters as audiences.
    #[arg(long)]
    pub no_save: bool,
    /// Who saves the audiences.
    #[arg(long, default_value = "cli")]
    pub by: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
pub struct RunOut {
    segmentation: zhiying_audience::segments::Segmentation,
    saved_audiences: Vec<zhiying_store::SavedAudience>,
    seconds: f64,
}

pub fn run(cfg: &Config, a: Args) -> anyhow::Result<()> {
    match a.command {
        SegmentCommand::Run(a) => run_segmentation(cfg, a),
    }
}

fn run_segmentation(cfg: &Config, a: RunArgs) -> anyhow::Result<()> {
    let dd = a.data_dir.resolve(cfg);
    let out = segment_and_save(cfg, &dd, &a, a.json)?;
    if a.json {
        return output::print_json(&out);
    }
    print_run(&out);
    Ok(())
}

/// Clusters, rebuilds the tags and saves the clusters as audiences (also used by the demo).
pub fn segment_and_save(
    cfg: &Config,
    dd: &zhiying_core::DataDir,
    a: &RunArgs,
    quiet: bool,
) -> anyhow::Result<RunOut> {
    let started = std::time::Instant::now();
    let dd = dd.clone();
    let sp = output::spinner("loading tags", quiet);
    let (index, _) = zhiying_audience::load_index(&dd)
        .with_context(|| format!("loading tags from {}", dd.root().display()))?;
    sp.set_message("clustering");
    let (k_min, k_max) = a.k.map_or((a.k_min, a.k_max), |k| (k, k));
    let opts = ClusterOptions {
        k_min,
        k_max,
        seed: a.seed,
        ..ClusterOptions::default()
    };
    let seg =
        zhiying_audience::segments::segment_customers(&dd, &index, &a.name, &a.features, &opts)?;
    sp.finish_and_clear();
    drop(index);
    // The `segment` tag reads derived/segments.parquet.
    super::tags::build_tags(&dd, None, quiet)?;

    let mut saved = Vec::new();
    if !a.no_save {
        let (index, _) = zhiying_audience::load_index(&dd)?;
        saved = super::runtime()?.block_on(async {
            let store = zhiying_store::open(cfg.database_url.as_deref(), &dd).await?;
            let existing = store.audiences().await?;
            let mut out = Vec::new();
            for (k, expr) in seg.expressions.iter().enumerate() {
                let c = &seg.clustering.clusters[k];
                let name = format!("{} c{}: {}", a.name, k + 1, c.description_zh);
                // A re-run replaces the clusters of the same segmentation.
                for old in existing
                    .iter()
                    .filter(|x| x.name.starts_with(&format!("{} c{}:", a.name, k + 1)))
                {
                    store.delete_audience(&old.id).await?;
                }
                let count = index.members(expr).map(|m| m.len()).ok();
                out.push(
                    store
                        .create_audience(&zhiying_store::NewAudience {
                            name,
                            description: c.description_en.clone(),
                            definition: expr.clone(),
                            created_by: a.by.clone(),
                            count,
                        })
                        .await?,
                );
            }
            store.close().await;
            anyhow::Ok(out)
        })?;
    }
    Ok(RunOut {
        segmentation: seg,
        saved_audiences: saved,
        seconds: started.elapsed().as_secs_f64(),
    })
}

pub fn print_run(out: &RunOut) {
    let c = &out.segmentation.clustering;
    println!(
        "{} customers → k = {} (silhouette {:.3}; tried {})",
        out.segmentation.customers,
        c.k,
        c.silhouette,
        c.k_scores
            .iter()
            .map(|s| format!("k={} {:.3}", s.k, s.silhouette))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (k, p) in c.clusters.iter().enumerate() {
        println!(
            "  c{:<2} {:>8} ({:>5.1}%)  {}  /  {}",
            k + 1,
            p.size,
            p.share * 100.0,
            p.description_zh,
            p.description_en
        );
    }
    if !out.saved_audiences.is_empty() {
        println!(
            "Saved {} audiences (segment = \"c1\" …); written {}",
            out.saved_audiences.len(),
            out.segmentation.path.display()
        );
    }
    println!("{:.1}s", out.seconds);
}
