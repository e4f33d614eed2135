//! The canonical tables (brief §4), declared once as data.
//!
//! Fact tables (customers, transactions, …) live as Parquet in the data directory and are
//! validated on ingest from these definitions; operational tables live in the SQL store
//! (see `zhiying-store`'s migrations). Every column carries its JR/T 0171-2020 level.

use arrow_schema::{DataType, Field, Schema, TimeUnit};
use std::sync::Arc;

/// JR/T 0171-2020 personal financial information level.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Sensitivity {
    /// Internal data with little harm if disclosed.
    C1,
    /// Identity and financial data: names, IDs, phone numbers, balances.
    C2,
    /// Authentication data: passwords, PINs, biometrics, CVV.
    C3,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ColumnType {
    /// Free text, at most `max_len` characters.
    Text {
        max_len: usize,
    },
    /// A code from a closed list; compared after trimming and lower-casing.
    Code(&'static [&'static str]),
    Int {
        min: i64,
        max: i64,
    },
    Float {
        min: f64,
        max: f64,
    },
    /// Integer 分; inputs may be yuan with decimals (see `money::parse_amount`).
    Money {
        min: i64,
        max: i64,
    },
    /// UTC microseconds.
    Timestamp,
    /// Days since the epoch.
    Date,
    Bool,
}

#[derive(Debug, Clone, Copy)]
pub struct ColumnDef {
    pub name: &'static str,
    pub ty: ColumnType,
    pub required: bool,
    pub sensitivity: Sensitivity,
    /// `(table, column)` this column must reference, checked on ingest.
    pub references: Option<(&'static str, &'static str)>,
    pub description: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// Large, append-mostly facts kept as Parquet and queried through the engine.
    Fact,
    /// Small mutable state kept in the SQL store.
    Operational,
}

#[derive(Debug)]
pub struct TableDef {
    pub name: &'static str,
    pub zh_name: &'static str,
    pub kind: TableKind,
    pub primary_key: &'static [&'static str],
    pub columns: &'static [ColumnDef],
    pub description: &'static str,
}

impl TableDef {
    pub fn column(&self, name: &str) -> Option<&ColumnDef> {
        self.columns.iter().find(|c| c.name == name)
    }
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
    pub fn column_names(&self) -> Vec<&'static str> {
        self.columns.iter().map(|c| c.name).collect()
    }
    /// The Arrow schema of this table's Parquet files.
    pub fn arrow_schema(&self) -> Arc<Schema> {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| Field::new(c.name, c.ty.arrow_type(), !c.required))
                .collect::<Vec<_>>(),
        ))
    }
}

impl ColumnType {
    pub fn arrow_type(&self) -> DataType {
        match self {
            ColumnType::Text { .. } | ColumnType::Code(_) => DataType::Utf8,
            ColumnType::Int { .. } | ColumnType::Money { .. } => DataType::Int64,
            ColumnType::Float { .. } => DataType::Float64,
            ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ColumnType::Date => DataType::Date32,
            ColumnType::Bool => DataType::Boolean,
        }
    }
}

const fn col(name: &'static str, ty: ColumnType, description: &'static str) -> ColumnDef {
    ColumnDef {
        name,
        ty,
        required: true,
        sensitivity: Sensitivity::C1,
        references: None,
        description,
    }
}
const fn opt(name: &'static str, ty: ColumnType, description: &'static str) -> ColumnDef {
    ColumnDef {
        name,
        ty,
        required: false,
        sensitivity: Sensitivity::C1,
        references: None,
        description,
    }
}
impl ColumnDef {
    const fn c2(mut self) -> Self {
        self.sensitivity = Sensitivity::C2;
        self
    }
    const fn refs(mut self, table: &'static str, column: &'static str) -> Self {
        self.references = Some((table, column));
        self
    }
}

const ID: ColumnType = ColumnType::Text { max_len: 64 };
const NAME: ColumnType = ColumnType::Text { max_len: 200 };
const NOTE: ColumnType = ColumnType::Text { max_len: 4000 };
const MONEY: ColumnType = ColumnType::Money {
    min: 0,
    max: 100_000_000_000_000,
};
const SIGNED_MONEY: ColumnType = ColumnType::Money {
    min: -100_000_000_000_000,
    max: 100_000_000_000_000,
};
const SHARE: ColumnType = ColumnType::Float { min: 0.0, max: 1.0 };

