//! A synthetic tag table in exactly the tag engine's output format, with the facts
//! audiences read (`products`, `product_holdings`, `events`), for tests, benchmarks and
//! demos before (or without) a real tag build.
//!
//! Written files:
//! * `derived/tags.parquet`: `customer_id` then one column per tag (Utf8 categorical,
//!   Int64/Float64 numeric, Boolean flags, with some nulls);
//! * `derived/tags.meta.json`: the catalogue (zh/en names, kinds, codes with labels);
//! * `facts/{products,product_holdings,events}/batch-fixture.parquet` in the canonical
//!   schemas of `zhiying_core::schema`.
//!
//! The data is deterministic from the seed and internally consistent: `holds_fund` is true
//! exactly when the customer has an active holding of a `fund` product, `aum_tier` follows
//! `aum_fen`, and `rfm_class` follows recency, frequency and amount.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use zhiying_core::DataDir;
use zhiying_core::schema::{EVENTS, PRODUCT_HOLDINGS, PRODUCTS};

use crate::AudienceError;
use crate::meta::{CodeLabel, TagKind, TagMeta, TagsMeta};

/// What to generate.
#[derive(Debug, Clone)]
pub struct FixtureSpec {
    pub customers: usize,
    pub seed: u64,
    /// Mean events per customer over the 180 days before `as_of`.
    pub events_per_customer: f64,
    /// `YYYY-MM-DD`; "the last N days" counts back from the end of this day.
    pub as_of: String,
}

impl Default for FixtureSpec {
    fn default() -> Self {
        FixtureSpec {
            customers: 10_000,
            seed: 42,
            events_per_customer: 8.0,
            as_of: "2024-06-30".to_string(),
        }
    }
}

/// What was written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FixtureReport {
    pub customers: usize,
    pub tags: usize,
    pub products: usize,
    pub holdings: usize,
    pub events: usize,
}

/// Products: (id, zh, en, category, risk level).
pub const FIXTURE_PRODUCTS: &[(&str, &str, &str, &str, &str)] = &[
    ("P0001", "活期储蓄", "Demand savings", "deposit", "r1"),
    (
        "P0002",
        "三个月定期",
        "3-month time deposit",
        "time_deposit",
        "r1",
    ),
    (
        "P0003",
        "一年定期",
        "1-year time deposit",
        "time_deposit",
        "r1",
    ),
    ("P0004", "稳健理财30天", "Steady wealth 30d", "wealth", "r2"),
    (
        "P0005",
        "增利理财180天",
        "Growth wealth 180d",
        "wealth",
        "r3",
    ),
    ("P0006", "货币基金", "Money-market fund", "fund", "r1"),
    ("P0007", "债券基金", "Bond fund", "fund", "r2"),
    (
        "P0008",
        "沪深300指数基金",
        "CSI 300 index fund",
        "fund",
        "r4",
    ),
    (
        "P0009",
        "科技成长混合基金",
        "Tech growth fund",
        "fund",
        "r5",
    ),
    (
        "P0010",
        "终身寿险",
        "Whole-life insurance",
        "insurance",
        "r2",
    ),
    (
        "P0011",
        "白金信用卡",
        "Platinum credit card",
        "credit_card",
        "r1",
    ),
    (
        "P0012",
        "标准信用卡",
        "Standard credit card",
        "credit_card",
        "r1",
    ),
    ("P0013", "消费贷", "Consumer loan", "consumer_loan", "r1"),
    ("P0014", "住房按揭", "Mortgage", "mortgage", "r1"),
    (
        "P0015",
        "养老目标基金",
        "Target-date pension fund",
        "pension",
        "r3",
    ),
    ("P0016", "积存金", "Gold accumulation", "gold", "r3"),
];

fn code(code: &str, zh: &str, en: &str) -> CodeLabel {
    CodeLabel {
        code: code.into(),
        zh: zh.into(),
        en: en.into(),
    }
}

