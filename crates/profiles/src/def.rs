//! Tag definitions as data: what a tag means, who owns it, which version, and how it is
//! computed.
//!
//! A definition file is TOML with one or more `[[tag]]` tables:
//!
//! ```toml
//! [[tag]]
//! key = "active_saver"
//! name_zh = "活跃储蓄客户"
//! name_en = "Active saver"
//! description = "Deposits over 50,000 yuan and 10+ transactions in 90 days."
//! category = "custom"
//! kind = "flag"
//! version = 1
//! owner = "marketing@bank"
//! rule = "deposit_balance_yuan >= 50000 and txn_count_90d >= 10"
//! ```
//!
//! The body is exactly one of:
//! * `source` + `expr`: an aggregate SQL expression over one source (see [`crate::sources`]),
//!   per customer. Tags on the same source are computed together in one scan.
//! * `sql`: a query returning `customer_id` and `value`, one row per customer.
//! * `rule`: the [rule language](crate::rule) over other tags.
//!
//! In `expr`, `sql` and `explain_sql`, `{as_of}` is the as-of date (`DATE 'YYYY-MM-DD'`),
//! `{as_of_end}` the first instant after it (UTC timestamp), `{month_start}` the first
//! instant of its month; in `explain_sql`, `{customer_id}` is the customer (a quoted literal).

use serde::{Deserialize, Serialize};

use crate::rule::{self, Type};
use crate::sources;

/// What kind of values a tag has; fixes its column type in `tags.parquet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A code from `values` (Utf8).
    Categorical,
    /// A number (Float64, or Int64 when `integer = true`).
    Numeric,
    /// True or false (Boolean).
    Flag,
}

impl Kind {
    pub fn rule_type(self) -> Type {
        match self {
            Kind::Categorical => Type::Str,
            Kind::Numeric => Type::Num,
            Kind::Flag => Type::Bool,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Categorical => "categorical",
            Kind::Numeric => "numeric",
            Kind::Flag => "flag",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Active,
    /// Kept for history and explanations of old outputs, but no longer computed.
    Retired,
}

/// One code of a categorical tag, with its labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueLabel {
    pub code: String,
    pub zh: String,
    pub en: String,
}

/// How a tag is computed.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Aggregate { source: String, expr: String },
    Sql { sql: String },
    Rule { rule: String, parsed: rule::Expr },
}

impl Body {
    pub fn kind_name(&self) -> &'static str {
        match self {
            Body::Aggregate { .. } => "aggregate",
            Body::Sql { .. } => "sql",
            Body::Rule { .. } => "rule",
        }
    }
}

/// A validated tag definition.
#[derive(Debug, Clone, PartialEq)]
pub struct TagDef {
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
    pub description: String,
    pub category: String,
    pub kind: Kind,
    /// Numeric tags only: store as Int64 (counts, days).
    pub integer: bool,
    /// Unit of a numeric tag for display, e.g. `yuan`, `days`.
    pub unit: Option<String>,
    pub values: Vec<ValueLabel>,
    pub version: u32,
    pub owner: String,
    pub status: Status,
    /// Value for customers the source has no rows for (e.g. 0 for counts, false for flags).
    pub default: Option<toml::Value>,
    pub body: Body,
    /// Optional query showing the inputs behind one customer's value (for `explain`).
    pub explain_sql: Option<String>,
    /// `true` for definitions shipped in the binary.
    pub builtin: bool,
}

/// The TOML form of a definition (also what `tags add` stores in the data directory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTag {
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
    #[serde(default)]
    pub description: String,
    pub category: String,
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub integer: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<ValueLabel>,
    /// Absent in a file given to `tags add`: one more than the stored version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default)]
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<toml::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explain_sql: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    tag: Vec<RawTag>,
}

