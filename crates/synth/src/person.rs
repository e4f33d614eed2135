//! One person at a time: demographics, records, accounts, holdings, a month-by-month
//! simulation of transactions and events, consents, campaign contacts and responses.
//!
//! Everything a person produces is drawn from RNGs seeded by (seed, person index), so the
//! output of a person does not depend on which chunk or thread generated it.

use crate::catalog::*;
use crate::ids::*;
use crate::model::*;
use crate::sink::TableBuf;
use crate::stats::{DIRTY_KINDS, Stats};
use rand::Rng;
use rand_distr::StandardNormal;
use rand_pcg::Pcg64Mcg;
use std::fmt::Write as _;
use std::io::Write as _;
use zhiying_core::schema::{
    ACCOUNTS, ASSIGNMENTS, CONSENTS, CONTACT_GROUPS, CONTACTS, CUSTOMER_RISK_LEVELS, CUSTOMERS,
    EVENTS, EXPERIMENTS, IDENTITIES, PRODUCT_HOLDINGS, RESPONSES, TRANSACTIONS, TableDef,
};
use zhiying_core::time::{civil_from_days, days_from_civil};

/// Output table order (every fact table but `applicants`).
pub const TABLES: [&TableDef; 14] = [
    &CUSTOMERS,
    &IDENTITIES,
    &ACCOUNTS,
    &zhiying_core::schema::PRODUCTS,
    &PRODUCT_HOLDINGS,
    &TRANSACTIONS,
    &EVENTS,
    &zhiying_core::schema::OFFERS,
    &zhiying_core::schema::CAMPAIGNS,
    &CONTACTS,
    &RESPONSES,
    &CONSENTS,
    &EXPERIMENTS,
    &ASSIGNMENTS,
];
pub const T_CUST: usize = 0;
pub const T_IDENT: usize = 1;
pub const T_ACCT: usize = 2;
pub const T_HOLD: usize = 4;
pub const T_TXN: usize = 5;
pub const T_EVT: usize = 6;
pub const T_CONTACT: usize = 9;
pub const T_RESP: usize = 10;
pub const T_CONSENT: usize = 11;
pub const T_ASSIGN: usize = 13;

/// Probability that a transaction memo or an event note carries PII.
pub const PII_SHARE: f64 = 0.05;
/// Share of persons who also have a record in the card system.
pub const DUPLICATE_SHARE: f64 = 0.02;
/// Share of those duplicate records that carry the phone only (no resident ID).
pub const DUPLICATE_PHONE_ONLY: f64 = 0.3;

/// Shared, read-only description of the bank being generated.
pub struct World {
    pub seed: u64,
    pub months: u32,
    pub end_day: i32,
    pub start_day: i32,
    /// First day of each month of history, plus the day after the end.
    pub month_start: Vec<i32>,
    pub csv: bool,
    pub dirty_share: f64,
    /// (start, end) day of each campaign in [`CAMPAIGNS`].
    pub campaigns: Vec<(i32, i32)>,
    pub experiment: (i32, i32),
}

impl World {
    pub fn new(
        seed: u64,
        months: u32,
        end: chrono::NaiveDate,
        csv: bool,
        dirty_share: f64,
    ) -> Self {
        use chrono::Datelike;
        let end_day = days_from_civil(end.year(), end.month(), end.day());
        let (mut y, mut m) = (end.year(), end.month() as i32);
        let mut month_start = Vec::with_capacity(months as usize + 1);
        for _ in 0..months {
            month_start.push(days_from_civil(y, m as u32, 1));
            m -= 1;
            if m == 0 {
                m = 12;
                y -= 1;
            }
        }
        month_start.reverse();
        month_start.push(end_day + 1);
        let start_day = month_start[0];
        let span = (end_day - start_day + 1) as f64;
        let place = |frac: f64| {
            let s = start_day + (span * frac) as i32;
            (s, (s + CAMPAIGN_DAYS - 1).min(end_day))
        };
        World {
            seed,
            months,
            end_day,
            start_day,
            month_start,
            csv,
            dirty_share,
            campaigns: CAMPAIGNS.iter().map(|c| place(c.frac)).collect(),
            experiment: place(EXPERIMENT_FRAC),
        }
    }
}

/// UTC seconds of a China-local (UTC+8) wall-clock time on `day`.
#[inline]
fn at(day: i32, local_secs: u32) -> i64 {
    day as i64 * 86_400 + local_secs as i64 - 8 * 3600
}

#[inline]
fn u(r: &mut Pcg64Mcg) -> f64 {
    r.random::<f64>()
}

#[inline]
fn normal(r: &mut Pcg64Mcg) -> f64 {
    r.sample::<f64, _>(StandardNormal)
}

/// Knuth's Poisson sampler; λ is small here.
fn poisson(r: &mut Pcg64Mcg, lambda: f64) -> u32 {
    if lambda <= 0.0 {
        return 0;
    }
    let l = (-lambda).exp();
    let mut k = 0;
    let mut p = u(r);
    while p > l && k < 1000 {
        k += 1;
        p *= u(r);
    }
    k
}

fn pick<T: Copy>(r: &mut Pcg64Mcg, xs: &[T]) -> T {
    xs[r.random_range(0..xs.len())]
}

fn weighted(r: &mut Pcg64Mcg, w: &[f64]) -> usize {
    let total: f64 = w.iter().sum();
    let mut x = u(r) * total;
    for (i, &wi) in w.iter().enumerate() {
        if x < wi {
            return i;
        }
        x -= wi;
    }
    w.len() - 1
}

/// Seconds into the local day between `h0:00` and `h1:00`.
fn local_time(r: &mut Pcg64Mcg, h0: u32, h1: u32) -> u32 {
    r.random_range(h0 * 3600..h1 * 3600)
}

/// A string stored in the per-person arena, or a static one.
#[derive(Clone, Copy)]
enum Text {
    None,
    S(&'static str),
    A(u32, u32),
}

#[derive(Clone, Copy)]
struct Txn {
    secs: i64,
    acct: u8,
    amount: i64,
    credit: bool,
    channel: &'static str,
    typ: &'static str,
    mcc: Option<&'static str>,
    cp: Text,
    desc: Text,
    pii: bool,
}

#[derive(Clone, Copy)]
struct Evt {
    secs: i64,
    channel: &'static str,
    typ: &'static str,
    item: Text,
    detail: Text,
}

struct Acct {
    /// Account id number; the id is `prefix` + 10 digits.
    prefix: &'static str,
    num: u64,
    card_owned: bool,
    typ: &'static str,
    open: i32,
    close: Option<i32>,
    status: &'static str,
    balance: i64,
    limit: Option<i64>,
    maturity: Option<i32>,
}

struct Hold {
    product: usize,
    acct: Option<u8>,
    start: i32,
    end: Option<i32>,
    amount: i64,
    status: &'static str,
}

#[derive(Clone, Copy)]
struct Consent {
    purpose: &'static str,
    channel: &'static str,
    granted: bool,
    day: i32,
    secs: i64,
}

/// Per-chunk output plus scratch space reused across persons (no per-person allocation).
pub struct Out {
    pub t: Vec<TableBuf>,
    pub truth: Vec<u8>,
    pub stats: Stats,
    arena: String,
    txns: Vec<Txn>,
    evts: Vec<Evt>,
    accts: Vec<Acct>,
    holds: Vec<Hold>,
    consents: Vec<Consent>,
    name: String,
    card: Vec<u8>,
    credit_card: Vec<u8>,
    raw: Vec<u8>,
}

impl Out {
    /// Empties the output for the next chunk, keeping every allocation.
    pub fn reset(&mut self) {
        for t in &mut self.t {
            t.clear();
        }
        self.truth.clear();
        self.stats = Stats::default();
    }