fn tag(
    key: &str,
    zh: &str,
    en: &str,
    category: &str,
    kind: TagKind,
    values: Vec<CodeLabel>,
    description: &str,
) -> TagMeta {
    TagMeta {
        key: key.into(),
        name_zh: zh.into(),
        name_en: en.into(),
        description: description.into(),
        category: category.into(),
        kind,
        values,
        version: serde_json::json!(1),
        owner: "fixture".into(),
    }
}

/// The fixture's tag catalogue, in column order.
pub fn fixture_meta(as_of: &str) -> TagsMeta {
    use TagKind::*;
    let tags = vec![
        tag(
            "gender",
            "性别",
            "Gender",
            "basic",
            Categorical,
            vec![
                code("m", "男", "Male"),
                code("f", "女", "Female"),
                code("u", "未知", "Unknown"),
            ],
            "Gender as recorded at onboarding",
        ),
        tag(
            "age",
            "年龄",
            "Age",
            "basic",
            Numeric,
            vec![],
            "Age in whole years at as_of",
        ),
        tag(
            "city_tier",
            "城市等级",
            "City tier",
            "basic",
            Categorical,
            vec![
                code("tier1", "一线城市", "Tier 1"),
                code("tier2", "二线城市", "Tier 2"),
                code("tier3", "三线城市", "Tier 3"),
                code("tier4", "四线及以下", "Tier 4 and below"),
            ],
            "Tier of the customer's home city",
        ),
        tag(
            "aum_fen",
            "资产规模",
            "AUM",
            "assets",
            Numeric,
            vec![],
            "Assets under management, 分",
        ),
        tag(
            "aum_tier",
            "资产等级",
            "AUM tier",
            "assets",
            Categorical,
            vec![
                code("mass", "大众客户", "Mass"),
                code("affluent", "富裕客户", "Affluent"),
                code("high", "高净值客户", "High net worth"),
                code("private", "私人银行客户", "Private banking"),
            ],
            "AUM tier: <50万 mass, <600万 affluent, <3000万 high, else private",
        ),
        tag(
            "txn_count_90d",
            "近90天交易笔数",
            "Transactions (90d)",
            "behaviour",
            Numeric,
            vec![],
            "Transactions in the 90 days to as_of",
        ),
        tag(
            "txn_amount_90d_fen",
            "近90天交易金额",
            "Transaction amount (90d)",
            "behaviour",
            Numeric,
            vec![],
            "Sum of transaction amounts in the 90 days to as_of, 分",
        ),
        tag(
            "recency_days",
            "最近交易距今天数",
            "Days since last transaction",
            "behaviour",
            Numeric,
            vec![],
            "Days from the last transaction to as_of",
        ),
        tag(
            "rfm_class",
            "RFM分类",
            "RFM class",
            "rfm",
            Categorical,
            vec![
                code("important_value", "重要价值客户", "Important value"),
                code("important_develop", "重要发展客户", "Important develop"),
                code("important_keep", "重要保持客户", "Important keep"),
                code("important_retain", "重要挽留客户", "Important retain"),
                code("general_value", "一般价值客户", "General value"),
                code("general_develop", "一般发展客户", "General develop"),
                code("general_keep", "一般保持客户", "General keep"),
                code("general_retain", "一般挽留客户", "General retain"),
            ],
            "The 8 RFM classes from recency, frequency and monetary value against the medians",
        ),
        tag(
            "preferred_channel",
            "偏好渠道",
            "Preferred channel",
            "channel",
            Categorical,
            vec![
                code("mobile_app", "手机银行", "Mobile app"),
                code("wechat", "微信银行", "WeChat"),
                code("web", "网上银行", "Web"),
                code("branch", "网点", "Branch"),
                code("call_center", "电话银行", "Call centre"),
            ],
            "Channel with the most interactions",
        ),
        tag(
            "best_contact_hour",
            "最佳联系时段",
            "Best contact hour",
            "channel",
            Numeric,
            vec![],
            "Hour of day (UTC+8) with the most interactions",
        ),
        tag(
            "lifecycle_stage",
            "生命周期",
            "Lifecycle stage",
            "lifecycle",
            Categorical,
            vec![
                code("new", "新客", "New"),
                code("growing", "成长期", "Growing"),
                code("mature", "成熟期", "Mature"),
                code("declining", "衰退期", "Declining"),
                code("dormant", "沉睡", "Dormant"),
                code("churned", "流失", "Churned"),
            ],
            "Lifecycle stage",
        ),
        tag(
            "risk_appetite",
            "风险偏好",
            "Risk appetite",
            "risk",
            Categorical,
            vec![
                code("c1", "保守型", "Conservative"),
                code("c2", "稳健型", "Moderately conservative"),
                code("c3", "平衡型", "Balanced"),
                code("c4", "成长型", "Growth"),
                code("c5", "进取型", "Aggressive"),
            ],
            "Risk questionnaire result C1–C5",
        ),
        tag(
            "holds_fund",
            "持有基金",
            "Holds a fund",
            "holdings",
            Flag,
            vec![],
            "Has an active fund holding",
        ),
        tag(
            "holds_wealth",
            "持有理财",
            "Holds a wealth product",
            "holdings",
            Flag,
            vec![],
            "Has an active wealth-management holding",
        ),
        tag(
            "holds_credit_card",
            "持有信用卡",
            "Holds a credit card",
            "holdings",
            Flag,
            vec![],
            "Has an active credit card",
        ),
        tag(
            "salary_credit",
            "代发工资",
            "Salary credited",
            "behaviour",
            Flag,
            vec![],
            "Salary credited monthly in the last 3 months",
        ),
        tag(
            "large_inflow_30d",
            "近30天大额转入",
            "Large inflow (30d)",
            "behaviour",
            Flag,
            vec![],
            "A single inflow above 5万 in the last 30 days",
        ),
        tag(
            "churn_risk",
            "流失风险",
            "Churn risk",
            "model",
            Numeric,
            vec![],
            "Probability of churn in the next 90 days (null when not scored)",
        ),
    ];
    TagsMeta {
        as_of: Some(as_of.to_string()),
        built_at: Some("2024-07-01T02:00:00Z".to_string()),
        tags,
    }
}