pub const SOURCE_SYSTEMS: &[&str] = &[
    "core",
    "card",
    "mobile",
    "wechat",
    "crm",
    "uci_bank",
    "cdnow",
    "hillstrom",
    "german_credit",
    "api",
];
pub const GENDERS: &[&str] = &["m", "f", "u"];
pub const CUSTOMER_RISK_LEVELS: &[&str] = &["c1", "c2", "c3", "c4", "c5"];
pub const PRODUCT_RISK_LEVELS: &[&str] = &["r1", "r2", "r3", "r4", "r5"];
pub const OCCUPATIONS: &[&str] = &[
    "student",
    "employee",
    "civil_servant",
    "professional",
    "self_employed",
    "business_owner",
    "farmer",
    "retired",
    "unemployed",
    "admin",
    "blue-collar",
    "entrepreneur",
    "housemaid",
    "management",
    "services",
    "technician",
    "unknown",
];
pub const EDUCATIONS: &[&str] = &[
    "primary",
    "secondary",
    "tertiary",
    "postgraduate",
    "unknown",
];
pub const MARITAL: &[&str] = &["single", "married", "divorced", "widowed", "unknown"];
pub const ACCOUNT_TYPES: &[&str] = &[
    "current",
    "savings",
    "time_deposit",
    "credit_card",
    "loan",
    "wealth",
    "fund",
    "purchase",
];
pub const ACCOUNT_STATUS: &[&str] = &["active", "dormant", "closed"];
pub const CURRENCIES: &[&str] = &["cny", "usd", "eur", "dem"];
pub const PRODUCT_CATEGORIES: &[&str] = &[
    "deposit",
    "time_deposit",
    "wealth",
    "fund",
    "insurance",
    "credit_card",
    "consumer_loan",
    "mortgage",
    "pension",
    "gold",
];
pub const HOLDING_STATUS: &[&str] = &["active", "matured", "closed"];
pub const DIRECTIONS: &[&str] = &["credit", "debit"];
pub const TXN_CHANNELS: &[&str] = &[
    "branch", "atm", "mobile", "online", "pos", "wechat", "alipay", "counter", "batch", "mail",
];
pub const TXN_TYPES: &[&str] = &[
    "salary",
    "transfer_in",
    "transfer_out",
    "purchase",
    "atm_withdrawal",
    "bill_payment",
    "interest",
    "fee",
    "investment",
    "redemption",
    "loan_repayment",
    "competitor_transfer",
    "card_repayment",
    "refund",
];
pub const CONTACT_CHANNELS: &[&str] = &[
    "sms", "call", "email", "app_push", "wechat", "branch", "mail", "web",
];
pub const EVENT_CHANNELS: &[&str] = &[
    "mobile_app",
    "web",
    "wechat",
    "sms",
    "call_center",
    "branch",
    "email",
    "atm",
];
pub const EVENT_TYPES: &[&str] = &[
    "login",
    "page_view",
    "product_view",
    "search",
    "app_open",
    "click",
    "complaint",
    "service_call",
    "chat",
    "address_change",
    "card_dormant",
    "large_deposit",
    "salary_credited",
    "visit",
];
pub const CAMPAIGN_STATUS: &[&str] = &[
    "draft",
    "pending_approval",
    "approved",
    "running",
    "paused",
    "completed",
    "cancelled",
];
pub const CONTACT_STATUS: &[&str] = &["queued", "sent", "delivered", "failed", "suppressed"];
pub const CONTACT_GROUPS: &[&str] = &["treatment", "control", "holdout"];
pub const RESPONSE_TYPES: &[&str] = &[
    "impression",
    "open",
    "click",
    "visit",
    "accept",
    "reject",
    "convert",
    "complaint",
    "unsubscribe",
];
pub const CONSENT_PURPOSES: &[&str] = &["marketing", "profiling", "third_party"];
pub const CONSENT_CHANNELS: &[&str] =
    &["all", "sms", "call", "email", "app_push", "wechat", "mail"];
pub const ID_TYPES: &[&str] = &[
    "phone",
    "resident_id",
    "card_no",
    "email",
    "wechat_openid",
    "passport",
];
pub const CREDITABILITY: &[&str] = &["good", "bad"];

