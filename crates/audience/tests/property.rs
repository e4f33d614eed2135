//! Bitmap evaluation equals a naive row-by-row evaluation, over random customers and random
//! expressions. The expression is generated as a tree, rendered to text (so the lexer,
//! parser and binder are exercised too) and evaluated independently on plain rows here.

use proptest::prelude::*;
use zhiying_audience::meta::{CodeLabel, TagKind, TagMeta};
use zhiying_audience::{IndexBuilder, NULL_CODE, TagValues};

const CODES: &[&str] = &["mass", "affluent", "high", "private"];
const PRODUCTS: &[(&str, &str)] = &[
    ("P1", "fund"),
    ("P2", "fund"),
    ("P3", "wealth"),
    ("P4", "deposit"),
];
const EVENTS: &[&str] = &["login", "complaint"];
const DAY: i64 = 86_400_000_000;
const AS_OF: i64 = 1_000 * DAY;

#[derive(Debug, Clone)]
struct Row {
    tier: Option<usize>,
    age: Option<i64>,
    score: Option<f64>,
    flag: Option<bool>,
    holds: Vec<usize>,
    /// (event type, ts)
    events: Vec<(usize, i64)>,
}

#[derive(Debug, Clone)]
enum E {
    And(Box<E>, Box<E>),
    Or(Box<E>, Box<E>),
    Not(Box<E>),
    Const(bool),
    TierEq(usize, bool),
    TierIn(Vec<usize>, bool),
    AgeCmp(&'static str, i64),
    AgeBetween(i64, i64, bool),
    AgeIn(Vec<i64>, bool),
    ScoreCmp(&'static str, f64),
    Flag(Option<bool>, bool),
    IsNull(usize, bool),
    Holds(usize),
    HoldsCat(&'static str),
    Did(usize, Option<u32>, Option<u32>),
}

fn render(e: &E) -> String {
    let neg = |n: bool| if n { "not " } else { "" };
    match e {
        E::And(a, b) => format!("({} and {})", render(a), render(b)),
        E::Or(a, b) => format!("({} or {})", render(a), render(b)),
        E::Not(a) => format!("not {}", render(a)),
        E::Const(b) => b.to_string(),
        E::TierEq(c, ne) => format!(
            "aum_tier {} \"{}\"",
            if *ne { "!=" } else { "=" },
            CODES[*c]
        ),
        E::TierIn(cs, n) => format!(
            "aum_tier {}in ({})",
            neg(*n),
            cs.iter()
                .map(|c| format!("'{}'", CODES[*c]))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        E::AgeCmp(op, v) => format!("age {op} {v}"),
        E::AgeBetween(lo, hi, n) => format!("age {}between {lo} and {hi}", neg(*n)),
        E::AgeIn(vs, n) => format!(
            "age {}in ({})",
            neg(*n),
            vs.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        E::ScoreCmp(op, v) => format!("score {op} {v}"),
        E::Flag(None, _) => "vip".to_string(),
        E::Flag(Some(b), ne) => format!("vip {} {b}", if *ne { "!=" } else { "=" }),
        E::IsNull(t, n) => format!(
            "{} is {}null",
            ["aum_tier", "age", "score", "vip"][*t],
            if *n { "not " } else { "" }
        ),
        E::Holds(p) => format!("holds(\"{}\")", PRODUCTS[*p].0),
        E::HoldsCat(c) => format!("holds category \"{c}\""),
        E::Did(t, days, min) => match (days, min) {
            (None, _) => format!("did(\"{}\")", EVENTS[*t]),
            (Some(d), None) => format!("did(\"{}\", {d}d)", EVENTS[*t]),
            (Some(d), Some(m)) => format!("did(\"{}\", {d}d, {m})", EVENTS[*t]),
        },
    }
}

fn cmp_i(op: &str, a: i64, b: i64) -> bool {
    match op {
        "=" => a == b,
        "!=" => a != b,
        "<" => a < b,
        "<=" => a <= b,
        ">" => a > b,
        _ => a >= b,
    }
}

fn cmp_f(op: &str, a: f64, b: f64) -> bool {
    match op {
        "=" => a == b,
        "!=" => a != b,
        "<" => a < b,
        "<=" => a <= b,
        ">" => a > b,
        _ => a >= b,
    }
}

/// The reference semantics, one row at a time: a predicate on a null is false; `not` negates.
fn naive(e: &E, r: &Row) -> bool {
    match e {
        E::And(a, b) => naive(a, r) && naive(b, r),
        E::Or(a, b) => naive(a, r) || naive(b, r),
        E::Not(a) => !naive(a, r),
        E::Const(b) => *b,
        E::TierEq(c, ne) => r.tier.is_some_and(|t| (t == *c) != *ne),
        E::TierIn(cs, n) => r.tier.is_some_and(|t| cs.contains(&t) != *n),
        E::AgeCmp(op, v) => r.age.is_some_and(|a| cmp_i(op, a, *v)),
        E::AgeBetween(lo, hi, n) => r.age.is_some_and(|a| (a >= *lo && a <= *hi) != *n),
        E::AgeIn(vs, n) => r.age.is_some_and(|a| vs.contains(&a) != *n),
        E::ScoreCmp(op, v) => r.score.is_some_and(|s| cmp_f(op, s, *v)),
        E::Flag(None, _) => r.flag == Some(true),
        E::Flag(Some(b), ne) => r.flag.is_some_and(|f| (f == *b) != *ne),
        E::IsNull(t, n) => {
            let null = match t {
                0 => r.tier.is_none(),
                1 => r.age.is_none(),
                2 => r.score.is_none(),
                _ => r.flag.is_none(),
            };
            null != *n
        }
        E::Holds(p) => r.holds.contains(p),
        E::HoldsCat(c) => r.holds.iter().any(|&p| PRODUCTS[p].1 == *c),
        E::Did(t, days, min) => {
            let k = min.unwrap_or(1) as usize;
            let n = r
                .events
                .iter()
                .filter(|(et, ts)| {
                    *et == *t
                        && match days {
                            None => true,
                            Some(d) => *ts > AS_OF - i64::from(*d) * DAY && *ts <= AS_OF,
                        }
                })
                .count();
            n >= k
        }
    }
}

fn row() -> impl Strategy<Value = Row> {
    (
        prop::option::weighted(0.85, 0..CODES.len()),
        prop::option::weighted(0.85, 18i64..80),
        prop::option::weighted(0.8, (0u32..=20).prop_map(|x| x as f64 / 20.0)),
        prop::option::weighted(0.8, any::<bool>()),
        prop::collection::vec(0..PRODUCTS.len(), 0..3),
        prop::collection::vec(
            (0..EVENTS.len(), (AS_OF - 60 * DAY)..(AS_OF + 5 * DAY)),
            0..6,
        ),
    )
        .prop_map(|(tier, age, score, flag, holds, events)| Row {
            tier,
            age,
            score,
            flag,
            holds,
            events,
        })
}

fn op() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["=", "!=", "<", "<=", ">", ">="])
}

fn leaf() -> impl Strategy<Value = E> {
    prop_oneof![
        any::<bool>().prop_map(E::Const),
        (0..CODES.len(), any::<bool>()).prop_map(|(c, n)| E::TierEq(c, n)),
        (prop::collection::vec(0..CODES.len(), 1..4), any::<bool>())
            .prop_map(|(c, n)| E::TierIn(c, n)),
        (op(), 15i64..85).prop_map(|(o, v)| E::AgeCmp(o, v)),
        (15i64..85, 0i64..30, any::<bool>()).prop_map(|(lo, w, n)| E::AgeBetween(lo, lo + w, n)),
        (prop::collection::vec(18i64..80, 1..4), any::<bool>()).prop_map(|(v, n)| E::AgeIn(v, n)),
        (op(), (0u32..=20).prop_map(|x| x as f64 / 20.0)).prop_map(|(o, v)| E::ScoreCmp(o, v)),
        (prop::option::of(any::<bool>()), any::<bool>()).prop_map(|(b, n)| E::Flag(b, n)),
        (0usize..4, any::<bool>()).prop_map(|(t, n)| E::IsNull(t, n)),
        (0..PRODUCTS.len()).prop_map(E::Holds),
        prop::sample::select(vec!["fund", "wealth", "deposit", "gold"]).prop_map(E::HoldsCat),
        (
            0..EVENTS.len(),
            prop::option::of(1u32..70),
            prop::option::of(1u32..4)
        )
            .prop_map(|(t, d, m)| {
                // The grammar only takes a minimum count after a window.
                E::Did(t, d, if d.is_some() { m } else { None })
            }),
    ]
}

fn expr() -> impl Strategy<Value = E> {
    leaf().prop_recursive(5, 40, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| E::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| E::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| E::Not(Box::new(a))),
        ]
    })
}