fn props() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(65_536))
        .build()
}

fn werr(path: &Path, e: impl std::fmt::Display) -> AudienceError {
    AudienceError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn writer(path: &Path, schema: Arc<Schema>) -> Result<ArrowWriter<File>, AudienceError> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(|e| werr(path, e))?;
    }
    let f = File::create(path).map_err(|e| werr(path, e))?;
    ArrowWriter::try_new(f, schema, Some(props())).map_err(|e| werr(path, e))
}

const DAY_US: i64 = 86_400_000_000;
const EVENT_WEIGHTS: &[(&str, u32)] = &[
    ("login", 30),
    ("app_open", 25),
    ("page_view", 20),
    ("product_view", 10),
    ("search", 5),
    ("click", 5),
    ("chat", 2),
    ("service_call", 2),
    ("complaint", 1),
];
const EVENT_CHANNELS: &[&str] = &["mobile_app", "web", "wechat", "call_center", "branch"];

/// Writes the fixture into `dir`. Existing fixture files are replaced.
pub fn write_fixture(dir: &DataDir, spec: &FixtureSpec) -> Result<FixtureReport, AudienceError> {
    let meta = fixture_meta(&spec.as_of);
    let as_of_us = meta.as_of_micros().ok_or_else(|| {
        AudienceError::Invalid(format!("as_of `{}` is not YYYY-MM-DD", spec.as_of))
    })?;
    let derived = dir.root().join("derived");
    std::fs::create_dir_all(&derived).map_err(|e| werr(&derived, e))?;

    // tags.parquet schema from the catalogue.
    let mut fields = vec![Field::new("customer_id", DataType::Utf8, false)];
    for t in &meta.tags {
        let ty = match t.kind {
            TagKind::Categorical => DataType::Utf8,
            TagKind::Flag => DataType::Boolean,
            TagKind::Numeric if matches!(t.key.as_str(), "churn_risk") => DataType::Float64,
            TagKind::Numeric => DataType::Int64,
        };
        fields.push(Field::new(&t.key, ty, true));
    }
    let tag_schema = Arc::new(Schema::new(fields));
    let tags_path = derived.join("tags.parquet");
    let tags_tmp = derived.join("tags.parquet.tmp");
    let mut tw = writer(&tags_tmp, tag_schema.clone())?;

    let prod_path = dir.fact_batch("products", "fixture");
    let hold_path = dir.fact_batch("product_holdings", "fixture");
    let ev_path = dir.fact_batch("events", "fixture");
    write_products(&prod_path)?;
    let mut hw = writer(&hold_path, PRODUCT_HOLDINGS.arrow_schema())?;
    let mut ew = writer(&ev_path, EVENTS.arrow_schema())?;

    let mut rng = Pcg64Mcg::seed_from_u64(spec.seed);
    let (mut nholdings, mut nevents) = (0usize, 0usize);
    let chunk = 65_536;
    let mut start = 0;
    while start < spec.customers {
        let end = (start + chunk).min(spec.customers);
        let mut c = Chunk::default();
        for i in start..end {
            gen_customer(&mut rng, i, as_of_us, spec.events_per_customer, &mut c);
        }
        nholdings += c.h_cust.len();
        nevents += c.e_cust.len();
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(c.ids)),
            Arc::new(StringArray::from(c.gender)),
            Arc::new(Int64Array::from(c.age)),
            Arc::new(StringArray::from(c.city)),
            Arc::new(Int64Array::from(c.aum)),
            Arc::new(StringArray::from(c.aum_tier)),
            Arc::new(Int64Array::from(c.txn_count)),
            Arc::new(Int64Array::from(c.txn_amount)),
            Arc::new(Int64Array::from(c.recency)),
            Arc::new(StringArray::from(c.rfm)),
            Arc::new(StringArray::from(c.channel)),
            Arc::new(Int64Array::from(c.hour)),
            Arc::new(StringArray::from(c.lifecycle)),
            Arc::new(StringArray::from(c.risk)),
            Arc::new(BooleanArray::from(c.holds_fund)),
            Arc::new(BooleanArray::from(c.holds_wealth)),
            Arc::new(BooleanArray::from(c.holds_card)),
            Arc::new(BooleanArray::from(c.salary)),
            Arc::new(BooleanArray::from(c.inflow)),
            Arc::new(Float64Array::from(c.churn)),
        ];
        let b = RecordBatch::try_new(tag_schema.clone(), cols).map_err(|e| werr(&tags_path, e))?;
        tw.write(&b).map_err(|e| werr(&tags_path, e))?;

        let n = c.h_cust.len();
        let hb = RecordBatch::try_new(
            PRODUCT_HOLDINGS.arrow_schema(),
            vec![
                Arc::new(StringArray::from(c.h_id)),
                Arc::new(StringArray::from(c.h_cust)),
                Arc::new(StringArray::from(c.h_prod)),
                Arc::new(StringArray::from(vec![None::<String>; n])),
                Arc::new(Date32Array::from(c.h_start)),
                Arc::new(Date32Array::from(vec![None::<i32>; n])),
                Arc::new(Int64Array::from(c.h_amount)),
                Arc::new(StringArray::from(c.h_status)),
            ],
        )
        .map_err(|e| werr(&hold_path, e))?;
        hw.write(&hb).map_err(|e| werr(&hold_path, e))?;

        let n = c.e_cust.len();
        let eb = RecordBatch::try_new(
            EVENTS.arrow_schema(),
            vec![
                Arc::new(StringArray::from(c.e_id)),
                Arc::new(StringArray::from(c.e_cust)),
                Arc::new(TimestampMicrosecondArray::from(c.e_ts).with_timezone("UTC")),
                Arc::new(StringArray::from(c.e_channel)),
                Arc::new(StringArray::from(c.e_type)),
                Arc::new(StringArray::from(vec![None::<String>; n])),
                Arc::new(StringArray::from(vec![None::<String>; n])),
            ],
        )
        .map_err(|e| werr(&ev_path, e))?;
        ew.write(&eb).map_err(|e| werr(&ev_path, e))?;
        start = end;
    }
    tw.close().map_err(|e| werr(&tags_path, e))?;
    hw.close().map_err(|e| werr(&hold_path, e))?;
    ew.close().map_err(|e| werr(&ev_path, e))?;
    std::fs::rename(&tags_tmp, &tags_path).map_err(|e| werr(&tags_path, e))?;
    let meta_path = derived.join("tags.meta.json");
    let json = serde_json::to_vec_pretty(&meta).map_err(|e| werr(&meta_path, e))?;
    std::fs::write(&meta_path, json).map_err(|e| werr(&meta_path, e))?;
    Ok(FixtureReport {
        customers: spec.customers,
        tags: meta.tags.len(),
        products: FIXTURE_PRODUCTS.len(),
        holdings: nholdings,
        events: nevents,
    })
}

