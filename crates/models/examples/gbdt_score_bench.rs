//! Batch-scoring throughput of a trained boosted-tree model, for scripts/bench/gbdt.sh.
//!
//! Trains once on the whole file (300 trees, 31 leaves, rate 0.05, 255 bins unless told
//! otherwise), then scores every row `REPEAT` times and prints one JSON line with rows/s,
//! both for the encoded matrix (tree evaluation only, like LightGBM's `predict` on a
//! NumPy array) and including the encoding of the frame.
//!
//! cargo run --example gbdt_score_bench -p zhiying-models -- FILE TARGET [EXCLUDE,..] [REPEAT] [THREADS]

use std::time::Instant;

use zhiying_models::frame::{CsvOptions, read_csv};
use zhiying_models::gbdt::{GbdtConfig, GbdtModel};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        return Err("usage: gbdt_score_bench FILE TARGET [EXCLUDE,..] [REPEAT] [THREADS]".into());
    }
    let exclude: Vec<String> = args
        .get(3)
        .map(|s| {
            s.split(',')
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let repeat: usize = args.get(4).map_or(Ok(3), |s| s.parse())?;
    let threads: usize = args.get(5).map_or(Ok(0), |s| s.parse())?;
    let frame = read_csv(args[1].as_ref(), &CsvOptions::default())?;
    let (mut x, target) = frame.split_binary_target(&args[2], None)?;
    x.drop_columns(&exclude)?;
    let cfg = GbdtConfig {
        num_threads: threads,
        ..GbdtConfig::default()
    };
    let t = Instant::now();
    let model = GbdtModel::train(&x, &target.y, &cfg)?;
    let train_seconds = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let matrix = model.schema().encode(&x)?;
    let encode_seconds = t.elapsed().as_secs_f64();
    let mut best = f64::INFINITY;
    let mut checksum = 0.0;
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        let p = model.predict_encoded(&matrix)?;
        best = best.min(t.elapsed().as_secs_f64());
        checksum = p.iter().sum::<f64>();
    }
    let rows = x.n_rows() as f64;
    println!(
        "{{\"rows\":{},\"features\":{},\"trees\":{},\"train_seconds\":{:.3},\"predict_seconds\":{:.4},\"rows_per_second\":{:.0},\"rows_per_second_with_encoding\":{:.0},\"mean_prediction\":{:.6}}}",
        x.n_rows(),
        x.n_cols(),
        model.num_trees(),
        train_seconds,
        best,
        rows / best,
        rows / (best + encode_seconds),
        checksum / rows
    );
    Ok(())
}
