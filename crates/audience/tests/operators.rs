//! Each operator on a hand-computed table of six customers, binder errors with positions
//! and messages, and a round trip through the Parquet fixture.

use zhiying_audience::meta::{CodeLabel, TagKind, TagMeta};
use zhiying_audience::{AudienceIndex, ExprErrorKind, IndexBuilder, NULL_CODE, TagValues};

const DAY: i64 = 86_400_000_000;
const AS_OF: i64 = 2_000 * DAY;

fn meta(key: &str, zh: &str, kind: TagKind, values: &[(&str, &str)]) -> TagMeta {
    TagMeta {
        key: key.into(),
        name_zh: zh.into(),
        name_en: key.into(),
        description: String::new(),
        category: String::new(),
        kind,
        values: values
            .iter()
            .map(|(c, zh)| CodeLabel {
                code: c.to_string(),
                zh: zh.to_string(),
                en: String::new(),
            })
            .collect(),
        version: serde_json::Value::Null,
        owner: String::new(),
    }
}

/// | id | aum_tier | age  | churn | holds_fund | holdings   | logins (days before as_of) |
/// |----|----------|------|-------|------------|------------|----------------------------|
/// | 0  | mass     | 25   | 0.1   | false      | P1         | 1, 2, 40                   |
/// | 1  | high     | 41   | 0.7   | true       | P2 (fund)  | 10                         |
/// | 2  | private  | 60   | null  | true       | P2, P3     | —                          |
/// | 3  | null     | null | 0.9   | null       | —          | 5, 6, 7, 8                 |
/// | 4  | affluent | 35   | 0.3   | false      | P3         | 100                        |
/// | 5  | high     | 41   | 0.5   | false      | —          | 29 (complaint: 3)          |
fn index() -> AudienceIndex {
    let ids = (0..6).map(|i| format!("C{i}")).collect();
    let mut b = IndexBuilder::new(ids);
    let tiers = [
        ("mass", "大众客户"),
        ("affluent", "富裕客户"),
        ("high", "高净值客户"),
        ("private", "私人银行客户"),
    ];
    b.tag(
        meta("aum_tier", "资产等级", TagKind::Categorical, &tiers),
        TagValues::Categorical {
            dict: vec![
                "high".into(),
                "mass".into(),
                "private".into(),
                "affluent".into(),
            ],
            codes: vec![1, 0, 2, NULL_CODE, 3, 0],
        },
    );
    let nan = f64::NAN;
    b.tag(
        meta("age", "年龄", TagKind::Numeric, &[]),
        TagValues::Numeric(vec![25.0, 41.0, 60.0, nan, 35.0, 41.0]),
    );
    b.tag(
        meta("churn_risk", "流失风险", TagKind::Numeric, &[]),
        TagValues::Numeric(vec![0.1, 0.7, nan, 0.9, 0.3, 0.5]),
    );
    b.tag(
        meta("holds_fund", "持有基金", TagKind::Flag, &[]),
        TagValues::Flag(vec![
            Some(false),
            Some(true),
            Some(true),
            None,
            Some(false),
            Some(false),
        ]),
    );
    b.product("P1", "deposit")
        .product("P2", "fund")
        .product("P3", "wealth");
    b.holding(0, "P1")
        .holding(1, "P2")
        .holding(2, "P2")
        .holding(2, "P3")
        .holding(4, "P3");
    for (c, days) in [
        (0u32, 1i64),
        (0, 2),
        (0, 40),
        (1, 10),
        (3, 5),
        (3, 6),
        (3, 7),
        (3, 8),
        (4, 100),
        (5, 29),
    ] {
        b.event(c, "login", AS_OF - days * DAY);
    }
    b.event(5, "complaint", AS_OF - 3 * DAY);
    // An event after as_of is outside every window.
    b.event(4, "login", AS_OF + DAY);
    b.as_of(AS_OF, None);
    b.build().unwrap()
}

fn ids(ix: &AudienceIndex, src: &str) -> Vec<u32> {
    ix.members(src)
        .unwrap_or_else(|e| panic!("{src}:\n{e}"))
        .iter()
        .collect()
}