/// A definition that cannot be used, with where it came from and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum DefError {
    #[error("{origin}: not valid TOML for tag definitions: {message}")]
    Toml { origin: String, message: String },
    #[error("{origin}: tag '{key}': {message}")]
    Invalid {
        origin: String,
        key: String,
        message: String,
    },
}

/// Parses a definition file (`[[tag]]` tables). `origin` names it in errors.
pub fn parse_file(text: &str, origin: &str) -> Result<Vec<RawTag>, DefError> {
    let file: RawFile = toml::from_str(text).map_err(|e| DefError::Toml {
        origin: origin.to_string(),
        message: e.to_string(),
    })?;
    if file.tag.is_empty() {
        return Err(DefError::Toml {
            origin: origin.to_string(),
            message: "no [[tag]] table found: a definition file holds one or more [[tag]] tables"
                .into(),
        });
    }
    Ok(file.tag)
}

/// Known categories, in display order, with their labels. Others are allowed and shown as is.
pub const CATEGORIES: &[(&str, &str, &str)] = &[
    ("basic", "基本属性", "Basic attributes"),
    ("assets", "资产", "Assets"),
    ("behaviour", "交易行为", "Transaction behaviour"),
    ("channel", "渠道偏好", "Channel preference"),
    ("rfm", "RFM 价值", "RFM value"),
    ("lifecycle", "生命周期", "Lifecycle"),
    ("holdings", "产品持有", "Product holdings"),
    ("risk", "风险偏好", "Risk appetite"),
    ("inflow", "资金流入", "Inflows"),
    ("model", "模型评分", "Model scores"),
    ("custom", "自定义", "Custom"),
];