pub static CUSTOMERS: TableDef = TableDef {
    name: "customers",
    zh_name: "客户",
    kind: TableKind::Fact,
    primary_key: &["customer_id"],
    description: "One row per customer record as a source system knows it; identity resolution links records of the same person.",
    columns: &[
        col("customer_id", ID, "Customer id in the source system"),
        col(
            "source_system",
            ColumnType::Code(SOURCE_SYSTEMS),
            "System the record came from",
        ),
        opt("name", NAME, "Full name").c2(),
        opt("gender", ColumnType::Code(GENDERS), "m, f or u"),
        opt("birth_date", ColumnType::Date, "Date of birth"),
        opt(
            "resident_id",
            ColumnType::Text { max_len: 18 },
            "PRC resident identity number (GB 11643)",
        )
        .c2(),
        opt("phone", ColumnType::Text { max_len: 20 }, "Mobile number").c2(),
        opt("email", ColumnType::Text { max_len: 254 }, "E-mail address").c2(),
        opt("city", NAME, "City of residence"),
        opt("occupation", ColumnType::Code(OCCUPATIONS), "Occupation"),
        opt(
            "education",
            ColumnType::Code(EDUCATIONS),
            "Highest education",
        ),
        opt(
            "marital_status",
            ColumnType::Code(MARITAL),
            "Marital status",
        ),
        opt("monthly_income_fen", MONEY, "Declared monthly income, 分").c2(),
        opt(
            "risk_level",
            ColumnType::Code(CUSTOMER_RISK_LEVELS),
            "Suitability risk level C1–C5 from the questionnaire",
        ),
        col("open_date", ColumnType::Date, "Date the relationship began"),
        opt("branch_id", ID, "Home branch"),
    ],
};

pub static IDENTITIES: TableDef = TableDef {
    name: "identities",
    zh_name: "身份标识",
    kind: TableKind::Fact,
    primary_key: &["customer_id", "id_type", "id_value"],
    description: "External identifiers seen for a customer record: cards, phones, WeChat OpenIDs. Identity resolution joins records that share one.",
    columns: &[
        col(
            "customer_id",
            ID,
            "Customer record the identifier was seen on",
        )
        .refs("customers", "customer_id"),
        col("id_type", ColumnType::Code(ID_TYPES), "Kind of identifier"),
        col(
            "id_value",
            ColumnType::Text { max_len: 128 },
            "The identifier",
        )
        .c2(),
        col(
            "source_system",
            ColumnType::Code(SOURCE_SYSTEMS),
            "System that saw it",
        ),
        col(
            "observed_at",
            ColumnType::Timestamp,
            "When it was seen (UTC)",
        ),
    ],
};

pub static ACCOUNTS: TableDef = TableDef {
    name: "accounts",
    zh_name: "账户",
    kind: TableKind::Fact,
    primary_key: &["account_id"],
    description: "Deposit, card, loan and investment accounts.",
    columns: &[
        col("account_id", ID, "Account id"),
        col("customer_id", ID, "Owner").refs("customers", "customer_id"),
        col(
            "account_type",
            ColumnType::Code(ACCOUNT_TYPES),
            "Kind of account",
        ),
        col(
            "currency",
            ColumnType::Code(CURRENCIES),
            "ISO currency, lower case",
        ),
        col("open_date", ColumnType::Date, "Opening date"),
        opt("close_date", ColumnType::Date, "Closing date"),
        col(
            "status",
            ColumnType::Code(ACCOUNT_STATUS),
            "active, dormant or closed",
        ),
        col(
            "balance_fen",
            SIGNED_MONEY,
            "Balance at extraction, 分 (negative for amounts owed)",
        )
        .c2(),
        opt(
            "credit_limit_fen",
            MONEY,
            "Credit limit for cards and credit lines, 分",
        )
        .c2(),
        opt(
            "maturity_date",
            ColumnType::Date,
            "Maturity for time deposits and loans",
        ),
    ],
};

pub static PRODUCTS: TableDef = TableDef {
    name: "products",
    zh_name: "产品",
    kind: TableKind::Fact,
    primary_key: &["product_id"],
    description: "The bank's product catalogue with risk levels R1–R5.",
    columns: &[
        col("product_id", ID, "Product id"),
        col("name_zh", NAME, "Chinese name"),
        col("name_en", NAME, "English name"),
        col(
            "category",
            ColumnType::Code(PRODUCT_CATEGORIES),
            "Product family",
        ),
        col(
            "risk_level",
            ColumnType::Code(PRODUCT_RISK_LEVELS),
            "Product risk level R1–R5",
        ),
        col("min_amount_fen", MONEY, "Minimum subscription, 分"),
        opt(
            "annual_rate_bp",
            ColumnType::Int {
                min: -10_000,
                max: 100_000,
            },
            "Indicative annual rate, basis points",
        ),
        col("launch_date", ColumnType::Date, "Launch date"),
    ],
};