#[test]
fn categorical_operators() {
    let ix = index();
    assert_eq!(ids(&ix, "aum_tier = \"high\""), vec![1, 5]);
    assert_eq!(ids(&ix, "aum_tier = high"), vec![1, 5]);
    assert_eq!(ids(&ix, "aum_tier != 'high'"), vec![0, 2, 4]); // null excluded
    assert_eq!(ids(&ix, "not aum_tier = 'high'"), vec![0, 2, 3, 4]); // complement includes null
    assert_eq!(
        ids(&ix, "aum_tier in (\"high\", \"private\")"),
        vec![1, 2, 5]
    );
    assert_eq!(
        ids(&ix, "aum_tier not in (\"high\", \"private\")"),
        vec![0, 4]
    );
    assert_eq!(ids(&ix, "aum_tier is null"), vec![3]);
    assert_eq!(ids(&ix, "aum_tier is not null"), vec![0, 1, 2, 4, 5]);
    // Labels work as values; Chinese tag names as names.
    assert_eq!(ids(&ix, "资产等级 = \"高净值客户\""), vec![1, 5]);
    assert_eq!(ids(&ix, "AUM_TIER = 'HIGH'"), vec![1, 5]);
}

#[test]
fn numeric_operators() {
    let ix = index();
    assert_eq!(ids(&ix, "age = 41"), vec![1, 5]);
    assert_eq!(ids(&ix, "age != 41"), vec![0, 2, 4]);
    assert_eq!(ids(&ix, "age < 35"), vec![0]);
    assert_eq!(ids(&ix, "age <= 35"), vec![0, 4]);
    assert_eq!(ids(&ix, "age > 41"), vec![2]);
    assert_eq!(ids(&ix, "age >= 41"), vec![1, 2, 5]);
    assert_eq!(ids(&ix, "age between 35 and 41"), vec![1, 4, 5]);
    assert_eq!(ids(&ix, "age not between 35 and 41"), vec![0, 2]);
    assert_eq!(ids(&ix, "age in (25, 60, 99)"), vec![0, 2]);
    assert_eq!(ids(&ix, "age not in (25, 60)"), vec![1, 4, 5]);
    assert_eq!(ids(&ix, "age is null"), vec![3]);
    assert_eq!(ids(&ix, "churn_risk >= 0.5"), vec![1, 3, 5]);
    assert_eq!(ids(&ix, "年龄 >= 40 且 流失风险 > 0.6"), vec![1]);
}