fn is_key(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl RawTag {
    /// Checks everything that does not depend on other tags, and builds the definition.
    pub fn validate(self, origin: &str, builtin: bool) -> Result<TagDef, DefError> {
        let bad = |message: String| DefError::Invalid {
            origin: origin.to_string(),
            key: self.key.clone(),
            message,
        };
        if !is_key(&self.key) {
            return Err(bad(
                "a key is snake_case ASCII: a lower-case letter, then letters, digits or '_' (at most 63), e.g. txn_count_90d".into(),
            ));
        }
        if rule::parse(&self.key).ok() != Some(rule::Expr::Tag(self.key.clone())) {
            return Err(bad(
                "the key is a reserved word of the rule language; choose another".into(),
            ));
        }
        if self.key == "customer_id" {
            return Err(bad(
                "'customer_id' is the key column of tags.parquet; choose another key".into(),
            ));
        }
        for (field, v) in [
            ("name_zh", &self.name_zh),
            ("name_en", &self.name_en),
            ("category", &self.category),
        ] {
            if v.trim().is_empty() {
                return Err(bad(format!("'{field}' is empty: give it a value")));
            }
        }
        if self.version == Some(0) {
            return Err(bad("versions start at 1".into()));
        }
        match self.kind {
            Kind::Categorical => {
                if self.values.is_empty() {
                    return Err(bad(
                        "a categorical tag lists its codes: values = [{ code = \"high\", zh = \"高\", en = \"High\" }, …]".into(),
                    ));
                }
                let mut seen = std::collections::BTreeSet::new();
                for v in &self.values {
                    if v.code.is_empty() || !seen.insert(v.code.as_str()) {
                        return Err(bad(format!("value code '{}' is empty or repeated", v.code)));
                    }
                }
            }
            _ if !self.values.is_empty() => {
                return Err(bad(format!(
                    "only categorical tags have 'values'; this one is {}",
                    self.kind.as_str()
                )));
            }
            _ => {}
        }
        if self.integer && self.kind != Kind::Numeric {
            return Err(bad("'integer = true' is for numeric tags only".into()));
        }
        if let Some(d) = &self.default {
            let ok = matches!(
                (self.kind, d),
                (
                    Kind::Numeric,
                    toml::Value::Integer(_) | toml::Value::Float(_)
                ) | (Kind::Flag, toml::Value::Boolean(_))
                    | (Kind::Categorical, toml::Value::String(_))
            );
            if !ok {
                return Err(bad(format!(
                    "'default = {d}' does not fit a {} tag",
                    self.kind.as_str()
                )));
            }
            if let (Kind::Categorical, toml::Value::String(s)) = (self.kind, d)
                && !self.values.iter().any(|v| &v.code == s)
            {
                return Err(bad(format!(
                    "default '{s}' is not one of the tag's value codes"
                )));
            }
        }
        let body = match (&self.source, &self.expr, &self.sql, &self.rule) {
            (Some(source), Some(expr), None, None) => {
                if sources::source(source).is_none() {
                    return Err(bad(format!(
                        "unknown source '{source}': use one of {}",
                        sources::SOURCES
                            .iter()
                            .map(|s| s.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                if expr.trim().is_empty() {
                    return Err(bad("'expr' is empty".into()));
                }
                Body::Aggregate {
                    source: source.clone(),
                    expr: expr.trim().to_string(),
                }
            }
            (None, None, Some(sql), None) => {
                let lower = sql.to_ascii_lowercase();
                if !lower.contains("customer_id") || !lower.contains("value") {
                    return Err(bad(
                        "'sql' must return two columns named customer_id and value".into(),
                    ));
                }
                if sql.contains(';') {
                    return Err(bad("'sql' is one query without ';'".into()));
                }
                Body::Sql {
                    sql: sql.trim().to_string(),
                }
            }
            (None, None, None, Some(r)) => {
                let parsed = rule::parse(r).map_err(|e| bad(format!("rule: {e}")))?;
                if self.kind == Kind::Categorical {
                    for s in parsed.result_strings() {
                        if !self.values.iter().any(|v| v.code == s) {
                            return Err(bad(format!(
                                "rule: \"{s}\" is not one of the tag's value codes ({})",
                                self.values
                                    .iter()
                                    .map(|v| v.code.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )));
                        }
                    }
                }
                Body::Rule {
                    rule: r.trim().to_string(),
                    parsed,
                }
            }
            _ => {
                return Err(bad(
                    "give exactly one body: 'source' with 'expr', or 'sql', or 'rule'".into(),
                ));
            }
        };
        Ok(TagDef {
            key: self.key.clone(),
            name_zh: self.name_zh.trim().to_string(),
            name_en: self.name_en.trim().to_string(),
            description: self.description.trim().to_string(),
            category: self.category.trim().to_string(),
            kind: self.kind,
            integer: self.integer,
            unit: self.unit.clone(),
            values: self.values.clone(),
            version: self.version.unwrap_or(1),
            owner: self.owner.clone().unwrap_or_else(|| "unknown".into()),
            status: self.status,
            default: self.default.clone(),
            body,
            explain_sql: self.explain_sql.clone(),
            builtin,
        })
    }
}

impl TagDef {
    /// Back to the TOML form.
    pub fn to_raw(&self) -> RawTag {
        let (source, expr, sql, rule) = match &self.body {
            Body::Aggregate { source, expr } => {
                (Some(source.clone()), Some(expr.clone()), None, None)
            }
            Body::Sql { sql } => (None, None, Some(sql.clone()), None),
            Body::Rule { rule, .. } => (None, None, None, Some(rule.clone())),
        };
        RawTag {
            key: self.key.clone(),
            name_zh: self.name_zh.clone(),
            name_en: self.name_en.clone(),
            description: self.description.clone(),
            category: self.category.clone(),
            kind: self.kind,
            integer: self.integer,
            unit: self.unit.clone(),
            values: self.values.clone(),
            version: Some(self.version),
            owner: Some(self.owner.clone()),
            status: self.status,
            default: self.default.clone(),
            source,
            expr,
            sql,
            rule,
            explain_sql: self.explain_sql.clone(),
        }
    }

    /// The definition as a TOML file with one `[[tag]]`.
    pub fn to_toml(&self) -> String {
        #[derive(Serialize)]
        struct One<'a> {
            tag: [&'a RawTag; 1],
        }
        let raw = self.to_raw();
        toml::to_string_pretty(&One { tag: [&raw] }).unwrap_or_default()
    }

    pub fn label(&self, code: &str) -> Option<&ValueLabel> {
        self.values.iter().find(|v| v.code == code)
    }

    /// The SQL literal of `default`, if any.
    pub fn default_sql(&self) -> Option<String> {
        self.default.as_ref().map(|d| match d {
            toml::Value::String(s) => format!("'{}'", s.replace('\'', "''")),
            other => other.to_string(),
        })
    }

    /// Arrow type of the tag's column in `tags.parquet`.
    pub fn arrow_type(&self) -> arrow::datatypes::DataType {
        use arrow::datatypes::DataType;
        match (self.kind, self.integer) {
            (Kind::Categorical, _) => DataType::Utf8,
            (Kind::Numeric, true) => DataType::Int64,
            (Kind::Numeric, false) => DataType::Float64,
            (Kind::Flag, _) => DataType::Boolean,
        }
    }

    /// SQL type name used to cast the tag's column.
    pub fn sql_type(&self) -> &'static str {
        match (self.kind, self.integer) {
            (Kind::Categorical, _) => "VARCHAR",
            (Kind::Numeric, true) => "BIGINT",
            (Kind::Numeric, false) => "DOUBLE",
            (Kind::Flag, _) => "BOOLEAN",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(extra: &str) -> Result<TagDef, DefError> {
        let text = format!(
            "[[tag]]\nkey = \"k\"\nname_zh = \"中\"\nname_en = \"En\"\ncategory = \"custom\"\n{extra}\n"
        );
        parse_file(&text, "t.toml")?
            .remove(0)
            .validate("t.toml", false)
    }

    #[test]
    fn a_body_is_required_and_unique() {
        let e = one("kind = \"flag\"").unwrap_err().to_string();
        assert!(e.contains("exactly one body"), "{e}");
        let e = one("kind = \"flag\"\nrule = \"true\"\nsql = \"select customer_id, 1 as value\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("exactly one body"), "{e}");
        let t = one("kind = \"flag\"\nrule = \"a > 1\"").unwrap();
        assert_eq!(t.version, 1);
        assert_eq!(t.body.kind_name(), "rule");
    }

    #[test]
    fn categorical_codes_are_checked() {
        let e = one("kind = \"categorical\"\nrule = \"case when a > 1 then 'hi' end\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("lists its codes"), "{e}");
        let e = one("kind = \"categorical\"\nvalues = [{code = \"lo\", zh = \"低\", en = \"Low\"}]\nrule = \"case when a > 1 then 'hi' end\"")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"hi\" is not one of the tag's value codes (lo)"),
            "{e}"
        );
    }

    #[test]
    fn unknown_fields_and_sources_are_named() {
        let e = one("kind = \"flag\"\nrul = \"x\"").unwrap_err().to_string();
        assert!(e.contains("rul"), "{e}");
        let e = one("kind = \"numeric\"\nsource = \"nowhere\"\nexpr = \"COUNT(*)\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown source 'nowhere'"), "{e}");
        let e = one("kind = \"flag\"\nkey2 = 1").unwrap_err().to_string();
        assert!(e.contains("t.toml"), "{e}");
    }

    #[test]
    fn round_trips_through_toml() {
        let t = one("kind = \"numeric\"\ninteger = true\ndefault = 0\nsource = \"transactions\"\nexpr = \"COUNT(*)\"\nversion = 3").unwrap();
        let back = parse_file(&t.to_toml(), "x")
            .unwrap()
            .remove(0)
            .validate("x", false)
            .unwrap();
        assert_eq!(back, t);
    }
}