fn meta(key: &str, kind: TagKind, values: Vec<CodeLabel>) -> TagMeta {
    TagMeta {
        key: key.into(),
        name_zh: String::new(),
        name_en: key.into(),
        description: String::new(),
        category: String::new(),
        kind,
        values,
        version: serde_json::Value::Null,
        owner: String::new(),
    }
}

fn build(rows: &[Row]) -> zhiying_audience::AudienceIndex {
    let ids = (0..rows.len()).map(|i| format!("C{i}")).collect();
    let mut b = IndexBuilder::new(ids);
    // The dictionary order differs from the declared order on purpose.
    let dict: Vec<String> = CODES.iter().rev().map(|s| s.to_string()).collect();
    let codes = rows
        .iter()
        .map(|r| r.tier.map_or(NULL_CODE, |t| (CODES.len() - 1 - t) as u32))
        .collect();
    let labels = CODES
        .iter()
        .map(|c| CodeLabel {
            code: c.to_string(),
            zh: String::new(),
            en: String::new(),
        })
        .collect();
    b.tag(
        meta("aum_tier", TagKind::Categorical, labels),
        TagValues::Categorical { dict, codes },
    );
    b.tag(
        meta("age", TagKind::Numeric, vec![]),
        TagValues::Numeric(
            rows.iter()
                .map(|r| r.age.map_or(f64::NAN, |a| a as f64))
                .collect(),
        ),
    );
    b.tag(
        meta("score", TagKind::Numeric, vec![]),
        TagValues::Numeric(rows.iter().map(|r| r.score.unwrap_or(f64::NAN)).collect()),
    );
    b.tag(
        meta("vip", TagKind::Flag, vec![]),
        TagValues::Flag(rows.iter().map(|r| r.flag).collect()),
    );
    for (p, c) in PRODUCTS {
        b.product(p, c);
    }
    for (i, r) in rows.iter().enumerate() {
        for &p in &r.holds {
            b.holding(i as u32, PRODUCTS[p].0);
        }
        for &(t, ts) in &r.events {
            b.event(i as u32, EVENTS[t], ts);
        }
    }
    b.as_of(AS_OF, None);
    b.build().expect("valid fixture")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn bitmap_equals_row_by_row(rows in prop::collection::vec(row(), 0..150), e in expr()) {
        let index = build(&rows);
        let src = render(&e);
        let got: Vec<u32> = index.members(&src).map_err(|err| TestCaseError::fail(format!("{src}\n{err}")))?.iter().collect();
        let want: Vec<u32> = rows.iter().enumerate().filter(|(_, r)| naive(&e, r)).map(|(i, _)| i as u32).collect();
        prop_assert_eq!(&got, &want, "expression: {}", src);
        // One customer at a time (the real-time watcher's path) agrees with the bitmaps.
        let q = index.compile(&src).unwrap();
        let one_by_one: Vec<u32> = (0..rows.len() as u32)
            .filter(|&c| index.matches(&q, Some(c), &zhiying_audience::NoLiveFacts))
            .collect();
        prop_assert_eq!(one_by_one, want, "per-customer: {}", src);
    }

    /// De Morgan and double negation hold on the bitmaps too.
    #[test]
    fn negation_laws(rows in prop::collection::vec(row(), 0..100), a in leaf(), b in leaf()) {
        let index = build(&rows);
        let (a, b) = (render(&a), render(&b));
        let l = index.members(&format!("not ({a} and {b})")).unwrap();
        let r = index.members(&format!("not ({a}) or not ({b})")).unwrap();
        prop_assert_eq!(l, r);
        prop_assert_eq!(index.members(&format!("not not ({a})")).unwrap(), index.members(&a).unwrap());
    }
}