fn write_products(path: &Path) -> Result<(), AudienceError> {
    let p = FIXTURE_PRODUCTS;
    let b = RecordBatch::try_new(
        PRODUCTS.arrow_schema(),
        vec![
            Arc::new(StringArray::from_iter_values(p.iter().map(|x| x.0))),
            Arc::new(StringArray::from_iter_values(p.iter().map(|x| x.1))),
            Arc::new(StringArray::from_iter_values(p.iter().map(|x| x.2))),
            Arc::new(StringArray::from_iter_values(p.iter().map(|x| x.3))),
            Arc::new(StringArray::from_iter_values(p.iter().map(|x| x.4))),
            Arc::new(Int64Array::from(vec![100_000i64; p.len()])),
            Arc::new(Int64Array::from(vec![Some(250i64); p.len()])),
            Arc::new(Date32Array::from(vec![18_000i32; p.len()])),
        ],
    )
    .map_err(|e| werr(path, e))?;
    let mut w = writer(path, PRODUCTS.arrow_schema())?;
    w.write(&b).map_err(|e| werr(path, e))?;
    w.close().map_err(|e| werr(path, e))?;
    Ok(())
}

#[derive(Default)]
struct Chunk {
    ids: Vec<String>,
    gender: Vec<Option<&'static str>>,
    age: Vec<Option<i64>>,
    city: Vec<Option<&'static str>>,
    aum: Vec<Option<i64>>,
    aum_tier: Vec<Option<&'static str>>,
    txn_count: Vec<Option<i64>>,
    txn_amount: Vec<Option<i64>>,
    recency: Vec<Option<i64>>,
    rfm: Vec<Option<&'static str>>,
    channel: Vec<Option<&'static str>>,
    hour: Vec<Option<i64>>,
    lifecycle: Vec<Option<&'static str>>,
    risk: Vec<Option<&'static str>>,
    holds_fund: Vec<Option<bool>>,
    holds_wealth: Vec<Option<bool>>,
    holds_card: Vec<Option<bool>>,
    salary: Vec<Option<bool>>,
    inflow: Vec<Option<bool>>,
    churn: Vec<Option<f64>>,
    h_id: Vec<String>,
    h_cust: Vec<String>,
    h_prod: Vec<&'static str>,
    h_start: Vec<i32>,
    h_amount: Vec<i64>,
    h_status: Vec<&'static str>,
    e_id: Vec<String>,
    e_cust: Vec<String>,
    e_ts: Vec<i64>,
    e_channel: Vec<&'static str>,
    e_type: Vec<&'static str>,
}

