//! `DIR/derived/tags.meta.json`: the tag catalogue the tag engine writes beside
//! `tags.parquet` (names in Chinese and English, kind, category codes with labels).

use serde::{Deserialize, Serialize};

/// How a tag's values behave in expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TagKind {
    /// A code from a list (`aum_tier = "high"`, `in (…)`); Utf8 in Parquet.
    Categorical,
    /// A number (`age between 30 and 40`); Int64 or Float64 in Parquet.
    Numeric,
    /// True or false (`holds_fund`, `not salary_credit`); Boolean in Parquet.
    Flag,
}

impl TagKind {
    pub fn name(self) -> &'static str {
        match self {
            TagKind::Categorical => "categorical",
            TagKind::Numeric => "numeric",
            TagKind::Flag => "flag",
        }
    }
}

/// One allowed code of a categorical tag, with its labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeLabel {
    pub code: String,
    #[serde(default)]
    pub zh: String,
    #[serde(default)]
    pub en: String,
}

/// One tag as the tag engine describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagMeta {
    pub key: String,
    #[serde(default)]
    pub name_zh: String,
    #[serde(default)]
    pub name_en: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub category: String,
    pub kind: TagKind,
    #[serde(default)]
    pub values: Vec<CodeLabel>,
    #[serde(default)]
    pub version: serde_json::Value,
    #[serde(default)]
    pub owner: String,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TagsMeta {
    /// The day (or instant) the tags describe; "did … in the last N days" counts back from it.
    #[serde(default)]
    pub as_of: Option<String>,
    #[serde(default)]
    pub built_at: Option<String>,
    #[serde(default)]
    pub tags: Vec<TagMeta>,
}

impl TagsMeta {
    /// `as_of` as UTC microseconds: a date means the end of that day (UTC).
    pub fn as_of_micros(&self) -> Option<i64> {
        let s = self.as_of.as_deref()?.trim();
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
            return Some(t.timestamp_micros());
        }
        if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            let end = d.and_hms_opt(23, 59, 59)?.and_utc();
            return Some(end.timestamp_micros() + 999_999);
        }
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S") {
            return Some(t.and_utc().timestamp_micros());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_contract_and_as_of_forms() {
        let m: TagsMeta = serde_json::from_str(
            r#"{"as_of":"2024-06-30","built_at":"2024-07-01T02:00:00Z","tags":[
              {"key":"aum_tier","name_zh":"资产等级","name_en":"AUM tier","description":"d",
               "category":"assets","kind":"categorical","values":[{"code":"high","zh":"高净值","en":"High"}],
               "version":3,"owner":"data-team"}]}"#,
        )
        .unwrap();
        assert_eq!(m.tags[0].kind, TagKind::Categorical);
        assert_eq!(m.tags[0].values[0].zh, "高净值");
        // End of 2024-06-30 UTC.
        assert_eq!(m.as_of_micros(), Some(1_719_791_999_999_999));
        let m = TagsMeta {
            as_of: Some("2024-06-30T00:00:00Z".into()),
            ..Default::default()
        };
        assert_eq!(m.as_of_micros(), Some(1_719_705_600_000_000));
    }
}