    pub fn new(csv: bool) -> Self {
        Out {
            t: TABLES.iter().map(|t| TableBuf::new(t, csv)).collect(),
            truth: Vec::with_capacity(1 << 16),
            stats: Stats::default(),
            arena: String::with_capacity(4096),
            txns: Vec::with_capacity(1024),
            evts: Vec::with_capacity(1024),
            accts: Vec::new(),
            holds: Vec::new(),
            consents: Vec::new(),
            name: String::new(),
            card: Vec::new(),
            credit_card: Vec::new(),
            raw: Vec::new(),
        }
    }
}

fn text(arena: &str, t: Text) -> Option<&str> {
    match t {
        Text::None => None,
        Text::S(s) => Some(s),
        Text::A(a, b) => Some(&arena[a as usize..b as usize]),
    }
}

/// Appends a random person's name (someone other than the customer) to `s`.
fn random_name(r: &mut Pcg64Mcg, s: &mut String) {
    let sur = SURNAMES[((u(r) * u(r)) * SURNAMES.len() as f64) as usize];
    s.push_str(sur);
    let given = if r.random_bool(0.5) {
        MALE_GIVEN
    } else {
        FEMALE_GIVEN
    };
    s.push_str(pick(r, given));
    if r.random_bool(0.65) {
        s.push_str(pick(r, given));
    }
}

fn random_phone(r: &mut Pcg64Mcg, s: &mut String) {
    s.push_str(pick(r, MOBILE_PREFIXES));
    let _ = write!(s, "{:08}", r.random_range(0..100_000_000u32));
}

struct Person {
    male: bool,
    birth: i32,
    rid: [u8; 18],
    phone: [u8; 11],
    city: usize,
    occupation: &'static str,
    education: &'static str,
    marital: &'static str,
    income_fen: i64,
    risk: u8,
    open: i32,
    branch: u64,
    f: Features,
    salary_here: bool,
    salary_day: i32,
    employer: &'static str,
    dup: Option<DupRecord>,
    churned: bool,
    churn_month: usize,
    churn_z: f64,
    sms_fee: bool,
}

#[derive(Clone, Copy)]
struct DupRecord {
    num: u64,
    with_rid: bool,
    open: i32,
}

fn sample_age(r: &mut Pcg64Mcg) -> i32 {
    const BANDS: [(i32, i32, f64); 6] = [
        (18, 25, 0.10),
        (25, 35, 0.24),
        (35, 45, 0.22),
        (45, 55, 0.19),
        (55, 65, 0.14),
        (65, 81, 0.11),
    ];
    let w: [f64; 6] = BANDS.map(|b| b.2);
    let (lo, hi, _) = BANDS[weighted(r, &w)];
    r.random_range(lo..hi)
}

fn occupation_for(r: &mut Pcg64Mcg, age: i32, educated: bool) -> &'static str {
    if age < 23 {
        ["student", "employee", "services", "unemployed"][weighted(r, &[0.6, 0.25, 0.1, 0.05])]
    } else if age >= 60 {
        [
            "retired",
            "self_employed",
            "business_owner",
            "farmer",
            "employee",
        ][weighted(r, &[0.8, 0.05, 0.03, 0.07, 0.05])]
    } else {
        const O: [&str; 11] = [
            "employee",
            "professional",
            "civil_servant",
            "self_employed",
            "business_owner",
            "technician",
            "services",
            "blue-collar",
            "farmer",
            "management",
            "unemployed",
        ];
        let prof = if educated { 20.0 } else { 6.0 };
        O[weighted(
            r,
            &[35.0, prof, 6.0, 9.0, 4.0, 7.0, 9.0, 8.0, 4.0, 5.0, 3.0],
        )]
    }
}

fn median_income(occupation: &str) -> f64 {
    match occupation {
        "student" => 1500.0,
        "employee" => 8000.0,
        "civil_servant" => 9000.0,
        "professional" => 15000.0,
        "self_employed" => 10000.0,
        "business_owner" => 25000.0,
        "farmer" => 3500.0,
        "retired" => 4500.0,
        "unemployed" => 1000.0,
        "technician" => 9000.0,
        "management" => 20000.0,
        "services" | "blue-collar" => 5500.0,
        _ => 6000.0,
    }
}

fn demographics(w: &World, idx: u64, r: &mut Pcg64Mcg, name: &mut String) -> Person {
    let male = r.random_bool(0.5);
    let target_age = sample_age(r);
    // Birth day of year, birth area and sequence come from a bijection of the index, so
    // resident IDs never collide (up to RID_SPACE persons); the birth year is random.
    let y = scramble(idx % RID_SPACE, RID_SPACE, RID_MULT, 12_345);
    let doy = (y % 365) as i32;
    let area_i = (y / 365 % 100) as usize;
    let seq500 = (y / 36_500) as u32;
    let (ey, em, ed) = civil_from_days(w.end_day);
    let birth = days_from_civil(ey - target_age, 1, 1) + doy;
    let (by, bm, bd) = civil_from_days(birth);
    let age = ey - by - if (bm, bd) > (em, ed) { 1 } else { 0 };
    let birth_city = area_i / DISTRICTS.len();
    let area = CITIES[birth_city].prefix * 100 + DISTRICTS[area_i % DISTRICTS.len()];
    let mut rid = [0u8; 18];
    resident_id(&mut rid, area, by, bm, bd, seq500 * 2 + male as u32);

    let city = if r.random_bool(0.6) {
        birth_city
    } else {
        let wts: Vec<f64> = CITIES.iter().map(|c| c.weight as f64).collect();
        weighted(r, &wts)
    };
    let mut phone = [0u8; 11];
    phone[..3].copy_from_slice(pick(r, MOBILE_PREFIXES).as_bytes());
    write_digits(
        &mut phone[3..],
        scramble(idx, 100_000_000, 48_271_337, 37_519_283),
    );

    name.clear();
    name.push_str(SURNAMES[((u(r) * u(r)) * SURNAMES.len() as f64) as usize]);
    let given = if male { MALE_GIVEN } else { FEMALE_GIVEN };
    name.push_str(pick(r, given));
    if r.random_bool(0.65) {
        name.push_str(pick(r, given));
    }

    const EDU: [&str; 5] = [
        "primary",
        "secondary",
        "tertiary",
        "postgraduate",
        "unknown",
    ];
    let edu_w: [f64; 5] = if age < 35 {
        [0.03, 0.30, 0.53, 0.12, 0.02]
    } else if age < 55 {
        [0.08, 0.42, 0.40, 0.08, 0.02]
    } else {
        [0.25, 0.48, 0.22, 0.03, 0.02]
    };
    let education = EDU[weighted(r, &edu_w)];
    let educated = matches!(education, "tertiary" | "postgraduate");
    let occupation = occupation_for(r, age, educated);

    const MAR: [&str; 4] = ["single", "married", "divorced", "widowed"];
    let mar_w: [f64; 4] = if age < 25 {
        [0.9, 0.1, 0.0, 0.0]
    } else if age < 35 {
        [0.4, 0.57, 0.03, 0.0]
    } else if age < 60 {
        [0.08, 0.82, 0.08, 0.02]
    } else {
        [0.02, 0.75, 0.05, 0.18]
    };
    let marital = MAR[weighted(r, &mar_w)];
    let children = match marital {
        "married" if (26..=50).contains(&age) => r.random_bool(0.75),
        "divorced" if (26..=50).contains(&age) => r.random_bool(0.5),
        _ => false,
    };

    let mut med = median_income(occupation);
    med *= if age < 25 {
        0.7
    } else if (35..50).contains(&age) {
        1.25
    } else if age >= 55 && occupation != "retired" {
        0.9
    } else {
        1.0
    };
    med *= match education {
        "postgraduate" => 1.4,
        "tertiary" => 1.15,
        "primary" => 0.75,
        _ => 1.0,
    };
    if CITIES[city].tier == 1 {
        med *= 1.4;
    }
    let income_yuan = ((med * (0.45 * normal(r)).exp()) / 100.0).round().max(5.0) * 100.0;
    let income_fen = income_yuan as i64 * 100;
    let inc = (income_yuan / 8000.0).ln();

    let rs =
        normal(r) + 0.5 * (age < 40) as i32 as f64 - 0.6 * (age >= 60) as i32 as f64 + 0.3 * inc;
    let risk = 1 + [-1.0, -0.2, 0.6, 1.4].iter().filter(|&&t| rs > t).count() as u8;

    // 8% of persons become customers during the history window; the rest have a tenure
    // (exponential, mean 6 years, at most their adult life) before it starts.
    let open = if r.random_bool(0.08) {
        r.random_range(w.start_day..(w.end_day - 7).max(w.start_day + 1))
    } else {
        let years = (-(1.0 - u(r)).ln() * 6.0).min((age - 18).max(0) as f64) + 0.05;
        w.start_day - (years * 365.25) as i32
    };

    let pref = PREFS[weighted(r, &pref_distribution(age))];
    let activity = (0.4 * normal(r)).exp();
    let service_issue = r.random_bool(0.12);
    let married = marital == "married";
    let f = Features {
        age,
        inc,
        life_stage: LifeStage::of(age, married, children),
        pref,
        tenure_years: (w.end_day - open) as f64 / 365.25,
        service_issue,
        activity,
    };
    let employed = !matches!(occupation, "student" | "retired" | "unemployed");
    let payroll_p = if matches!(occupation, "self_employed" | "business_owner" | "farmer") {
        0.2
    } else {
        0.7
    };
    let salary_here = employed && r.random_bool(payroll_p);
    let salary_day = pick(r, &[5, 10, 15, 20, 25]);
    let employer = pick(r, EMPLOYERS);
    let dup = if r.random_bool(DUPLICATE_SHARE) {
        Some(DupRecord {
            num: scramble(idx, 100_000_000, 2_654_435_761, 31_337),
            with_rid: !r.random_bool(DUPLICATE_PHONE_ONLY),
            open: 0,
        })
    } else {
        None
    };
    Person {
        male,
        birth,
        rid,
        phone,
        city,
        occupation,
        education,
        marital,
        income_fen,
        risk,
        open,
        branch: (city as u64 + 1) * 100 + r.random_range(1..=20),
        f,
        salary_here,
        salary_day,
        employer,
        dup,
        churned: false,
        churn_month: usize::MAX,
        churn_z: 0.0,
        sms_fee: r.random_bool(0.1),
    }
}

