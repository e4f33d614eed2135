//! Benchmark helper for scripts/bench/experiment.sh.
//!
//! `analyze_bench gen FILE ROWS` writes a deterministic experiment CSV (3 arms, 5 metrics,
//! one pre-period covariate); `analyze_bench run FILE [--no-cuped]` times `analyze_csv`
//! on it and prints the read-out.

use std::io::{BufWriter, Write};
use std::time::Instant;

use zhiying_experiment::{AnalyzeOptions, analyze_csv};

/// SplitMix64: tiny, deterministic, good enough for synthetic data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unif(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let u = self.unif().max(1e-300);
        let v = self.unif();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

fn generate(path: &str, rows: u64) -> std::io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(
        w,
        "customer_id,arm,pre_spend,converted,orders,revenue,sessions,balance_change"
    )?;
    let mut r = Rng(42);
    let arms = ["control", "offer_a", "offer_b"];
    for i in 0..rows {
        let u = r.unif();
        let a = if u < 0.5 {
            0
        } else if u < 0.75 {
            1
        } else {
            2
        };
        let lift = [0.0, 0.03, 0.01][a];
        let pre = (r.normal() * 40.0 + 120.0).max(0.0);
        let converted = u8::from(r.unif() < 0.10 + lift);
        let orders = (r.unif() * (3.0 + 10.0 * lift)) as u32;
        let revenue = (0.5 * pre + 20.0 * lift * 10.0 + r.normal() * 30.0).max(0.0);
        let sessions = 1 + (r.unif() * 6.0) as u32;
        let balance = r.normal() * 500.0 + 100.0 * lift;
        writeln!(
            w,
            "C{i:09},{},{pre:.2},{converted},{orders},{revenue:.2},{sessions},{balance:.2}",
            arms[a]
        )?;
    }
    w.flush()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("gen") if args.len() >= 4 => {
            generate(&args[2], args[3].parse()?)?;
        }
        Some("run") if args.len() >= 3 => {
            let cuped = !args.iter().any(|a| a == "--no-cuped");
            let opts = AnalyzeOptions {
                arm_col: "arm".into(),
                control: "control".into(),
                metrics: [
                    "converted",
                    "orders",
                    "revenue",
                    "sessions",
                    "balance_change",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
                covariate: cuped.then(|| "pre_spend".to_string()),
                planned_weights: Some(vec![
                    ("control".into(), 2.0),
                    ("offer_a".into(), 1.0),
                    ("offer_b".into(), 1.0),
                ]),
                ..Default::default()
            };
            let t = Instant::now();
            let report = analyze_csv(&args[2], &opts)?;
            let secs = t.elapsed().as_secs_f64();
            println!("{report}");
            println!("zhiying rows {} seconds {secs:.3}", report.rows);
        }
        _ => {
            eprintln!("usage: analyze_bench gen FILE ROWS | analyze_bench run FILE [--no-cuped]");
            std::process::exit(2);
        }
    }
    Ok(())
}