pub static PRODUCT_HOLDINGS: TableDef = TableDef {
    name: "product_holdings",
    zh_name: "产品持有",
    kind: TableKind::Fact,
    primary_key: &["holding_id"],
    description: "Which customer holds which product, since when and how much.",
    columns: &[
        col("holding_id", ID, "Holding id"),
        col("customer_id", ID, "Holder").refs("customers", "customer_id"),
        col("product_id", ID, "Product held").refs("products", "product_id"),
        opt("account_id", ID, "Account the holding sits in").refs("accounts", "account_id"),
        col("start_date", ColumnType::Date, "Start"),
        opt("end_date", ColumnType::Date, "End"),
        col("amount_fen", MONEY, "Amount held, 分").c2(),
        col(
            "status",
            ColumnType::Code(HOLDING_STATUS),
            "active, matured or closed",
        ),
    ],
};

pub static TRANSACTIONS: TableDef = TableDef {
    name: "transactions",
    zh_name: "交易",
    kind: TableKind::Fact,
    primary_key: &["txn_id"],
    description: "Account transactions. Amounts are positive; `direction` says which way money moved.",
    columns: &[
        col("txn_id", ID, "Transaction id"),
        col("account_id", ID, "Account").refs("accounts", "account_id"),
        col("customer_id", ID, "Customer").refs("customers", "customer_id"),
        col("ts", ColumnType::Timestamp, "Booking time (UTC)"),
        col(
            "amount_fen",
            ColumnType::Money {
                min: 0,
                max: 100_000_000_000,
            },
            "Amount, 分 (positive)",
        )
        .c2(),
        col(
            "currency",
            ColumnType::Code(CURRENCIES),
            "ISO currency, lower case",
        ),
        col(
            "direction",
            ColumnType::Code(DIRECTIONS),
            "credit (money in) or debit (money out)",
        ),
        col("channel", ColumnType::Code(TXN_CHANNELS), "Channel used"),
        col("txn_type", ColumnType::Code(TXN_TYPES), "Business type"),
        opt(
            "merchant_category",
            ColumnType::Text { max_len: 8 },
            "Merchant category code for card purchases",
        ),
        opt("counterparty", NAME, "Counterparty name or bank").c2(),
        opt("description", NOTE, "Free-text memo; may contain PII"),
    ],
};

pub static EVENTS: TableDef = TableDef {
    name: "events",
    zh_name: "渠道事件",
    kind: TableKind::Fact,
    primary_key: &["event_id"],
    description: "Channel interactions: logins, page views, calls, complaints.",
    columns: &[
        col("event_id", ID, "Event id"),
        col("customer_id", ID, "Customer").refs("customers", "customer_id"),
        col("ts", ColumnType::Timestamp, "Event time (UTC)"),
        col("channel", ColumnType::Code(EVENT_CHANNELS), "Channel"),
        col("event_type", ColumnType::Code(EVENT_TYPES), "What happened"),
        opt("item", NAME, "Product, page or topic involved"),
        opt(
            "detail",
            NOTE,
            "Free text such as a complaint or chat note; may contain PII",
        ),
    ],
};

pub static OFFERS: TableDef = TableDef {
    name: "offers",
    zh_name: "营销权益",
    kind: TableKind::Fact,
    primary_key: &["offer_id"],
    description: "Offers built on products, with value and cost.",
    columns: &[
        col("offer_id", ID, "Offer id"),
        col("product_id", ID, "Product offered").refs("products", "product_id"),
        col("name", NAME, "Offer name"),
        col(
            "value_fen",
            MONEY,
            "Expected value to the bank if accepted, 分",
        ),
        col("cost_fen", MONEY, "Cost per contact, 分"),
        col("valid_from", ColumnType::Date, "First valid day"),
        opt("valid_to", ColumnType::Date, "Last valid day"),
    ],
};