fn pick<'a, R: Rng>(rng: &mut R, items: &[(&'a str, u32)]) -> &'a str {
    let total: u32 = items.iter().map(|x| x.1).sum();
    let mut r = rng.random_range(0..total);
    for (s, w) in items {
        if r < *w {
            return s;
        }
        r -= w;
    }
    items[items.len() - 1].0
}

/// A Poisson draw (Knuth for small means, normal approximation above 30).
fn poisson<R: Rng>(rng: &mut R, mean: f64) -> u32 {
    if mean <= 0.0 {
        return 0;
    }
    if mean > 30.0 {
        let z: f64 = (0..12).map(|_| rng.random::<f64>()).sum::<f64>() - 6.0;
        return (mean + z * mean.sqrt()).round().max(0.0) as u32;
    }
    let l = (-mean).exp();
    let (mut k, mut p) = (0u32, 1.0f64);
    loop {
        p *= rng.random::<f64>();
        if p <= l {
            return k;
        }
        k += 1;
    }
}

fn gen_customer<R: Rng>(rng: &mut R, i: usize, as_of: i64, events_mean: f64, c: &mut Chunk) {
    let id = format!("C{i:08}");
    let age: i64 = 18 + (rng.random::<f64>().powf(1.3) * 67.0) as i64;
    c.age.push(if rng.random::<f64>() < 0.02 {
        None
    } else {
        Some(age)
    });
    c.gender
        .push(Some(pick(rng, &[("m", 49), ("f", 50), ("u", 1)])));
    c.city.push(if rng.random::<f64>() < 0.05 {
        None
    } else {
        Some(pick(
            rng,
            &[("tier1", 20), ("tier2", 35), ("tier3", 30), ("tier4", 15)],
        ))
    });
    // Log-normal AUM around 8万元, older customers richer.
    let z: f64 = (0..12).map(|_| rng.random::<f64>()).sum::<f64>() - 6.0;
    let aum = ((11.3 + (age as f64 - 40.0) * 0.02 + 1.6 * z).exp() * 100.0) as i64;
    c.aum.push(Some(aum));
    let tier = match aum {
        a if a < 50_000_000 => "mass",
        a if a < 600_000_000 => "affluent",
        a if a < 3_000_000_000 => "high",
        _ => "private",
    };
    c.aum_tier.push(Some(tier));
    let lifecycle = pick(
        rng,
        &[
            ("new", 8),
            ("growing", 20),
            ("mature", 40),
            ("declining", 15),
            ("dormant", 12),
            ("churned", 5),
        ],
    );
    c.lifecycle.push(Some(lifecycle));
    let activity = match lifecycle {
        "dormant" | "churned" => 0.1,
        "declining" => 0.5,
        _ => 1.0,
    };
    let count = poisson(rng, 12.0 * activity) as i64;
    let amount = count * (rng.random_range(5_000..500_000i64) + aum / 200);
    let recency = if count == 0 {
        rng.random_range(91..366)
    } else {
        rng.random_range(0..90)
    };
    c.txn_count.push(Some(count));
    c.txn_amount.push(Some(amount));
    c.recency.push(Some(recency));
    let r_good = recency <= 30;
    let f_good = count >= 10;
    let m_good = amount >= 3_000_000;
    let rfm = match (r_good, f_good, m_good) {
        (true, true, true) => "important_value",
        (true, false, true) => "important_develop",
        (false, true, true) => "important_keep",
        (false, false, true) => "important_retain",
        (true, true, false) => "general_value",
        (true, false, false) => "general_develop",
        (false, true, false) => "general_keep",
        (false, false, false) => "general_retain",
    };
    c.rfm.push(Some(rfm));
    let channel = if age < 35 {
        pick(
            rng,
            &[
                ("mobile_app", 60),
                ("wechat", 30),
                ("web", 8),
                ("branch", 2),
            ],
        )
    } else if age < 60 {
        pick(
            rng,
            &[
                ("mobile_app", 40),
                ("wechat", 20),
                ("web", 15),
                ("branch", 20),
                ("call_center", 5),
            ],
        )
    } else {
        pick(
            rng,
            &[
                ("mobile_app", 10),
                ("wechat", 10),
                ("branch", 60),
                ("call_center", 20),
            ],
        )
    };
    c.channel.push(Some(channel));
    c.hour.push(if rng.random::<f64>() < 0.1 {
        None
    } else {
        Some(rng.random_range(8..22))
    });
    let risk = if age > 65 {
        pick(rng, &[("c1", 50), ("c2", 35), ("c3", 15)])
    } else {
        pick(
            rng,
            &[("c1", 10), ("c2", 25), ("c3", 35), ("c4", 20), ("c5", 10)],
        )
    };
    c.risk.push(if rng.random::<f64>() < 0.03 {
        None
    } else {
        Some(risk)
    });
    c.salary.push(Some(age < 60 && rng.random::<f64>() < 0.45));
    c.inflow.push(if rng.random::<f64>() < 0.01 {
        None
    } else {
        Some(rng.random::<f64>() < 0.04 + (aum as f64).ln() / 400.0)
    });
    c.churn.push(if rng.random::<f64>() < 0.03 {
        None
    } else {
        let base = match lifecycle {
            "declining" => 0.45,
            "dormant" => 0.6,
            "churned" => 0.9,
            _ => 0.1,
        };
        Some(((base + rng.random::<f64>() * 0.3) * 1000.0).round() / 1000.0)
    });

    // Holdings: a deposit for most; others by affinity. Flags follow active holdings.
    let (mut fund, mut wealth, mut card) = (false, false, false);
    let nprod = FIXTURE_PRODUCTS.len();
    let mut held = [false; 32];
    let mut hold = |rng: &mut R, p: usize, c: &mut Chunk| {
        if held[p] {
            return;
        }
        held[p] = true;
        let status = if rng.random::<f64>() < 0.12 {
            "closed"
        } else {
            "active"
        };
        let (pid, _, _, cat, _) = FIXTURE_PRODUCTS[p];
        if status == "active" {
            match cat {
                "fund" => fund = true,
                "wealth" => wealth = true,
                "credit_card" => card = true,
                _ => {}
            }
        }
        c.h_id.push(format!("H{i:08}-{p:02}"));
        c.h_cust.push(id.clone());
        c.h_prod.push(pid);
        c.h_start.push(19_000 - rng.random_range(0..2_000));
        c.h_amount.push((aum / 3).max(100));
        c.h_status.push(status);
    };
    if rng.random::<f64>() < 0.9 {
        hold(rng, 0, c);
    }
    let extra = poisson(rng, 1.2 + (aum as f64 / 1e8).min(2.0));
    for _ in 0..extra {
        let p = rng.random_range(1..nprod);
        hold(rng, p, c);
    }
    c.holds_fund.push(Some(fund));
    c.holds_wealth.push(Some(wealth));
    c.holds_card.push(Some(card));

    // Events over the 180 days before as_of, more for active customers.
    let n = poisson(
        rng,
        events_mean * activity * if channel == "branch" { 0.4 } else { 1.0 },
    );
    for k in 0..n {
        let ts = as_of - rng.random_range(0..180 * DAY_US);
        c.e_id.push(format!("E{i:08}-{k:04}"));
        c.e_cust.push(id.clone());
        c.e_ts.push(ts);
        c.e_channel.push(if rng.random::<f64>() < 0.7 {
            channel_for_event(channel)
        } else {
            EVENT_CHANNELS[rng.random_range(0..EVENT_CHANNELS.len())]
        });
        c.e_type.push(pick(rng, EVENT_WEIGHTS));
    }
    c.ids.push(id);
}

fn channel_for_event(preferred: &str) -> &'static str {
    match preferred {
        "mobile_app" => "mobile_app",
        "wechat" => "wechat",
        "web" => "web",
        "call_center" => "call_center",
        _ => "branch",
    }
}
