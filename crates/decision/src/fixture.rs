//! A deterministic in-memory profile index with the built-in profile tags the sample
//! catalogue's eligibility rules use, for tests, benchmarks and the decision explorer's
//! demo before a real tag build.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use zhiying_audience::meta::{CodeLabel, TagKind, TagMeta};
use zhiying_audience::{AudienceIndex, IndexBuilder, NULL_CODE, TagValues};

fn meta(key: &str, kind: TagKind, codes: &[&str]) -> TagMeta {
    TagMeta {
        key: key.into(),
        name_zh: String::new(),
        name_en: String::new(),
        description: String::new(),
        category: "fixture".into(),
        kind,
        values: codes
            .iter()
            .map(|c| CodeLabel {
                code: c.to_string(),
                zh: String::new(),
                en: String::new(),
            })
            .collect(),
        version: serde_json::json!(1),
        owner: "decision-fixture".into(),
    }
}

/// Customer ids `C000000`, `C000001`, … as the fixture names them.
pub fn customer_id(i: usize) -> String {
    format!("C{i:06}")
}

/// `n` customers with `age`, `asset_tier`, `risk_level` (10% unassessed), `lifecycle_stage`,
/// flags (`salary_credit`, `large_inflow_30d`, `digital_user`, `holds_*`) and holdings of
/// the synthetic bank's products (P001–P020) consistent with the `holds_*` flags.
pub fn demo_index(n: usize, seed: u64) -> AudienceIndex {
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let ids: Vec<String> = (0..n).map(customer_id).collect();
    let mut b = IndexBuilder::new(ids);
    let tiers = ["mass", "affluent", "vip", "private"];
    let levels = ["c1", "c2", "c3", "c4", "c5"];
    let stages = [
        "new",
        "growing",
        "mature",
        "declining",
        "dormant",
        "churned",
    ];
    let mut age = Vec::with_capacity(n);
    let mut tier = Vec::with_capacity(n);
    let mut level = Vec::with_capacity(n);
    let mut stage = Vec::with_capacity(n);
    let mut flags: Vec<Vec<Option<bool>>> = (0..7).map(|_| Vec::with_capacity(n)).collect();
    let holds_products: [(usize, &[&str]); 4] = [
        (3, &["P014", "P015"]),
        (4, &["P005", "P006", "P007"]),
        (5, &["P016", "P017"]),
        (6, &["P012", "P013", "P020"]),
    ];
    for c in 0..n {
        age.push(rng.random_range(18..80) as f64);
        let t = match rng.random_range(0..100) {
            0..60 => 0,
            60..88 => 1,
            88..98 => 2,
            _ => 3,
        };
        tier.push(t);
        level.push(if rng.random_bool(0.1) {
            NULL_CODE
        } else {
            rng.random_range(0..5)
        });
        stage.push(rng.random_range(0..6));
        // salary_credit, large_inflow_30d, digital_user, holds_credit_card, holds_wealth,
        // holds_loan, holds_insurance
        let probs = [0.45, 0.12, 0.6, 0.35, 0.2 + 0.1 * t as f64, 0.15, 0.25];
        for (k, p) in probs.iter().enumerate() {
            let v = rng.random_bool(*p);
            flags[k].push(Some(v));
            if v && let Some((_, products)) = holds_products.iter().find(|(f, _)| *f == k) {
                let p = products[rng.random_range(0..products.len())];
                b.holding(c as u32, p);
            }
        }
        if rng.random_bool(0.9) {
            b.holding(c as u32, "P001");
        }
    }
    let dict = |codes: &[&str]| codes.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    b.tag(meta("age", TagKind::Numeric, &[]), TagValues::Numeric(age));
    b.tag(
        meta("asset_tier", TagKind::Categorical, &tiers),
        TagValues::Categorical {
            dict: dict(&tiers),
            codes: tier,
        },
    );
    b.tag(
        meta("risk_level", TagKind::Categorical, &levels),
        TagValues::Categorical {
            dict: dict(&levels),
            codes: level,
        },
    );
    b.tag(
        meta("lifecycle_stage", TagKind::Categorical, &stages),
        TagValues::Categorical {
            dict: dict(&stages),
            codes: stage,
        },
    );
    let names = [
        "salary_credit",
        "large_inflow_30d",
        "digital_user",
        "holds_credit_card",
        "holds_wealth",
        "holds_loan",
        "holds_insurance",
    ];
    for (name, values) in names.iter().zip(flags) {
        b.tag(meta(name, TagKind::Flag, &[]), TagValues::Flag(values));
    }
    for (i, cat) in [
        "deposit",
        "time_deposit",
        "time_deposit",
        "time_deposit",
        "wealth",
        "wealth",
        "wealth",
        "fund",
        "fund",
        "fund",
        "fund",
        "insurance",
        "insurance",
        "credit_card",
        "credit_card",
        "consumer_loan",
        "mortgage",
        "gold",
        "pension",
        "insurance",
    ]
    .iter()
    .enumerate()
    {
        b.product(&format!("P{:03}", i + 1), cat);
    }
    b.as_of(1_719_791_999_999_999, Some("2024-06-30".into()));
    b.build()
        .expect("fixture columns have one value per customer")
}
