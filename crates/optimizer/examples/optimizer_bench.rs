//! Benchmark driver: builds the realistic synthetic instance, optimises it and prints the
//! report and a JSON summary line; optionally dumps the instance as raw little-endian arrays
//! for the Python (SciPy/HiGHS) peer.
//!
//!   optimizer_bench CUSTOMERS [DUMP_DIR] [SEED]

use std::io::Write;
use std::time::Instant;

use zhiying_optimizer::{Options, optimize, synth};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let customers: usize = args
        .get(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let dump = args.get(2).filter(|s| !s.is_empty() && *s != "-");
    let seed: u64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(42);

    let t = Instant::now();
    let p = synth::realistic(customers, seed)?;
    let build = t.elapsed().as_secs_f64();
    eprintln!(
        "built {} customers, {} candidates ({} non-positive dropped), {:.0} MB, in {build:.2} s",
        p.customer_count(),
        p.candidate_count(),
        p.dropped_candidates(),
        p.memory_bytes() as f64 / 1e6
    );
    if let Some(dir) = dump {
        dump_instance(&p, std::path::Path::new(dir))?;
    }
    let s = optimize(&p, &Options::default())?;
    println!("{s}");
    let violations = s.check(&p);
    assert!(violations.is_empty(), "infeasible plan: {violations:?}");
    println!(
        "{}",
        serde_json::json!({
            "customers": p.customer_count(), "candidates": p.candidate_count(),
            "objective": s.objective, "upper_bound": s.upper_bound, "gap": s.gap,
            "iterations": s.iterations, "converged": s.converged, "seconds": s.seconds,
            "build_seconds": build, "assignments": s.assignments.len(),
        })
    );
    Ok(())
}

fn dump_instance(p: &zhiying_optimizer::Problem, dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let n = p.customer_count();
    let m = p.candidate_count();
    let mut offsets = Vec::with_capacity((n + 1) * 4);
    for i in 0..n as u32 {
        offsets.extend_from_slice(&(p.candidate_range(i).start as u32).to_le_bytes());
    }
    offsets.extend_from_slice(&(m as u32).to_le_bytes());
    std::fs::write(dir.join("offsets.u32"), offsets)?;
    let (mut value, mut cost, mut channel, mut campaign, mut offer) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for j in 0..m {
        let c = p.candidate(j);
        value.extend_from_slice(&(c.value as f32).to_le_bytes());
        cost.extend_from_slice(&(c.cost as f32).to_le_bytes());
        channel.push(c.channel.0 as u8);
        campaign.extend_from_slice(&c.campaign.0.to_le_bytes());
        offer.extend_from_slice(&c.offer.0.to_le_bytes());
    }
    std::fs::write(dir.join("value.f32"), value)?;
    std::fs::write(dir.join("cost.f32"), cost)?;
    std::fs::write(dir.join("channel.u8"), channel)?;
    std::fs::write(dir.join("campaign.u16"), campaign)?;
    std::fs::write(dir.join("offer.u16"), offer)?;
    let meta = serde_json::json!({
        "customers": n, "candidates": m,
        "max_offers_per_customer": p.max_offers_per_customer(),
        "one_per_campaign": p.one_per_campaign(),
        "channels": p.channels(), "campaigns": p.campaigns(), "offers": p.offers(),
    });
    let mut f = std::fs::File::create(dir.join("meta.json"))?;
    writeln!(f, "{meta}")?;
    Ok(())
}