/// Large columns take the columnar-scan path of numeric ranges; check it against the
/// naive evaluation on enough rows that both paths run.
#[test]
fn numeric_paths_agree_on_a_large_column() {
    let rows: Vec<Row> = (0..5_000)
        .map(|i| Row {
            tier: Some(i % 4),
            age: if i % 13 == 0 {
                None
            } else {
                Some(18 + (i as i64 * 7919) % 62)
            },
            score: Some((i % 21) as f64 / 20.0),
            flag: Some(i % 3 == 0),
            holds: vec![],
            events: vec![],
        })
        .collect();
    let index = build(&rows);
    for e in [
        E::AgeCmp(">=", 20), // wide: columnar scan
        E::AgeCmp("=", 40),  // narrow: sorted ids
        E::AgeBetween(30, 31, false),
        E::AgeBetween(30, 70, true),
        E::ScoreCmp("<", 0.5),
        E::AgeIn(vec![18, 79, 50], true),
    ] {
        let src = render(&e);
        let got: Vec<u32> = index.members(&src).unwrap().iter().collect();
        let want: Vec<u32> = rows
            .iter()
            .enumerate()
            .filter(|(_, r)| naive(&e, r))
            .map(|(i, _)| i as u32)
            .collect();
        assert_eq!(got, want, "{src}");
    }
}