pub static CAMPAIGNS: TableDef = TableDef {
    name: "campaigns",
    zh_name: "营销活动",
    kind: TableKind::Fact,
    primary_key: &["campaign_id"],
    description: "Historical and imported campaigns.",
    columns: &[
        col("campaign_id", ID, "Campaign id"),
        col("name", NAME, "Name"),
        opt("offer_id", ID, "Main offer").refs("offers", "offer_id"),
        col(
            "channel",
            ColumnType::Code(CONTACT_CHANNELS),
            "Main channel",
        ),
        col("start_date", ColumnType::Date, "Start"),
        opt("end_date", ColumnType::Date, "End"),
        col(
            "status",
            ColumnType::Code(CAMPAIGN_STATUS),
            "Lifecycle status",
        ),
        opt("budget_fen", MONEY, "Budget, 分"),
        opt(
            "holdout_share",
            SHARE,
            "Share of the audience held out, 0–1",
        ),
    ],
};

pub static CONTACTS: TableDef = TableDef {
    name: "contacts",
    zh_name: "接触历史",
    kind: TableKind::Fact,
    primary_key: &["contact_id"],
    description: "Contact history: who was contacted, in which campaign, channel and group.",
    columns: &[
        col("contact_id", ID, "Contact id"),
        col("campaign_id", ID, "Campaign").refs("campaigns", "campaign_id"),
        col("customer_id", ID, "Customer").refs("customers", "customer_id"),
        opt("offer_id", ID, "Offer presented").refs("offers", "offer_id"),
        col("channel", ColumnType::Code(CONTACT_CHANNELS), "Channel"),
        col("ts", ColumnType::Timestamp, "Contact time (UTC)"),
        col(
            "group",
            ColumnType::Code(CONTACT_GROUPS),
            "treatment, control or holdout",
        ),
        col(
            "status",
            ColumnType::Code(CONTACT_STATUS),
            "Delivery status",
        ),
    ],
};

pub static RESPONSES: TableDef = TableDef {
    name: "responses",
    zh_name: "营销响应",
    kind: TableKind::Fact,
    primary_key: &["response_id"],
    description: "Responses to contacts and experiments: opens, clicks, accepts, conversions with revenue.",
    columns: &[
        col("response_id", ID, "Response id"),
        opt("contact_id", ID, "Contact responded to").refs("contacts", "contact_id"),
        opt("campaign_id", ID, "Campaign").refs("campaigns", "campaign_id"),
        col("customer_id", ID, "Customer").refs("customers", "customer_id"),
        col("ts", ColumnType::Timestamp, "Response time (UTC)"),
        col(
            "response_type",
            ColumnType::Code(RESPONSE_TYPES),
            "What the customer did",
        ),
        opt("revenue_fen", MONEY, "Revenue attributed, 分"),
    ],
};

pub static CONSENTS: TableDef = TableDef {
    name: "consents",
    zh_name: "授权同意",
    kind: TableKind::Fact,
    primary_key: &["consent_id"],
    description: "Consent grants and withdrawals per purpose and channel (PIPL).",
    columns: &[
        col("consent_id", ID, "Consent event id"),
        col("customer_id", ID, "Customer").refs("customers", "customer_id"),
        col(
            "purpose",
            ColumnType::Code(CONSENT_PURPOSES),
            "marketing, profiling or third_party",
        ),
        col(
            "channel",
            ColumnType::Code(CONSENT_CHANNELS),
            "Channel, or all",
        ),
        col(
            "granted",
            ColumnType::Bool,
            "true for a grant, false for a withdrawal",
        ),
        col("ts", ColumnType::Timestamp, "When (UTC)"),
        col("source", NAME, "Where it was captured"),
        opt(
            "evidence",
            NOTE,
            "Reference to the signed form or recording",
        ),
    ],
};

pub static EXPERIMENTS: TableDef = TableDef {
    name: "experiments",
    zh_name: "实验",
    kind: TableKind::Fact,
    primary_key: &["experiment_id"],
    description: "Randomised experiments and their arms.",
    columns: &[
        col("experiment_id", ID, "Experiment id"),
        col("name", NAME, "Name"),
        col("arms", NOTE, "Arm names separated by '|'"),
        opt("control_arm", NAME, "The control arm"),
        col("start_date", ColumnType::Date, "Start"),
        opt("end_date", ColumnType::Date, "End"),
    ],
};

