//! The planted ground truth as formulas. `docs/synthetic-bank.md` documents every number
//! here; `ground_truth.json` repeats them, so keep the three in step.

/// Latent attributes the formulas read.
#[derive(Debug, Clone, Copy)]
pub struct Features {
    pub age: i32,
    /// ln(monthly income in yuan / 8000).
    pub inc: f64,
    pub life_stage: LifeStage,
    pub pref: Pref,
    pub tenure_years: f64,
    pub service_issue: bool,
    pub activity: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifeStage {
    YoungSingle,
    YoungCouple,
    Family,
    SingleAdult,
    Mature,
    Retired,
}

impl LifeStage {
    pub fn as_str(self) -> &'static str {
        match self {
            LifeStage::YoungSingle => "young_single",
            LifeStage::YoungCouple => "young_couple",
            LifeStage::Family => "family_with_children",
            LifeStage::SingleAdult => "single_adult",
            LifeStage::Mature => "mature",
            LifeStage::Retired => "retired",
        }
    }
    /// age < 30 unmarried → young_single; married without children and < 45 → young_couple;
    /// children and ≤ 50 → family_with_children; ≥ 60 → retired; 50–59 or 45+ without children
    /// → mature; otherwise single_adult.
    pub fn of(age: i32, married: bool, children: bool) -> Self {
        if age >= 60 {
            LifeStage::Retired
        } else if children && age <= 50 {
            LifeStage::Family
        } else if age < 30 && !married {
            LifeStage::YoungSingle
        } else if married && age < 45 {
            LifeStage::YoungCouple
        } else if age >= 45 {
            LifeStage::Mature
        } else {
            LifeStage::SingleAdult
        }
    }
}

/// Preferred channel (an `events.channel` code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pref {
    MobileApp,
    Wechat,
    Web,
    Branch,
    CallCenter,
}

pub const PREFS: [Pref; 5] = [
    Pref::MobileApp,
    Pref::Wechat,
    Pref::Web,
    Pref::Branch,
    Pref::CallCenter,
];

impl Pref {
    pub fn as_str(self) -> &'static str {
        match self {
            Pref::MobileApp => "mobile_app",
            Pref::Wechat => "wechat",
            Pref::Web => "web",
            Pref::Branch => "branch",
            Pref::CallCenter => "call_center",
        }
    }
    pub fn digital(self) -> bool {
        matches!(self, Pref::MobileApp | Pref::Wechat | Pref::Web)
    }
    /// Does a contact on `contact_channel` reach the customer where they prefer to be reached?
    /// app_push↔mobile_app, wechat↔wechat, email/web↔web, call↔call_center, branch↔branch; sms matches none.
    pub fn matches_contact(self, contact_channel: &str) -> bool {
        matches!(
            (self, contact_channel),
            (Pref::MobileApp, "app_push")
                | (Pref::Wechat, "wechat")
                | (Pref::Web, "email" | "web")
                | (Pref::CallCenter, "call")
                | (Pref::Branch, "branch")
        )
    }
}

/// P(preferred channel | age band), order of [`PREFS`].
pub fn pref_distribution(age: i32) -> [f64; 5] {
    if age < 30 {
        [0.55, 0.30, 0.10, 0.03, 0.02]
    } else if age < 45 {
        [0.45, 0.25, 0.15, 0.10, 0.05]
    } else if age < 60 {
        [0.25, 0.20, 0.15, 0.25, 0.15]
    } else {
        [0.10, 0.15, 0.05, 0.45, 0.25]
    }
}
/// Share of a customer's (non-complaint) events that happen on the preferred channel;
/// the rest follow the age-band distribution above.
pub const PREF_EVENT_SHARE: f64 = 0.7;
/// Open probability of a delivered contact on the preferred channel vs another channel.
pub const OPEN_MATCH: f64 = 0.45;
pub const OPEN_OTHER: f64 = 0.15;
/// Click probability given an open.
pub const CLICK_GIVEN_OPEN: f64 = 0.35;

pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn b(x: bool) -> f64 {
    if x { 1.0 } else { 0.0 }
}

/// Product categories with planted affinities, in a fixed order.
pub const AFFINITY_CATEGORIES: [&str; 9] = [
    "credit_card",
    "consumer_loan",
    "mortgage",
    "insurance",
    "time_deposit",
    "wealth",
    "fund",
    "gold",
    "pension",
];

/// Logit of holding a product of each category in [`AFFINITY_CATEGORIES`] order.
pub fn affinity_logits(f: &Features) -> [f64; 9] {
    let a = f.age;
    let young = b(a < 35);
    let old50 = b(a >= 50);
    let fam = b(f.life_stage == LifeStage::Family);
    let couple = b(f.life_stage == LifeStage::YoungCouple);
    [
        -0.4 + 1.3 * young - 1.0 * b(a >= 60) + 0.6 * f.inc,
        -2.6 + 0.9 * young + 0.6 * fam - 1.5 * b(a >= 55),
        -3.2 + 2.3 * fam + 1.0 * couple + 0.6 * f.inc - 2.0 * b(a < 25),
        -2.2 + 1.5 * fam + 0.5 * b(a >= 45) + 0.3 * f.inc,
        -1.6 + 1.7 * old50 + 0.4 * f.inc - 0.6 * young,
        -2.6 + 1.2 * old50 + 1.1 * f.inc,
        -2.4 + 0.9 * f.inc + 0.6 * b((30..50).contains(&a)) - 0.5 * b(a >= 65),
        -3.6 + 0.9 * old50 + 0.3 * f.inc,
        -3.0 + 1.2 * b((40..60).contains(&a)) + 0.5 * f.inc,
    ]
}

/// Churn logit. `n_products` counts holdings other than the demand deposit.
pub fn churn_logit(f: &Features, n_products: u32, salary_here: bool, has_mortgage: bool) -> f64 {
    -1.6 + 0.9 * b(f.tenure_years < 2.0) + 0.5 * b(f.age < 30) - 0.35 * (n_products.min(4) as f64)
        + 1.3 * b(f.service_issue)
        - 0.7 * b(salary_here)
        + 0.6 * b(f.activity < 0.7)
        - 0.8 * b(has_mortgage)
}

/// Conversion probability without treatment for campaign `c` (0-based, CP001…).
pub fn base_rate(c: usize, f: &Features) -> f64 {
    match c {
        0 => 0.02 + 0.02 * b(f.age < 35),
        1 => 0.03 + 0.03 * b(f.age >= 50),
        2 => 0.02 + 0.02 * b(f.inc >= (20_000f64 / 8000.0).ln()),
        _ => 0.015 + 0.01 * b(f.age < 40),
    }
}

/// True additive uplift of a delivered treatment on conversion probability for campaign `c`.
pub fn uplift(c: usize, f: &Features) -> f64 {
    let high_income = f.inc >= (20_000f64 / 8000.0).ln();
    match c {
        // Credit card: young digital customers respond; 55+ are put off ("sleeping dogs").
        0 => {
            if f.age < 35 && matches!(f.pref, Pref::MobileApp | Pref::Wechat) {
                0.10
            } else if f.age >= 55 {
                -0.02
            } else if f.age < 55 && f.age >= 35 {
                0.03
            } else {
                0.01
            }
        }
        // Time-deposit rate coupon: 50+ respond, more so with income ≥ 10,000 yuan.
        1 => {
            if f.age >= 50 && f.inc >= (10_000f64 / 8000.0).ln() {
                0.08
            } else if f.age >= 50 {
                0.04
            } else {
                0.0
            }
        }
        // Wealth outbound call: unhappy customers (latent service issue) are sleeping dogs.
        2 => {
            if f.service_issue {
                -0.04
            } else if high_income {
                0.06
            } else {
                0.01
            }
        }
        // Consumer-loan discount: young couples and families of 25–45 on < 15,000 yuan.
        _ => {
            if matches!(f.life_stage, LifeStage::Family | LifeStage::YoungCouple)
                && (25..=45).contains(&f.age)
                && f.inc < (15_000f64 / 8000.0).ln()
            {
                0.05
            } else {
                0.0
            }
        }
    }
}