/// Chooses a product of `category` the customer may hold (risk ≤ customer risk level).
fn choose_product(r: &mut Pcg64Mcg, category: &str, p: &Person) -> Option<usize> {
    let income_yuan = p.income_fen / 100;
    let id = match category {
        "credit_card" => {
            if income_yuan >= 20_000 {
                "P015"
            } else {
                "P014"
            }
        }
        "consumer_loan" => "P016",
        "mortgage" => "P017",
        "insurance" => {
            if p.f.life_stage == LifeStage::Family && r.random_bool(0.5) {
                "P020"
            } else if r.random_bool(0.6) {
                "P012"
            } else {
                "P013"
            }
        }
        "time_deposit" => {
            if income_yuan >= 30_000 && r.random_bool(0.4) {
                "P004"
            } else if r.random_bool(0.65) {
                "P002"
            } else {
                "P003"
            }
        }
        "gold" => "P018",
        "pension" => "P019",
        "wealth" | "fund" => {
            let allowed: Vec<usize> = (0..PRODUCTS.len())
                .filter(|&i| PRODUCTS[i].category == category && PRODUCTS[i].risk <= p.risk)
                .collect();
            if allowed.is_empty() {
                return None;
            }
            return Some(pick(r, &allowed));
        }
        _ => return None,
    };
    let i = product_index(id);
    (PRODUCTS[i].risk <= p.risk).then_some(i)
}