pub static ASSIGNMENTS: TableDef = TableDef {
    name: "assignments",
    zh_name: "实验分组",
    kind: TableKind::Fact,
    primary_key: &["experiment_id", "customer_id"],
    description: "Which arm each customer was assigned to.",
    columns: &[
        col("experiment_id", ID, "Experiment").refs("experiments", "experiment_id"),
        col("customer_id", ID, "Customer").refs("customers", "customer_id"),
        col("arm", NAME, "Arm"),
        col("assigned_at", ColumnType::Timestamp, "When (UTC)"),
    ],
};

pub static APPLICANTS: TableDef = TableDef {
    name: "applicants",
    zh_name: "信贷申请",
    kind: TableKind::Fact,
    primary_key: &["applicant_id"],
    description: "Credit applications with the Statlog German credit attributes and the outcome.",
    columns: &[
        col("applicant_id", ID, "Application id"),
        col("source_system", ColumnType::Code(SOURCE_SYSTEMS), "Source"),
        col(
            "checking_status",
            NAME,
            "Status of existing checking account",
        ),
        col(
            "duration_months",
            ColumnType::Int { min: 1, max: 600 },
            "Duration in months",
        ),
        col("credit_history", NAME, "Credit history"),
        col("purpose", NAME, "Purpose"),
        col(
            "credit_amount",
            ColumnType::Int {
                min: 0,
                max: 1_000_000_000,
            },
            "Credit amount (source currency units)",
        ),
        col("savings", NAME, "Savings account and bonds"),
        col("employment_since", NAME, "Present employment since"),
        col(
            "installment_rate",
            ColumnType::Int { min: 0, max: 100 },
            "Instalment rate in % of disposable income",
        ),
        col("personal_status_sex", NAME, "Personal status and sex"),
        col("other_debtors", NAME, "Other debtors or guarantors"),
        col(
            "residence_since",
            ColumnType::Int { min: 0, max: 100 },
            "Present residence since",
        ),
        col("property", NAME, "Property"),
        col("age", ColumnType::Int { min: 16, max: 120 }, "Age in years"),
        col("other_installment_plans", NAME, "Other instalment plans"),
        col("housing", NAME, "Housing"),
        col(
            "existing_credits",
            ColumnType::Int { min: 0, max: 100 },
            "Number of existing credits at this bank",
        ),
        col("job", NAME, "Job"),
        col(
            "dependents",
            ColumnType::Int { min: 0, max: 100 },
            "People liable to provide maintenance for",
        ),
        col("telephone", NAME, "Telephone"),
        col("foreign_worker", NAME, "Foreign worker"),
        opt(
            "creditability",
            ColumnType::Code(CREDITABILITY),
            "Outcome: good or bad",
        ),
    ],
};

/// Every fact table, in dependency order (a table comes after the tables it references).
pub static FACT_TABLES: &[&TableDef] = &[
    &CUSTOMERS,
    &IDENTITIES,
    &ACCOUNTS,
    &PRODUCTS,
    &PRODUCT_HOLDINGS,
    &TRANSACTIONS,
    &EVENTS,
    &OFFERS,
    &CAMPAIGNS,
    &CONTACTS,
    &RESPONSES,
    &CONSENTS,
    &EXPERIMENTS,
    &ASSIGNMENTS,
    &APPLICANTS,
];

pub fn fact_table(name: &str) -> Option<&'static TableDef> {
    FACT_TABLES.iter().copied().find(|t| t.name == name)
}

/// Names of all fact tables, for error messages.
pub fn fact_table_names() -> Vec<&'static str> {
    FACT_TABLES.iter().map(|t| t.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_point_at_earlier_tables_and_real_columns() {
        for (i, t) in FACT_TABLES.iter().enumerate() {
            for pk in t.primary_key {
                assert!(t.column(pk).is_some(), "{}.{pk} is not a column", t.name);
            }
            for c in t.columns {
                if let Some((rt, rc)) = c.references {
                    let j = FACT_TABLES
                        .iter()
                        .position(|x| x.name == rt)
                        .expect("referenced table exists");
                    assert!(j < i, "{}.{} references later table {rt}", t.name, c.name);
                    assert!(FACT_TABLES[j].column(rc).is_some());
                    assert_eq!(
                        FACT_TABLES[j].primary_key,
                        &[rc],
                        "{}.{} must reference a primary key",
                        t.name,
                        c.name
                    );
                }
            }
            assert_eq!(t.arrow_schema().fields().len(), t.columns.len());
        }
    }
}
