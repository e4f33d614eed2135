//! Throughput of the copy checker on mixed Chinese and English marketing copy.
//!
//!     cargo run --release -p zhiying-compliance --example copy_throughput -- [MB]
//!
//! Builds about MB megabytes (default 20) by repeating a few real-looking messages, checks
//! them one message at a time (as campaign approval does) and prints MB/s.

use std::time::Instant;

const MESSAGES: &[&str] = &[
    "【智营银行】“稳享”固收+理财新品发售，R2中低风险，业绩比较基准3.0%-3.6%（年化）。理财非存款、产品有风险、投资须谨慎。",
    "稳赚不赔！智营理财保本保收益，年化4.5%，比定期存款更划算，央行推荐！",
    "尊敬的客户，您尾号1234的账户今日入账工资8,000.00元，请注意查收。",
    "Our new wealth management product targets a performance benchmark of 3.2% p.a. Wealth management products are not deposits. Investment involves risk. Please invest with caution.",
    "Guaranteed returns of 5% a year, completely risk-free, the best savings plan in town!",
    "智营沪深300指数基金开放定投，每月500元起。基金有风险，投资须谨慎，过往业绩不代表未来表现。",
];

fn main() {
    let mb: f64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20.0);
    let target = (mb * 1e6) as usize;
    let mut corpus: Vec<&str> = Vec::new();
    let mut bytes = 0;
    while bytes < target {
        for m in MESSAGES {
            corpus.push(m);
            bytes += m.len();
        }
    }
    let checker = match zhiying_compliance::builtin() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rules failed to load: {e}");
            std::process::exit(1);
        }
    };
    let started = Instant::now();
    let mut violations = 0usize;
    for m in &corpus {
        violations += checker.check(m).violations.len();
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} messages, {:.1} MB, {violations} violations in {secs:.2} s: {:.1} MB/s, {:.0} messages/s",
        corpus.len(),
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / secs,
        corpus.len() as f64 / secs
    );
}
