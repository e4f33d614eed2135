//! Timing harness for `scripts/bench/attribution.sh`: synthetic bank journeys, every model.
//!
//! Usage: attribution_timing N_PATHS [JOURNEY_CSV_TO_WRITE]
//!
//! Journeys follow a sticky random walk over eight bank channels; conversion odds grow with
//! the distinct channels seen (app push and branch together add a synergy). With a CSV path
//! the journeys are also written in marketing-attribution-models' "journey" layout so the
//! Python peer attributes exactly the same data, and the CSV is read back through
//! `read_paths_csv` to time the loader.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use zhiying_attribution::{
    AttributionConfig, Conversion, Model, PathColumns, PathOptions, PathStatsOptions, Paths,
    Touchpoint, attribute, build_paths, path_stats, read_paths_csv, synergy,
};

const CHANNELS: [&str; 8] = [
    "app_push", "sms", "call", "email", "wechat", "branch", "web", "mail",
];
const PICK: [f64; 8] = [0.25, 0.2, 0.1, 0.12, 0.13, 0.05, 0.1, 0.05];
const EFFECT: [f64; 8] = [0.5, 0.3, 0.7, 0.1, 0.35, 1.0, 0.25, 0.05];

/// SplitMix64: deterministic and dependency-free.
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
    fn channel(&mut self) -> usize {
        let mut u = self.unif();
        for (i, p) in PICK.iter().enumerate() {
            if u < *p {
                return i;
            }
            u -= p;
        }
        CHANNELS.len() - 1
    }
}

/// One journey: (channels, ages in days before the end, converted, value).
fn journey(rng: &mut Rng) -> (Vec<usize>, Vec<f64>, bool, f64) {
    let mut len = 1;
    while len < 10 && rng.unif() < 0.55 {
        len += 1;
    }
    let mut steps = vec![rng.channel()];
    while steps.len() < len {
        let last = steps[steps.len() - 1];
        steps.push(if rng.unif() < 0.3 {
            last
        } else {
            rng.channel()
        });
    }
    let mut ages = vec![0.0; len];
    for i in (0..len - 1).rev() {
        ages[i] = ages[i + 1] + (-2.0 * (1.0 - rng.unif()).ln()).min(10.0);
    }
    let mut seen = [false; 8];
    steps.iter().for_each(|&s| seen[s] = true);
    let mut logit: f64 = -3.2;
    for (c, s) in seen.iter().enumerate() {
        if *s {
            logit += EFFECT[c];
        }
    }
    if seen[0] && seen[5] {
        logit += 0.8;
    }
    let conv = rng.unif() < 1.0 / (1.0 + (-logit).exp());
    let value = if conv {
        (500.0 + 5000.0 * rng.unif().powi(2)).round()
    } else {
        0.0
    };
    (steps, ages, conv, value)
}

fn median_secs<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut times = Vec::new();
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        out = Some(f());
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], out.expect("runs >= 1"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).map_or(Ok(1_000_000), |s| s.parse())?;
    let csv_out = args.get(2);
    let mut rng = Rng(20_240_301);
    let mut paths = Paths::new();
    for c in CHANNELS {
        paths.channel_id(c);
    }
    let mut writer = match csv_out {
        Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p)?)),
        None => None,
    };
    if let Some(w) = writer.as_mut() {
        writeln!(w, "journey_id,path,time_till_end,has_conv,no_conv,value")?;
    }
    let mut steps_buf = Vec::new();
    for j in 0..n {
        let (steps, ages, conv, value) = journey(&mut rng);
        steps_buf.clear();
        steps_buf.extend(steps.iter().zip(&ages).map(|(&s, &a)| (s as u32, a)));
        let c = if conv { 1.0 } else { 0.0 };
        paths.push_timed(&steps_buf, c, 1.0 - c, value)?;
        if let Some(w) = writer.as_mut() {
            let path: Vec<&str> = steps.iter().map(|&s| CHANNELS[s]).collect();
            // mam reads time_till_end in hours.
            let hours: Vec<String> = ages.iter().map(|a| format!("{:.2}", a * 24.0)).collect();
            writeln!(
                w,
                "j{j},{},{},{},{},{value}",
                path.join(" > "),
                hours.join(" > "),
                c as u8,
                1 - c as u8
            )?;
        }
    }
    drop(writer);
    println!(
        "data {n} journeys, {} conversions, value {}",
        paths.total_conversions(),
        paths.total_value()
    );
    if let Some(p) = csv_out {
        let cols = PathColumns {
            conversions: "has_conv".into(),
            non_conversions: Some("no_conv".into()),
            value: Some("value".into()),
            ..PathColumns::default()
        };
        let (s, read) = median_secs(1, || read_paths_csv(Path::new(p), &cols));
        let read = read?;
        assert_eq!(read.len(), n);
        println!("rust read_paths_csv seconds {s:.4}");
    }
    let runs = 3;
    for m in Model::ALL {
        let cfg = AttributionConfig {
            models: vec![m],
            half_life_days: 7.0,
            ..AttributionConfig::default()
        };
        let (s, r) = median_secs(runs, || attribute(&paths, &cfg));
        r?;
        println!("rust {} seconds {s:.4}", m.name());
    }
    let cfg2 = AttributionConfig {
        models: vec![Model::Markov],
        markov_order: 2,
        ..AttributionConfig::default()
    };
    let (s, _) = median_secs(runs, || attribute(&paths, &cfg2));
    println!("rust markov_order2 seconds {s:.4}");
    let (s, report) = median_secs(runs, || attribute(&paths, &AttributionConfig::default()));
    let report = report?;
    println!("rust all_models seconds {s:.4}");
    let (s, _) = median_secs(runs, || synergy(&paths));
    println!("rust synergy seconds {s:.4}");
    let (s, _) = median_secs(runs, || path_stats(&paths, &PathStatsOptions::default()));
    println!("rust path_stats seconds {s:.4}");
    if let Some(m) = &report.markov {
        for r in &m.removal_effects {
            println!("rust removal_effect {} {:.12}", r.channel, r.removal_effect);
        }
    }

    // Raw touchpoints for the same number of customers: path building with a lookback.
    let day = 86_400_000_000i64;
    let (mut touches, mut convs) = (Vec::new(), Vec::new());
    for c in 0..n {
        let (steps, ages, conv, value) = journey(&mut rng);
        let end = 400 * day + (rng.unif() * 30.0 * day as f64) as i64;
        let id = format!("c{c}");
        for (&s, &a) in steps.iter().zip(&ages) {
            touches.push(Touchpoint {
                customer_id: id.clone(),
                timestamp: end - (a * day as f64) as i64,
                channel: CHANNELS[s].into(),
                campaign: None,
            });
        }
        if conv {
            convs.push(Conversion {
                customer_id: id,
                timestamp: end,
                value,
            });
        }
    }
    let (s, built) = median_secs(1, || build_paths(&touches, &convs, &PathOptions::default()));
    let built = built?;
    println!(
        "rust build_paths seconds {s:.4} ({} touchpoints, {} conversions -> {} paths)",
        touches.len(),
        convs.len(),
        built.len()
    );
    Ok(())
}