#[test]
fn flags_and_boolean_structure() {
    let ix = index();
    assert_eq!(ids(&ix, "holds_fund"), vec![1, 2]);
    assert_eq!(ids(&ix, "holds_fund = true"), vec![1, 2]);
    assert_eq!(ids(&ix, "holds_fund = false"), vec![0, 4, 5]);
    assert_eq!(ids(&ix, "holds_fund != true"), vec![0, 4, 5]);
    assert_eq!(ids(&ix, "not holds_fund"), vec![0, 3, 4, 5]);
    assert_eq!(ids(&ix, "holds_fund is null"), vec![3]);
    assert_eq!(ids(&ix, "true"), vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(ids(&ix, "false"), Vec::<u32>::new());
    assert_eq!(ids(&ix, "age < 30 or age > 50 and holds_fund"), vec![0, 2]);
    assert_eq!(ids(&ix, "(age < 30 or age > 50) and holds_fund"), vec![2]);
    assert_eq!(
        ids(&ix, "!holds_fund && aum_tier = 'high' || age = 60"),
        vec![2, 5]
    );
    assert_eq!(
        ids(&ix, "非 持有基金 且 (资产等级 = high 或 age = 25)"),
        vec![0, 5]
    );
}

#[test]
fn holdings_and_events() {
    let ix = index();
    assert_eq!(ids(&ix, "holds(\"P2\")"), vec![1, 2]);
    assert_eq!(ids(&ix, "holds product \"P3\""), vec![2, 4]);
    assert_eq!(ids(&ix, "holds category \"fund\""), vec![1, 2]);
    assert_eq!(ids(&ix, "holds(category \"wealth\")"), vec![2, 4]);
    assert_eq!(ids(&ix, "holds category \"gold\""), Vec::<u32>::new());
    assert_eq!(ids(&ix, "did(\"login\")"), vec![0, 1, 3, 4, 5]);
    assert_eq!(ids(&ix, "did(\"login\", 7d)"), vec![0, 3]);
    assert_eq!(ids(&ix, "did(\"login\", 30d)"), vec![0, 1, 3, 5]);
    assert_eq!(ids(&ix, "did(\"login\", 30d, 2)"), vec![0, 3]);
    // The window is (as_of - N days, as_of]: an event exactly N days back is outside.
    assert_eq!(ids(&ix, "did(\"login\", 7d, 3)"), Vec::<u32>::new()); // days 5, 6
    assert_eq!(ids(&ix, "did(\"login\", 8d, 3)"), vec![3]); // days 5, 6, 7
    assert_eq!(ids(&ix, "did(\"login\", 365d, 4)"), vec![3]);
    assert_eq!(ids(&ix, "did('complaint', 30d)"), vec![5]);
    assert_eq!(ids(&ix, "not did(\"login\", 30d)"), vec![2, 4]);
    // A canonical event type without data is valid and empty.
    assert_eq!(ids(&ix, "did(\"chat\", 30d)"), Vec::<u32>::new());
}

fn err(ix: &AudienceIndex, src: &str) -> zhiying_audience::ExprError {
    match ix.members(src) {
        Ok(m) => panic!("{src} should fail, got {} members", m.len()),
        Err(e) => e,
    }
}

#[test]
fn unknown_tags_get_did_you_mean() {
    let ix = index();
    let e = err(&ix, "age > 30 and aum_teir = 'high'");
    assert_eq!(e.kind, ExprErrorKind::UnknownTag);
    assert_eq!(e.message, "unknown tag `aum_teir`");
    assert_eq!((e.line, e.column), (1, 14));
    assert_eq!(e.suggestion.as_deref(), Some("aum_tier"));
    assert_eq!(e.caret, format!("{}{}", " ".repeat(13), "^".repeat(8)));
    let e = err(&ix, "资产等极 = 'high'");
    assert_eq!(e.suggestion.as_deref(), Some("资产等级"));
    let e = err(&ix, "zzz = 1");
    assert_eq!(e.suggestion, None);
}

#[test]
fn type_errors() {
    let ix = index();
    let e = err(&ix, "aum_tier = 3");
    assert_eq!(e.kind, ExprErrorKind::Type);
    assert_eq!(
        e.message,
        "cannot compare categorical tag `aum_tier` with the number 3"
    );
    assert_eq!(e.column, 12);
    assert!(
        e.valid.contains(&"high (高净值客户)".to_string()),
        "{:?}",
        e.valid
    );
    let e = err(&ix, "aum_tier > 'high'");
    assert_eq!(
        e.message,
        "`aum_tier` is a categorical tag and has no order"
    );
    assert_eq!(e.column, 10);
    let e = err(&ix, "age = 'old'");
    assert_eq!(
        e.message,
        "`age` is numeric; expected a number, found the string \"old\""
    );
    let e = err(&ix, "age");
    assert_eq!(
        e.message,
        "`age` is a numeric tag; only flags can stand alone"
    );
    let e = err(&ix, "holds_fund = 1");
    assert_eq!(
        e.message,
        "`holds_fund` is a flag; compare it with true or false"
    );
    let e = err(&ix, "age between 50 and 40");
    assert_eq!(e.message, "the lower bound 50 is above the upper bound 40");
    let e = err(&ix, "holds_fund in (true)");
    assert!(e.message.contains("`in (…)` needs"), "{}", e.message);
}

#[test]
fn unknown_values_list_the_valid_ones() {
    let ix = index();
    let e = err(&ix, "aum_tier = \"hihg\"");
    assert_eq!(e.kind, ExprErrorKind::UnknownValue);
    assert_eq!(e.message, "`hihg` is not a value of `aum_tier`");
    assert_eq!(e.suggestion.as_deref(), Some("high"));
    assert_eq!(
        e.valid,
        vec![
            "mass (大众客户)",
            "affluent (富裕客户)",
            "high (高净值客户)",
            "private (私人银行客户)"
        ]
    );
    let rendered = e.to_string();
    assert!(
        rendered.contains("error at 1:12: `hihg` is not a value of `aum_tier`"),
        "{rendered}"
    );
    assert!(
        rendered.contains("valid: mass (大众客户), affluent"),
        "{rendered}"
    );
    let e = err(&ix, "holds category \"funds\"");
    assert_eq!(e.suggestion.as_deref(), Some("fund"));
    assert!(e.valid.contains(&"wealth".to_string()));
    let e = err(&ix, "holds(\"P9\")");
    assert_eq!(e.message, "unknown product `P9`");
    let e = err(&ix, "holds(\"fund\")");
    assert_eq!(e.suggestion.as_deref(), Some("holds category \"fund\""));
    let e = err(&ix, "did(\"logn\", 30d)");
    assert_eq!(e.message, "unknown event type `logn`");
    assert_eq!(e.suggestion.as_deref(), Some("login"));
}

#[test]
fn fixture_round_trip_through_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let dd = zhiying_core::DataDir::new(dir.path());
    let spec = zhiying_audience::fixture::FixtureSpec {
        customers: 3_000,
        ..Default::default()
    };
    let rep = zhiying_audience::fixture::write_fixture(&dd, &spec).unwrap();
    let (ix, load) = zhiying_audience::load_index(&dd).unwrap();
    assert_eq!(ix.customers(), 3_000);
    assert_eq!(load.tags, rep.tags);
    assert_eq!(load.events, rep.events);
    assert_eq!(load.unmatched_fact_rows, 0);
    // The flag the tag table carries agrees with the holdings fact.
    assert_eq!(
        ix.members("holds_fund").unwrap(),
        ix.members("holds category \"fund\"").unwrap()
    );
    assert_eq!(
        ix.members("holds_wealth").unwrap(),
        ix.members("holds category 'wealth'").unwrap()
    );
    // Every customer is in exactly one aum tier or null; tiers partition the universe.
    let tiers: u64 = ["mass", "affluent", "high", "private"]
        .iter()
        .map(|t| ix.members(&format!("aum_tier = '{t}'")).unwrap().len())
        .sum();
    assert_eq!(tiers + ix.members("aum_tier is null").unwrap().len(), 3_000);
    // aum_tier follows aum_fen (50万元 = 50,000,000 分).
    assert_eq!(
        ix.members("aum_tier = 'mass'").unwrap(),
        ix.members("aum_fen < 50000000").unwrap()
    );
    // Windows nest.
    let d7 = ix.members("did('login', 7d)").unwrap();
    let d30 = ix.members("did('login', 30d)").unwrap();
    assert!(d7.is_subset(&d30) && !d7.is_empty() && d30.len() < 3_000);
    // Export round trip: CSV has a header and one row per member.
    let members = ix.members("aum_tier = 'high' and age >= 40").unwrap();
    let mut csv_out = Vec::new();
    let n = zhiying_audience::ops::export(
        &ix,
        &dd,
        &members,
        &["aum_tier".into(), "age".into(), "holds_fund".into()],
        zhiying_audience::ops::ExportFormat::Csv,
        &mut csv_out,
    )
    .unwrap();
    assert_eq!(n, members.len());
    let text = String::from_utf8(csv_out).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("customer_id,aum_tier,age,holds_fund"));
    let first = lines.next().unwrap();
    let first_id = ix.customer_id(members.min().unwrap()).unwrap();
    assert!(first.starts_with(&format!("{first_id},high,")), "{first}");
    assert_eq!(text.lines().count() as u64, members.len() + 1);
    // Snapshot round trip.
    let path = dir.path().join("snap.parquet");
    assert_eq!(
        zhiying_audience::ops::write_snapshot(&ix, &members, &path).unwrap(),
        members.len()
    );
    let f = std::fs::File::open(&path).unwrap();
    let rows: usize = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum();
    assert_eq!(rows as u64, members.len());
}

#[test]
fn sample_is_deterministic_and_prefix_stable() {
    let ix = index();
    let all = ix.members("true").unwrap();
    let a = zhiying_audience::ops::sample(&ix, &all, 3, 7);
    let b = zhiying_audience::ops::sample(&ix, &all, 3, 7);
    let c = zhiying_audience::ops::sample(&ix, &all, 5, 7);
    assert_eq!(a, b);
    assert_eq!(a.len(), 3);
    assert_eq!(&c[..3], &a[..]);
    let mut sorted = c.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 5);
    assert_eq!(zhiying_audience::ops::sample(&ix, &all, 100, 7).len(), 6);
}