/// The formulas as text, for `ground_truth.json`.
pub fn formulas() -> serde_json::Value {
    serde_json::json!({
        "features": {
            "inc": "ln(monthly_income_yuan / 8000)",
            "life_stage": "age>=60 retired; children && age<=50 family_with_children; age<30 && !married young_single; married && age<45 young_couple; age>=45 mature; else single_adult",
        },
        "affinity_logit": {
            "credit_card": "-0.4 + 1.3*[age<35] - 1.0*[age>=60] + 0.6*inc",
            "consumer_loan": "-2.6 + 0.9*[age<35] + 0.6*[family_with_children] - 1.5*[age>=55]",
            "mortgage": "-3.2 + 2.3*[family_with_children] + 1.0*[young_couple] + 0.6*inc - 2.0*[age<25]",
            "insurance": "-2.2 + 1.5*[family_with_children] + 0.5*[age>=45] + 0.3*inc",
            "time_deposit": "-1.6 + 1.7*[age>=50] + 0.4*inc - 0.6*[age<35]",
            "wealth": "-2.6 + 1.2*[age>=50] + 1.1*inc",
            "fund": "-2.4 + 0.9*inc + 0.6*[30<=age<50] - 0.5*[age>=65]",
            "gold": "-3.6 + 0.9*[age>=50] + 0.3*inc",
            "pension": "-3.0 + 1.2*[40<=age<60] + 0.5*inc",
            "note": "P(hold) = sigmoid(logit); the product within the category must satisfy product risk <= customer risk level, else none is held",
        },
        "churn_logit": "-1.6 + 0.9*[tenure<2y] + 0.5*[age<30] - 0.35*min(n_products,4) + 1.3*[service_issue] - 0.7*[salary_here] + 0.6*[activity<0.7] - 0.8*[has_mortgage]",
        "service_issue_share": 0.12,
        "pref_channel_by_age": {
            "order": ["mobile_app", "wechat", "web", "branch", "call_center"],
            "age<30": pref_distribution(20), "30-44": pref_distribution(35),
            "45-59": pref_distribution(50), "60+": pref_distribution(70),
            "share_of_events_on_preferred": PREF_EVENT_SHARE,
        },
        "contact_response": {
            "open_if_channel_matches_preference": OPEN_MATCH, "open_otherwise": OPEN_OTHER,
            "click_given_open": CLICK_GIVEN_OPEN,
            "matching": "app_push~mobile_app, wechat~wechat, email/web~web, call~call_center, branch~branch, sms~none",
        },
        "campaigns": {
            "CP001": {"base": "0.02 + 0.02*[age<35]", "uplift": "0.10 if age<35 and preferred mobile_app/wechat; -0.02 if age>=55; 0.03 if 35<=age<55; else 0.01"},
            "CP002": {"base": "0.03 + 0.03*[age>=50]", "uplift": "0.08 if age>=50 and income>=10000 yuan; 0.04 if age>=50; else 0"},
            "CP003": {"base": "0.02 + 0.02*[income>=20000 yuan]", "uplift": "-0.04 if service_issue (sleeping dogs; also complaint 0.12, unsubscribe 0.04); 0.06 if income>=20000 yuan; else 0.01"},
            "CP004": {"base": "0.015 + 0.01*[age<40]", "uplift": "0.05 if life_stage in (young_couple, family_with_children) and 25<=age<=45 and income<15000 yuan; else 0"},
            "rule": "treatment with a delivered contact converts with p = clamp(base + uplift, 0, 1); failed treatment contacts, control and holdout convert with p = base",
        },
    })
}