/// Generates everything about person `idx` into `o`.
pub fn person(w: &World, idx: u64, o: &mut Out) {
    let mut r = rng_for(w.seed, idx, 0);
    let mut name = std::mem::take(&mut o.name);
    let mut p = demographics(w, idx, &mut r, &mut name);
    o.arena.clear();
    o.accts.clear();
    o.holds.clear();
    o.consents.clear();
    let months = w.months as usize;

    // ---- holdings from the planted affinities ----------------------------------------
    let logits = affinity_logits(&p.f);
    let mut held = [None::<usize>; 9];
    for (k, cat) in AFFINITY_CATEGORIES.iter().enumerate() {
        let forced = k == 0 && p.dup.is_some();
        if (forced || u(&mut r) < sigmoid(logits[k]))
            && let Some(pi) = choose_product(&mut r, cat, &p).or(if forced {
                Some(product_index("P014"))
            } else {
                None
            })
        {
            held[k] = Some(pi);
        }
    }
    let n_products = held.iter().filter(|h| h.is_some()).count() as u32;
    let has_mortgage = held[2].is_some();
    p.churn_z = churn_logit(&p.f, n_products, p.salary_here, has_mortgage);
    let churn_p = sigmoid(p.churn_z);
    if months >= 2 && u(&mut r) < churn_p {
        let lo = months.div_ceil(2).max(1);
        let cm = r.random_range(lo..months);
        // Customers who joined after their decline would have started cannot churn.
        if p.open < w.month_start[cm.saturating_sub(3)] {
            p.churned = true;
            p.churn_month = cm;
        }
    }
    let churn_day = if p.churned {
        w.month_start[p.churn_month]
    } else {
        i32::MAX
    };

    // ---- accounts --------------------------------------------------------------------
    let income = p.income_fen;
    let acct_num = |seq: u64| (idx + 1) * 100 + seq;
    let mut cur = (income as f64 * 1.2 * (0.6 * normal(&mut r)).exp()) as i64;
    let age_factor = if p.f.age >= 50 { 2.0 } else { 1.0 };
    let mut sav = (income as f64 * 4.0 * age_factor * (0.8 * normal(&mut r)).exp()) as i64;
    o.accts.push(Acct {
        prefix: "A",
        num: acct_num(1),
        card_owned: false,
        typ: "current",
        open: p.open,
        close: None,
        status: "active",
        balance: 0,
        limit: None,
        maturity: None,
    });
    o.accts.push(Acct {
        prefix: "A",
        num: acct_num(2),
        card_owned: false,
        typ: "savings",
        open: p.open + r.random_range(0..30),
        close: None,
        status: "active",
        balance: 0,
        limit: None,
        maturity: None,
    });
    o.holds.push(Hold {
        product: 0,
        acct: Some(0),
        start: p.open,
        end: None,
        amount: 0,
        status: "active",
    });
    let latest = (w.end_day - 20).max(p.open);
    let mut cc_acct: Option<u8> = None;
    let mut cc_limit = 0i64;
    let mut loans: Vec<(u8, i64, i64)> = Vec::new(); // (account, monthly repayment, remaining)
    let mut invest_acct: Option<u8> = None;
    for (k, h) in held.iter().enumerate() {
        let Some(pi) = *h else { continue };
        let prod = &PRODUCTS[pi];
        let lo = p
            .open
            .max(days_from_civil(prod.launch.0, prod.launch.1, prod.launch.2));
        let start = if lo >= latest {
            latest
        } else {
            r.random_range(lo..=latest)
        };
        let seq = o.accts.len() as u64 + 1;
        let mut hold = Hold {
            product: pi,
            acct: None,
            start,
            end: None,
            amount: 0,
            status: "active",
        };
        match AFFINITY_CATEGORIES[k] {
            "credit_card" => {
                cc_limit = ((income * 3 / 100_000).clamp(1, 50) * 100_000).max(1_000_000);
                hold.amount = cc_limit;
                let (prefix, num, card_owned) = match &mut p.dup {
                    Some(d) => {
                        d.open = start;
                        ("CC", d.num * 100 + 1, true)
                    }
                    None => ("A", acct_num(seq), false),
                };
                o.accts.push(Acct {
                    prefix,
                    num,
                    card_owned,
                    typ: "credit_card",
                    open: start,
                    close: None,
                    status: "active",
                    balance: 0,
                    limit: Some(cc_limit),
                    maturity: Some(start + 5 * 365),
                });
                cc_acct = Some(o.accts.len() as u8 - 1);
            }
            "consumer_loan" | "mortgage" => {
                let mortgage = AFFINITY_CATEGORIES[k] == "mortgage";
                let (mult, term_m) = if mortgage { (90.0, 300) } else { (4.0, 36) };
                let principal = ((income as f64 * mult * (0.3 * normal(&mut r)).exp()) as i64
                    / 100_000
                    * 100_000)
                    .max(prod.min_yuan * 100);
                let elapsed_m = ((w.end_day - start) / 30) as i64;
                let remaining = (principal - principal * elapsed_m / term_m).max(principal / 10);
                hold.amount = principal;
                o.accts.push(Acct {
                    prefix: "A",
                    num: acct_num(seq),
                    card_owned: false,
                    typ: "loan",
                    open: start,
                    close: None,
                    status: "active",
                    balance: -remaining,
                    limit: None,
                    maturity: Some(start + (term_m as i32) * 30),
                });
                let a = o.accts.len() as u8 - 1;
                loans.push((a, principal / term_m * 11 / 10, remaining));
            }
            "time_deposit" => {
                let term = if prod.id == "P002" { 365 } else { 3 * 365 };
                let amount = ((sav / 2 / 100_000) * 100_000).max(prod.min_yuan.max(5_000) * 100);
                hold.amount = amount;
                let matured = start + term <= w.end_day;
                if matured {
                    hold.end = Some(start + term);
                    hold.status = "matured";
                }
                o.accts.push(Acct {
                    prefix: "A",
                    num: acct_num(seq),
                    card_owned: false,
                    typ: "time_deposit",
                    open: start,
                    close: if matured { Some(start + term) } else { None },
                    status: if matured { "closed" } else { "active" },
                    balance: if matured { 0 } else { amount },
                    limit: None,
                    maturity: Some(start + term),
                });
            }
            "wealth" | "fund" | "gold" => {
                let amount = ((prod.min_yuan.max(5_000) as f64
                    * (1.0 + p.f.inc.max(0.0))
                    * (0.5 * normal(&mut r)).exp()) as i64
                    / 100)
                    * 10_000;
                hold.amount = amount;
                if r.random_bool(0.15) && start + 90 < w.end_day {
                    hold.status = "closed";
                    hold.end = Some(r.random_range(start + 60..w.end_day));
                }
                let typ = if AFFINITY_CATEGORIES[k] == "fund" {
                    "fund"
                } else {
                    "wealth"
                };
                if let Some(existing) = o.accts.iter().position(|a| a.typ == typ) {
                    hold.acct = Some(existing as u8);
                    if hold.status == "active" {
                        o.accts[existing].balance += amount;
                    }
                } else {
                    o.accts.push(Acct {
                        prefix: "A",
                        num: acct_num(seq),
                        card_owned: false,
                        typ,
                        open: start,
                        close: None,
                        status: "active",
                        balance: if hold.status == "active" { amount } else { 0 },
                        limit: None,
                        maturity: None,
                    });
                }
                invest_acct = Some(o.accts.iter().position(|a| a.typ == typ).unwrap_or(0) as u8);
            }
            "pension" => {
                hold.amount = 1_200_000;
                o.accts.push(Acct {
                    prefix: "A",
                    num: acct_num(seq),
                    card_owned: false,
                    typ: "savings",
                    open: start,
                    close: None,
                    status: "active",
                    balance: 1_200_000 * ((w.end_day - start) / 365 + 1) as i64,
                    limit: None,
                    maturity: None,
                });
            }
            _ => {
                // insurance: annual premium, no account.
                hold.amount =
                    (prod.min_yuan.max(300) as f64 * (0.4 * normal(&mut r)).exp()) as i64 * 100;
            }
        }
        if hold.acct.is_none() && !matches!(AFFINITY_CATEGORIES[k], "insurance") {
            hold.acct = Some(o.accts.len() as u8 - 1);
        }
        o.holds.push(hold);
    }

    // ---- month-by-month simulation ----------------------------------------------------
    o.txns.clear();
    o.evts.clear();
    let spend_scale = (income as f64 / 800_000.0).powf(0.6).clamp(0.3, 4.0);
    let mut cc_owed = 0i64;
    let mut pii_txn = 0u32;
    let mut pii_evt = 0u32;
    let salary_moved = r.random_bool(0.5);
    let digital = p.f.pref.digital();
    for m in 0..months {
        let ms = w.month_start[m];
        let me = w.month_start[m + 1] - 1;
        if me < p.open {
            continue;
        }
        if p.churned && m >= p.churn_month {
            break;
        }
        let first = ms.max(p.open);
        let ndays = (me - first + 1) as f64;
        let frac = ndays / 30.0;
        let decline = p.churned && m + 3 >= p.churn_month;
        let (_, month_of_year, _) = civil_from_days(ms);
        let day_in = |r: &mut Pcg64Mcg| first + r.random_range(0..(me - first + 1));

        // income
        if p.salary_here && !(decline && m + 1 == p.churn_month && salary_moved) {
            let day = (ms + p.salary_day - 1).min(me);
            if day >= first {
                let mut amt = (income as f64 * (1.0 + 0.03 * normal(&mut r))) as i64;
                if month_of_year == 1 && r.random_bool(0.35) {
                    amt += (income as f64 * r.random_range(1.0..3.0)) as i64;
                }
                cur += amt;
                o.txns.push(Txn {
                    secs: at(day, local_time(&mut r, 9, 11)),
                    acct: 0,
                    amount: amt,
                    credit: true,
                    channel: "batch",
                    typ: "salary",
                    mcc: None,
                    cp: Text::S(p.employer),
                    desc: Text::S("代发工资"),
                    pii: false,
                });
            }
        } else if p.occupation == "retired" {
            let day = (ms + 14).min(me);
            if day >= first {
                let amt = income;
                cur += amt;
                o.txns.push(Txn {
                    secs: at(day, local_time(&mut r, 8, 10)),
                    acct: 0,
                    amount: amt,
                    credit: true,
                    channel: "batch",
                    typ: "transfer_in",
                    mcc: None,
                    cp: Text::S("社会保险基金管理中心"),
                    desc: Text::S("养老金"),
                    pii: false,
                });
            }
        } else if !decline || m + 1 < p.churn_month {
            // Income paid elsewhere and moved in by the customer.
            let amt = (income as f64 * 0.7 * (0.2 * normal(&mut r)).exp()) as i64;
            cur += amt;
            let day = day_in(&mut r);
            o.txns.push(Txn {
                secs: at(day, local_time(&mut r, 8, 23)),
                acct: 0,
                amount: amt,
                credit: true,
                channel: if digital { "mobile" } else { "counter" },
                typ: "transfer_in",
                mcc: None,
                cp: Text::S(pick(&mut r, COMPETITOR_BANKS)),
                desc: Text::S("本人他行转入"),
                pii: false,
            });
        }

        // card and debit purchases
        let age = p.f.age;
        let base_p = if age < 35 {
            1.3
        } else if age < 50 {
            1.0
        } else {
            0.6
        };
        let lam = p.f.activity * base_p * frac * if decline { 0.5 } else { 1.0 };
        for _ in 0..poisson(&mut r, lam) {
            let (mname, mcc, median) = pick(&mut r, MERCHANTS);
            let amt = ((median * spend_scale * (0.6 * normal(&mut r)).exp()) * 100.0) as i64 + 100;
            let on_card = cc_acct.is_some() && r.random_bool(0.65) && cc_owed + amt <= cc_limit;
            let acct = if on_card { cc_acct.unwrap_or(0) } else { 0 };
            if on_card {
                cc_owed += amt;
            } else if amt > cur {
                continue;
            } else {
                cur -= amt;
            }
            let channel = ["pos", "online", "wechat", "alipay"][weighted(
                &mut r,
                if age < 35 {
                    &[0.25, 0.2, 0.3, 0.25]
                } else {
                    &[0.5, 0.2, 0.15, 0.15]
                },
            )];
            let h = pick(
                &mut r,
                &[8u32, 9, 11, 12, 12, 13, 15, 17, 18, 19, 19, 20, 21, 22],
            );
            let day = day_in(&mut r);
            let secs = at(day, h * 3600 + r.random_range(0..3600));
            o.txns.push(Txn {
                secs,
                acct,
                amount: amt,
                credit: false,
                channel,
                typ: "purchase",
                mcc: Some(mcc),
                cp: Text::S(mname),
                desc: Text::S(mname),
                pii: false,
            });
            if r.random_bool(0.02) && day + 3 <= w.end_day {
                let refund_day = (day + r.random_range(1..=3)).min(w.end_day);
                if on_card {
                    cc_owed -= amt;
                } else {
                    cur += amt;
                }
                o.txns.push(Txn {
                    secs: at(refund_day, local_time(&mut r, 9, 21)),
                    acct,
                    amount: amt,
                    credit: true,
                    channel,
                    typ: "refund",
                    mcc: Some(mcc),
                    cp: Text::S(mname),
                    desc: Text::S("消费退款"),
                    pii: false,
                });
            }
        }

        // bills, ATM, person-to-person transfers
        for _ in 0..poisson(&mut r, 0.6 * frac) {
            let (biller, median) = pick(&mut r, BILLERS);
            let amt = ((median * (0.4 * normal(&mut r)).exp()) * 100.0) as i64;
            if amt > cur {
                continue;
            }
            cur -= amt;
            let day = day_in(&mut r);
            o.txns.push(Txn {
                secs: at(day, local_time(&mut r, 8, 22)),
                acct: 0,
                amount: amt,
                credit: false,
                channel: if digital {
                    pick(&mut r, &["mobile", "wechat", "alipay"])
                } else {
                    "online"
                },
                typ: "bill_payment",
                mcc: None,
                cp: Text::S(biller),
                desc: Text::S(biller),
                pii: false,
            });
        }
        let atm_lam = (0.15 + 0.25 * (age >= 50) as i32 as f64) * frac;
        for _ in 0..poisson(&mut r, atm_lam) {
            let amt = pick(&mut r, &[50_000i64, 100_000, 100_000, 200_000, 300_000]);
            if amt > cur {
                continue;
            }
            cur -= amt;
            let day = day_in(&mut r);
            o.txns.push(Txn {
                secs: at(day, local_time(&mut r, 7, 23)),
                acct: 0,
                amount: amt,
                credit: false,
                channel: "atm",
                typ: "atm_withdrawal",
                mcc: None,
                cp: Text::None,
                desc: Text::S("ATM取款"),
                pii: false,
            });
        }
        for dir_out in [true, false] {
            let lam = if dir_out { 0.3 } else { 0.25 } * frac;
            for _ in 0..poisson(&mut r, lam) {
                let amt =
                    ((2000.0 * spend_scale * (0.9 * normal(&mut r)).exp()) * 100.0) as i64 + 100;
                if dir_out && amt > cur {
                    continue;
                }
                if dir_out {
                    cur -= amt;
                } else {
                    cur += amt;
                }
                let a = o.arena.len() as u32;
                random_name(&mut r, &mut o.arena);
                let cp = Text::A(a, o.arena.len() as u32);
                let day = day_in(&mut r);
                o.txns.push(Txn {
                    secs: at(day, local_time(&mut r, 7, 24)),
                    acct: 0,
                    amount: amt,
                    credit: !dir_out,
                    channel: if digital {
                        "mobile"
                    } else {
                        pick(&mut r, &["counter", "online"])
                    },
                    typ: if dir_out {
                        "transfer_out"
                    } else {
                        "transfer_in"
                    },
                    mcc: None,
                    cp,
                    desc: Text::S(if dir_out { "转账" } else { "转入" }),
                    pii: false,
                });
            }
        }

        // competitor transfers: the churn symptom (plus rare noise for everyone)
        let comp_n = if decline {
            1 + r.random_bool(0.5) as u32
        } else {
            r.random_bool(0.015) as u32
        };
        for _ in 0..comp_n {
            let share = if decline {
                r.random_range(0.35..0.6)
            } else {
                r.random_range(0.05..0.2)
            };
            let from_savings = decline && r.random_bool(0.5);
            let bal = if from_savings { &mut sav } else { &mut cur };
            let amt = (*bal as f64 * share) as i64;
            if amt < 10_000 {
                continue;
            }
            *bal -= amt;
            let bank = pick(&mut r, COMPETITOR_BANKS);
            let day = day_in(&mut r);
            o.txns.push(Txn {
                secs: at(day, local_time(&mut r, 8, 23)),
                acct: if from_savings { 1 } else { 0 },
                amount: amt,
                credit: false,
                channel: if digital { "mobile" } else { "counter" },
                typ: "competitor_transfer",
                mcc: None,
                cp: Text::S(bank),
                desc: Text::S("跨行转出"),
                pii: false,
            });
        }

        // repayments, interest, investments, fees
        if let Some(cc) = cc_acct {
            let day = (ms + 19).min(me);
            if cc_owed > 0 && day >= first {
                let amt = if r.random_bool(0.85) {
                    cc_owed
                } else {
                    (cc_owed / 10).max(1)
                }
                .min(cur);
                if amt > 0 {
                    cur -= amt;
                    cc_owed -= amt;
                    o.txns.push(Txn {
                        secs: at(day, local_time(&mut r, 8, 22)),
                        acct: cc,
                        amount: amt,
                        credit: true,
                        channel: if digital { "mobile" } else { "counter" },
                        typ: "card_repayment",
                        mcc: None,
                        cp: Text::S("本行借记卡"),
                        desc: Text::S("信用卡还款"),
                        pii: false,
                    });
                }
            }
        }
        for &(la, pay, _) in &loans {
            let day = (ms + 20).min(me);
            if day >= first && day >= o.accts[la as usize].open {
                let amt = pay.min(cur.max(0));
                if amt > 0 {
                    cur -= amt;
                    o.txns.push(Txn {
                        secs: at(day, local_time(&mut r, 1, 5)),
                        acct: la,
                        amount: amt,
                        credit: true,
                        channel: "batch",
                        typ: "loan_repayment",
                        mcc: None,
                        cp: Text::S("本行借记卡"),
                        desc: Text::S("贷款还款"),
                        pii: false,
                    });
                }
            }
        }
        if month_of_year % 3 == 0 {
            let day = (ms + 20).min(me);
            let amt = sav * 35 / 10_000 / 4;
            if day >= first && amt > 0 {
                sav += amt;
                o.txns.push(Txn {
                    secs: at(day, local_time(&mut r, 1, 3)),
                    acct: 1,
                    amount: amt,
                    credit: true,
                    channel: "batch",
                    typ: "interest",
                    mcc: None,
                    cp: Text::None,
                    desc: Text::S("结息"),
                    pii: false,
                });
            }
        }
        if let Some(ia) = invest_acct {
            for inv in [true, false] {
                for _ in 0..poisson(&mut r, if inv { 0.15 } else { 0.1 } * frac) {
                    let amt = if inv {
                        (cur as f64 * r.random_range(0.1..0.3)) as i64
                    } else {
                        (income as f64 * r.random_range(0.5..2.0)) as i64
                    };
                    if amt < 10_000 {
                        continue;
                    }
                    if inv {
                        cur -= amt;
                    } else {
                        cur += amt;
                    }
                    let day = day_in(&mut r);
                    o.txns.push(Txn {
                        secs: at(day, local_time(&mut r, 9, 15)),
                        acct: ia,
                        amount: amt,
                        credit: inv,
                        channel: if digital { "mobile" } else { "counter" },
                        typ: if inv { "investment" } else { "redemption" },
                        mcc: None,
                        cp: Text::None,
                        desc: Text::S(if inv {
                            "购买理财产品"
                        } else {
                            "理财赎回"
                        }),
                        pii: false,
                    });
                }
            }
        }
        if p.sms_fee {
            let day = (ms + 24).min(me);
            if day >= first && cur >= 200 {
                cur -= 200;
                o.txns.push(Txn {
                    secs: at(day, local_time(&mut r, 2, 4)),
                    acct: 0,
                    amount: 200,
                    credit: false,
                    channel: "batch",
                    typ: "fee",
                    mcc: None,
                    cp: Text::None,
                    desc: Text::S("短信通知服务费"),
                    pii: false,
                });
            }
        }

        // ---- events ----
        let ev_lam =
            p.f.activity * if digital { 3.2 } else { 0.9 } * frac * if decline { 0.6 } else { 1.0 };
        for _ in 0..poisson(&mut r, ev_lam) {
            let ch = if r.random_bool(PREF_EVENT_SHARE) {
                p.f.pref
            } else {
                PREFS[weighted(&mut r, &pref_distribution(age))]
            };
            let (typ, item, h0, h1): (&str, Text, u32, u32) = match ch {
                Pref::Branch => ("visit", Text::S("网点业务办理"), 9, 17),
                Pref::CallCenter => ("service_call", Text::S(pick(&mut r, SERVICE_TOPICS)), 8, 21),
                _ => {
                    let k = weighted(&mut r, &[0.3, 0.3, 0.2, 0.1, 0.1]);
                    match k {
                        0 => (
                            if ch == Pref::MobileApp {
                                "app_open"
                            } else {
                                "login"
                            },
                            Text::None,
                            7,
                            24,
                        ),
                        1 => ("page_view", Text::S(pick(&mut r, PAGES)), 7, 24),
                        2 => {
                            // Product views follow the planted affinities (and holdings).
                            let c = weighted(&mut r, &logits.map(|z| sigmoid(z) + 0.02));
                            let pid = held[c]
                                .or_else(|| choose_product(&mut r, AFFINITY_CATEGORIES[c], &p));
                            let id = PRODUCTS[pid.unwrap_or(0)].id;
                            ("product_view", Text::S(id), 7, 24)
                        }
                        3 => ("search", Text::S(pick(&mut r, SEARCH_TERMS)), 7, 24),
                        _ => (
                            if ch == Pref::Wechat { "chat" } else { "click" },
                            Text::None,
                            7,
                            24,
                        ),
                    }
                }
            };
            let day = day_in(&mut r);
            o.evts.push(Evt {
                secs: at(day, local_time(&mut r, h0, h1)),
                channel: ch.as_str(),
                typ,
                item,
                detail: Text::None,
            });
        }
        let complaint_lam =
            (0.01 + 0.08 * p.f.service_issue as i32 as f64 + 0.5 * decline as i32 as f64) * frac;
        for _ in 0..poisson(&mut r, complaint_lam) {
            let ch = if r.random_bool(0.5) {
                "call_center"
            } else {
                p.f.pref.as_str()
            };
            let day = day_in(&mut r);
            o.evts.push(Evt {
                secs: at(day, local_time(&mut r, 8, 22)),
                channel: ch,
                typ: "complaint",
                item: Text::None,
                detail: Text::S(pick(&mut r, COMPLAINTS)),
            });
        }
        for _ in 0..poisson(&mut r, (0.04 + 0.15 * decline as i32 as f64) * frac) {
            let day = day_in(&mut r);
            o.evts.push(Evt {
                secs: at(day, local_time(&mut r, 8, 21)),
                channel: "call_center",
                typ: "service_call",
                item: Text::S(pick(&mut r, SERVICE_TOPICS)),
                detail: Text::None,
            });
        }
    }
    if p.churned && cc_acct.is_some() {
        let day = (churn_day + r.random_range(0..5)).min(w.end_day);
        o.evts.push(Evt {
            secs: at(day, local_time(&mut r, 9, 10)),
            channel: "sms",
            typ: "card_dormant",
            item: Text::S("信用卡"),
            detail: Text::None,
        });
    }

    // ---- PII in free text: a separate RNG so its share is exact to document ------------
    let mut pr = rng_for(w.seed, idx, 1);
    for i in 0..o.txns.len() {
        if u(&mut pr) < PII_SHARE {
            let a = o.arena.len() as u32;
            let s = &mut o.arena;
            match pr.random_range(0..4) {
                0 => {
                    s.push_str("转账给");
                    random_name(&mut pr, s);
                    s.push_str("，手机");
                    random_phone(&mut pr, s);
                }
                1 => {
                    s.push('代');
                    s.push_str(&name);
                    s.push_str("还款 身份证");
                    s.push_str(std::str::from_utf8(&p.rid).unwrap_or_default());
                }
                2 => {
                    s.push_str(&name);
                    s.push_str("手机");
                    s.push_str(std::str::from_utf8(&p.phone).unwrap_or_default());
                    s.push_str("的还款");
                }
                _ => {
                    s.push_str("收款人");
                    random_name(&mut pr, s);
                    s.push_str(" 电话");
                    random_phone(&mut pr, s);
                    s.push_str(" 备注房租");
                }
            }
            o.txns[i].desc = Text::A(a, o.arena.len() as u32);
            o.txns[i].pii = true;
            pii_txn += 1;
        }
    }
    for i in 0..o.evts.len() {
        if u(&mut pr) < PII_SHARE {
            let a = o.arena.len() as u32;
            let s = &mut o.arena;
            match o.evts[i].typ {
                "complaint" => {
                    s.push_str("客户");
                    s.push_str(&name);
                    s.push_str("（手机");
                    s.push_str(std::str::from_utf8(&p.phone).unwrap_or_default());
                    s.push_str("）投诉：");
                    s.push_str(pick(&mut pr, COMPLAINTS));
                }
                "service_call" | "visit" => {
                    s.push_str("客户");
                    s.push_str(&name);
                    s.push_str("，身份证");
                    s.push_str(std::str::from_utf8(&p.rid).unwrap_or_default());
                    s.push_str("，办理");
                    s.push_str(pick(&mut pr, SERVICE_TOPICS));
                }
                "search" | "page_view" | "product_view" => {
                    s.push_str("搜索关键词：");
                    s.push_str(std::str::from_utf8(&p.rid).unwrap_or_default());
                }
                _ => {
                    s.push_str("新设备登录验证，手机号");
                    s.push_str(std::str::from_utf8(&p.phone).unwrap_or_default());
                }
            }
            o.evts[i].detail = Text::A(a, o.arena.len() as u32);
            pii_evt += 1;
        }
    }

    // ---- final balances and account statuses -----------------------------------------
    o.accts[0].balance = cur.max(0);
    o.accts[1].balance = sav.max(0);
    if let Some(cc) = cc_acct {
        o.accts[cc as usize].balance = -cc_owed.max(0);
    }
    if p.churned {
        for a in o.accts.iter_mut() {
            match a.typ {
                "current" | "savings" => {
                    if r.random_bool(0.4) {
                        a.status = "closed";
                        a.close = Some(churn_day.max(a.open));
                        a.balance = 0;
                    } else {
                        a.status = "dormant";
                    }
                }
                "credit_card" => a.status = "dormant",
                _ => {}
            }
        }
    }

    // ---- records: customers, identities --------------------------------------------
    let cid = idx + 1;
    let phone = std::str::from_utf8(&p.phone).unwrap_or_default();
    {
        let t = &mut o.t[T_CUST];
        t.id("C", cid, 8);
        t.s("core");
        t.s(&name);
        t.s(if p.male { "m" } else { "f" });
        t.date(p.birth);
        t.ascii(&p.rid);
        t.ascii(&p.phone);
        let a = o.arena.len();
        if r.random_bool(0.4) {
            let _ = write!(
                o.arena,
                "{}@qq.com",
                100_000_000 + scramble(idx, 900_000_000, 982_451_653, 271_828_182)
            );
            t.s(&o.arena[a..]);
        } else if r.random_bool(0.25) {
            let _ = write!(o.arena, "{phone}@139.com");
            t.s(&o.arena[a..]);
        } else {
            t.null();
        }
        t.s(CITIES[p.city].name);
        t.s(p.occupation);
        t.s(p.education);
        t.s(p.marital);
        t.i(p.income_fen);
        t.s(CUSTOMER_RISK_LEVELS[p.risk as usize - 1]);
        t.date(p.open);
        t.id("B", p.branch, 4);
        t.end();
    }
    if let Some(d) = p.dup {
        let t = &mut o.t[T_CUST];
        t.id("K", d.num, 8);
        t.s("card");
        t.s(&name);
        if d.with_rid {
            t.s(if p.male { "m" } else { "f" });
            t.date(p.birth);
            t.ascii(&p.rid);
        } else {
            t.s("u");
            t.null();
            t.null();
        }
        t.ascii(&p.phone);
        t.null();
        t.s(CITIES[p.city].name);
        for _ in 0..5 {
            t.null();
        }
        t.date(d.open);
        t.null();
        t.end();
    }
    {
        let open_secs = at(p.open, local_time(&mut r, 9, 17));
        card_number(&mut o.card, b"622848", 12, idx, 1_000_000_007);
        let t = &mut o.t[T_IDENT];
        let ident = |t: &mut TableBuf, k: bool, ty: &str, v: &[u8], sys: &str, secs: i64| {
            if k {
                t.id("K", p.dup.map(|d| d.num).unwrap_or(0), 8);
            } else {
                t.id("C", cid, 8);
            }
            t.s(ty);
            t.ascii(v);
            t.s(sys);
            t.ts(secs);
            t.end();
        };
        ident(t, false, "phone", &p.phone, "core", open_secs);
        ident(t, false, "resident_id", &p.rid, "core", open_secs);
        ident(t, false, "card_no", &o.card, "core", open_secs);
        if let Some(cc) = cc_acct {
            card_number(&mut o.credit_card, b"625907", 9, idx, 982_451_653);
            let secs = at(o.accts[cc as usize].open, local_time(&mut r, 9, 17));
            match p.dup {
                Some(d) => {
                    ident(t, true, "phone", &p.phone, "card", secs);
                    if d.with_rid {
                        ident(t, true, "resident_id", &p.rid, "card", secs);
                    }
                    ident(t, true, "card_no", &o.credit_card, "card", secs);
                }
                None => ident(t, false, "card_no", &o.credit_card, "core", secs),
            }
        }
        let wechat_p = match p.f.pref {
            Pref::Wechat => 0.95,
            Pref::MobileApp | Pref::Web => 0.6,
            _ => 0.2,
        };
        if r.random_bool(wechat_p) {
            let mut openid = [0u8; 28];
            openid[0] = b'o';
            const ALPHA: &[u8] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let mut h = splitmix64(idx ^ 0x05EE_D0F0_BE1D);
            for (i, slot) in openid[1..].iter_mut().enumerate() {
                if i % 10 == 0 {
                    h = splitmix64(h);
                }
                *slot = ALPHA[(h & 63) as usize];
                h >>= 6;
            }
            let secs = at(p.open.max(w.start_day - 365), local_time(&mut r, 7, 23));
            ident(t, false, "wechat_openid", &openid, "wechat", secs);
        }
    }

    // ---- accounts, holdings ------------------------------------------------------------
    for a in &o.accts {
        let t = &mut o.t[T_ACCT];
        t.id(a.prefix, a.num, 10);
        if a.card_owned {
            t.id("K", p.dup.map(|d| d.num).unwrap_or(0), 8);
        } else {
            t.id("C", cid, 8);
        }
        t.s(a.typ);
        t.s("cny");
        t.date(a.open);
        t.opt_date(a.close);
        t.s(a.status);
        t.i(a.balance);
        t.opt_i(a.limit);
        t.opt_date(a.maturity);
        t.end();
    }

    // ---- consents -------------------------------------------------------------------------
    let consent_day = p.open.max(days_from_civil(2021, 11, 1));
    let source = match p.f.pref {
        Pref::MobileApp => "手机银行",
        Pref::Wechat => "微信银行",
        Pref::Web => "网上银行",
        _ => "网点柜面",
    };
    if r.random_bool(0.85) {
        if r.random_bool(0.55) {
            o.consents.push(Consent {
                purpose: "marketing",
                channel: "all",
                granted: true,
                day: consent_day,
                secs: at(consent_day, local_time(&mut r, 9, 17)),
            });
        } else {
            for (ch, pr_) in [
                ("sms", 0.7f64),
                ("app_push", 0.5),
                ("wechat", 0.5),
                ("call", 0.35),
                ("email", 0.2),
            ] {
                let boost = if p.f.pref.matches_contact(ch) {
                    0.3
                } else {
                    0.0
                };
                if r.random_bool((pr_ + boost).min(1.0)) {
                    o.consents.push(Consent {
                        purpose: "marketing",
                        channel: ch,
                        granted: true,
                        day: consent_day,
                        secs: at(consent_day, local_time(&mut r, 9, 17)),
                    });
                }
            }
        }
        let withdraw_p = 0.07 + if p.f.service_issue { 0.2 } else { 0.0 };
        if !o.consents.is_empty() && r.random_bool(withdraw_p) {
            let c = o.consents[r.random_range(0..o.consents.len())];
            let lo = c.day.max(w.start_day);
            let day = if lo >= w.end_day {
                w.end_day
            } else {
                r.random_range(lo..=w.end_day)
            };
            o.consents.push(Consent {
                purpose: "marketing",
                channel: c.channel,
                granted: false,
                day,
                secs: at(day, local_time(&mut r, 8, 22)),
            });
        }
    }
    if r.random_bool(0.7) {
        o.consents.push(Consent {
            purpose: "profiling",
            channel: "all",
            granted: true,
            day: consent_day,
            secs: at(consent_day, local_time(&mut r, 9, 17)),
        });
    }
    if r.random_bool(0.15) {
        o.consents.push(Consent {
            purpose: "third_party",
            channel: "all",
            granted: true,
            day: consent_day,
            secs: at(consent_day, local_time(&mut r, 9, 17)),
        });
    }
    for (i, c) in o.consents.iter().enumerate() {
        let t = &mut o.t[T_CONSENT];
        t.id("CS", cid * 100 + i as u64, 10);
        t.id("C", cid, 8);
        t.s(c.purpose);
        t.s(c.channel);
        t.b(c.granted);
        t.ts(c.secs);
        t.s(if c.granted { source } else { "客服中心" });
        let mut ev = [0u8; 16];
        ev[..4].copy_from_slice(if c.granted { b"SIG-" } else { b"REC-" });
        write_digits(
            &mut ev[4..],
            splitmix64(cid * 100 + i as u64) % 1_000_000_000_000,
        );
        t.ascii(&ev);
        t.end();
    }
    let consented = |consents: &[Consent], ch: &str, day: i32| {
        let mut ok = false;
        for c in consents {
            if c.purpose == "marketing" && (c.channel == "all" || c.channel == ch) && c.day <= day {
                ok = c.granted;
            }
        }
        ok
    };

    // ---- campaigns: contacts, responses -------------------------------------------------
    let mut resp_seq = 0u64;
    let mut uplifts = [0f64; 4];
    let mut groups = [""; 4];
    let mut channels: Vec<&'static str> = Vec::with_capacity(3);
    for (c, spec) in CAMPAIGNS.iter().enumerate() {
        let f = &p.f;
        uplifts[c] = uplift(c, f);
        let (start, end) = w.campaigns[c];
        let eligible = match c {
            0 => cc_acct.is_none() && (20..=60).contains(&f.age),
            1 => f.age >= 25,
            2 => p.risk >= 2 && p.income_fen >= 600_000,
            _ => (22..=55).contains(&f.age) && held[1].is_none() && p.occupation != "student",
        };
        let active = p.open <= start && churn_day > start;
        if !eligible || !active {
            continue;
        }
        channels.clear();
        channels.extend(
            spec.channels
                .iter()
                .copied()
                .filter(|ch| consented(&o.consents, ch, start)),
        );
        if channels.is_empty() || !r.random_bool(AUDIENCE_SHARE) {
            continue;
        }
        let g = u(&mut r);
        let group = if g < HOLDOUT_SHARE {
            2
        } else if g < HOLDOUT_SHARE + CONTROL_SHARE {
            1
        } else {
            0
        };
        groups[c] = CONTACT_GROUPS[group];
        // Half the time the bank uses a channel the customer prefers, when it may.
        let preferred = channels
            .iter()
            .copied()
            .find(|ch| f.pref.matches_contact(ch));
        let ch = match preferred {
            Some(pc) if r.random_bool(0.5) => pc,
            _ => pick(&mut r, &channels),
        };
        let day = start + r.random_range(0..7.min(end - start + 1));
        let secs = at(day, local_time(&mut r, 10, 20));
        let status = if group != 0 {
            "suppressed"
        } else if r.random_bool(0.03) {
            "failed"
        } else {
            "delivered"
        };
        let contact_num = cid * 10 + c as u64 + 1;
        {
            let t = &mut o.t[T_CONTACT];
            t.id("CT", contact_num, 9);
            t.s(spec.id);
            t.id("C", cid, 8);
            t.s(OFFERS[spec.offer].id);
            t.s(ch);
            t.ts(secs);
            t.s(CONTACT_GROUPS[group]);
            t.s(status);
            t.end();
        }
        let delivered = status == "delivered";
        let base = base_rate(c, f);
        let pconv = if delivered {
            (base + uplifts[c]).clamp(0.0, 1.0)
        } else {
            base
        };
        let cs = &mut o.stats.campaigns[c][group];
        cs.n += 1;
        cs.uplift_sum += uplifts[c];
        let mut respond = |o: &mut Out,
                           r: &mut Pcg64Mcg,
                           typ: &str,
                           revenue: Option<i64>,
                           from: i64,
                           span_days: i32| {
            resp_seq += 1;
            let t = &mut o.t[T_RESP];
            t.id("R", cid * 1000 + resp_seq, 11);
            t.id("CT", contact_num, 9);
            t.s(spec.id);
            t.id("C", cid, 8);
            let max_secs = at(w.end_day, 23 * 3600);
            t.ts((from + r.random_range(600..(span_days.max(1) as i64 * 86_400))).min(max_secs));
            t.s(typ);
            t.opt_i(revenue);
            t.end();
        };
        if delivered {
            let p_open = if f.pref.matches_contact(ch) {
                OPEN_MATCH
            } else {
                OPEN_OTHER
            };
            if r.random_bool(p_open) {
                respond(o, &mut r, "open", None, secs, 2);
                o.stats.campaigns[c][group].opens += 1;
                if ch != "call" && r.random_bool(CLICK_GIVEN_OPEN) {
                    respond(o, &mut r, "click", None, secs, 3);
                }
            }
            if c == 2 && f.service_issue {
                if r.random_bool(0.12) {
                    respond(o, &mut r, "complaint", None, secs, 5);
                }
                if r.random_bool(0.04) {
                    respond(o, &mut r, "unsubscribe", None, secs, 5);
                }
            }
        }
        if u(&mut r) < pconv {
            let value = OFFERS[spec.offer].value_yuan * 100;
            respond(o, &mut r, "convert", Some(value), secs, CAMPAIGN_DAYS);
            o.stats.campaigns[c][group].conversions += 1;
            let pi = product_index(OFFERS[spec.offer].product);
            let conv_day = (day + r.random_range(1..CAMPAIGN_DAYS)).min(w.end_day);
            o.holds.push(Hold {
                product: pi,
                acct: None,
                start: conv_day,
                end: None,
                amount: PRODUCTS[pi].min_yuan.max(1000) * 100,
                status: "active",
            });
        }
    }

    // ---- experiment -----------------------------------------------------------------------
    let (es, ee) = w.experiment;
    let mut arm_name = "";
    if p.f.pref.digital() && p.open <= es && churn_day > es && r.random_bool(EXPERIMENT_SHARE) {
        let arm = r.random_range(0..3);
        arm_name = EXPERIMENT_ARMS[arm];
        let secs = at(es, local_time(&mut r, 0, 24));
        let t = &mut o.t[T_ASSIGN];
        t.s(EXPERIMENT_ID);
        t.id("C", cid, 8);
        t.s(EXPERIMENT_ARMS[arm]);
        t.ts(secs);
        t.end();
        o.stats.experiment[arm][0] += 1;
        if r.random_bool(EXPERIMENT_CLICK[arm]) {
            resp_seq += 1;
            o.stats.experiment[arm][1] += 1;
            let t = &mut o.t[T_RESP];
            t.id("R", cid * 1000 + resp_seq, 11);
            t.null();
            t.null();
            t.id("C", cid, 8);
            t.ts((secs + r.random_range(60..((ee - es + 1) as i64 * 86_400)))
                .min(at(w.end_day, 23 * 3600)));
            t.s("click");
            t.null();
            t.end();
        }
    }

    // ---- holdings ---------------------------------------------------------------------------
    for (i, h) in o.holds.iter().enumerate() {
        let t = &mut o.t[T_HOLD];
        t.id("H", cid * 100 + i as u64, 10);
        match h.acct.map(|a| &o.accts[a as usize]) {
            Some(a) if a.card_owned => t.id("K", p.dup.map(|d| d.num).unwrap_or(0), 8),
            _ => t.id("C", cid, 8),
        }
        t.s(PRODUCTS[h.product].id);
        match h.acct {
            Some(a) => {
                let a = &o.accts[a as usize];
                t.id(a.prefix, a.num, 10);
            }
            None => t.null(),
        }
        t.date(h.start);
        t.opt_date(h.end);
        t.i(h.amount);
        t.s(h.status);
        t.end();
    }

    // ---- transactions (sorted by time within the person) ----------------------------------
    o.txns.sort_by_key(|t| t.secs);
    let mut dr = rng_for(w.seed, idx, 2);
    let dirty = w.csv && w.dirty_share > 0.0;
    for (i, tx) in o.txns.iter().enumerate() {
        let kind = if dirty && u(&mut dr) < w.dirty_share {
            Some(dr.random_range(0..DIRTY_KINDS.len()))
        } else {
            None
        };
        let acct = &o.accts[tx.acct as usize];
        let cp = text(&o.arena, tx.cp);
        let desc = text(&o.arena, tx.desc);
        let t = &mut o.t[T_TXN];
        let row_start = t.csv_bytes().map(|b| b.len()).unwrap_or(0);
        t.id("T", cid * 100_000 + i as u64, 13);
        if kind == Some(3) {
            t.id("AX", acct.num, 10); // orphan account
        } else {
            t.id(acct.prefix, acct.num, 10);
        }
        if acct.card_owned {
            t.id("K", p.dup.map(|d| d.num).unwrap_or(0), 8);
        } else {
            t.id("C", cid, 8);
        }
        if kind == Some(1) {
            let (y, _, _) = civil_from_days((tx.secs / 86_400) as i32);
            let mut b = *b"0000-02-30T10:00:00Z";
            write_digits(&mut b[..4], y as u64);
            t.ascii(&b); // impossible date
        } else {
            t.ts(tx.secs);
        }
        if kind == Some(0) {
            t.ascii(b"12.3.4"); // malformed amount
        } else {
            t.i(tx.amount);
        }
        t.s("cny");
        t.s(if tx.credit { "credit" } else { "debit" });
        if kind == Some(2) {
            t.s("carrier_pigeon"); // unknown code
        } else {
            t.s(tx.channel);
        }
        t.s(tx.typ);
        t.opt_s(tx.mcc);
        t.opt_s(cp);
        t.opt_s(desc);
        t.end();
        if kind == Some(4)
            && let Some(b) = t.csv_bytes()
        {
            o.raw.clear();
            o.raw.extend_from_slice(&b[row_start..]);
            b.extend_from_slice(&o.raw);
            t.count_raw_row();
        }
        if let Some(k) = kind {
            o.stats.dirty[k] += 1;
        }
        if tx.pii {
            o.stats.pii_txn_rows += 1;
        }
    }
    o.stats.txn_rows += o.txns.len() as u64;

    // ---- events -----------------------------------------------------------------------------
    o.evts.sort_by_key(|e| e.secs);
    for (i, e) in o.evts.iter().enumerate() {
        let item = text(&o.arena, e.item);
        let detail = text(&o.arena, e.detail);
        let t = &mut o.t[T_EVT];
        t.id("E", cid * 100_000 + i as u64, 13);
        t.id("C", cid, 8);
        t.ts(e.secs);
        t.s(e.channel);
        t.s(e.typ);
        t.opt_s(item);
        t.opt_s(detail);
        t.end();
    }
    o.stats.event_rows += o.evts.len() as u64;
    o.stats.pii_event_rows += pii_evt as u64;

    // ---- truth --------------------------------------------------------------------------------
    let s = &mut o.stats;
    s.persons += 1;
    s.churn_probability_sum += churn_p;
    if p.churned {
        s.churned += 1;
    }
    if p.f.service_issue {
        s.service_issue += 1;
    }
    if let Some(d) = p.dup {
        if d.with_rid {
            s.pairs_phone_and_rid += 1;
        } else {
            s.pairs_phone_only += 1;
        }
    }
    let tb = &mut o.truth;
    let _ = write!(
        tb,
        "C{cid:08},{:.4},{:.4},{},",
        p.churn_z,
        churn_p,
        if p.churned { "true" } else { "false" }
    );
    if p.churned {
        crate::sink::push_date(tb, churn_day);
    }
    let _ = write!(
        tb,
        ",{},{},{},{},{}",
        p.f.pref.as_str(),
        p.f.life_stage.as_str(),
        p.f.age,
        if p.f.service_issue { "true" } else { "false" },
        p.salary_here
    );
    for (c, up) in uplifts.iter().enumerate() {
        let _ = write!(tb, ",{:.3},{}", up, groups[c]);
    }
    let _ = write!(tb, ",{arm_name},{pii_txn},{pii_evt},");
    if let Some(d) = p.dup {
        let _ = write!(
            tb,
            "K{:08},{}",
            d.num,
            if d.with_rid {
                "phone+resident_id"
            } else {
                "phone"
            }
        );
    } else {
        tb.push(b',');
    }
    tb.push(b'\n');
    o.name = name;
}

/// Header of `truth_customers.csv`.
pub fn truth_header() -> String {
    let mut h = String::from(
        "customer_id,churn_score,churn_probability,churned,churn_date,preferred_channel,life_stage,age,service_issue,salary_here",
    );
    for c in CAMPAIGNS {
        let id = c.id.to_lowercase();
        let _ = write!(h, ",uplift_{id},group_{id}");
    }
    h.push_str(
        ",experiment_arm,pii_txn_count,pii_event_count,duplicate_customer_id,duplicate_shares\n",
    );
    h
}
