//! The offer catalogue: offers on the bank's products, with eligibility, value, cost,
//! validity, per-channel treatments and business levers. Every edit makes a new version
//! and the history is kept, so a decision can always name the exact version it used.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use zhiying_core::domain::ProductRiskLevel;

use crate::channel::Channel;

/// Fields a template may use. The request or the offer supplies each (see [`render`]).
pub const TEMPLATE_FIELDS: &[&str] = &[
    "name_masked",
    "product_name",
    "offer_name",
    "rate",
    "valid_to",
    "branch_name",
];

/// Longest SMS body accepted (characters); longer texts are split into many billed parts.
pub const SMS_MAX_CHARS: usize = 140;

/// Whether the offer may be decided on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferStatus {
    #[default]
    Active,
    /// Temporarily not offered (kept in the catalogue).
    Paused,
    /// Withdrawn for good.
    Retired,
}

/// How an offer is presented on one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Treatment {
    pub channel: Channel,
    #[serde(default)]
    pub title_zh: Option<String>,
    #[serde(default)]
    pub title_en: Option<String>,
    pub template_zh: String,
    pub template_en: String,
}

/// One version of an offer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offer {
    pub id: String,
    /// Assigned by the [`Catalog`]; 1 for the first version.
    #[serde(default = "one")]
    pub version: u32,
    pub product_id: String,
    pub name_zh: String,
    pub name_en: String,
    /// Product family, one of `zhiying_core::schema::PRODUCT_CATEGORIES`.
    pub category: String,
    #[serde(
        deserialize_with = "de_product_risk",
        serialize_with = "ser_product_risk"
    )]
    pub risk_level: ProductRiskLevel,
    /// An audience expression (see `docs/audiences.md`); empty means every customer.
    #[serde(default)]
    pub eligibility: String,
    /// Expected value to the bank if accepted, 分.
    pub value_fen: i64,
    /// Cost per contact, 分.
    pub cost_fen: i64,
    /// First and last valid local (Asia/Shanghai) days, inclusive.
    pub valid_from: NaiveDate,
    #[serde(default)]
    pub valid_to: Option<NaiveDate>,
    /// Indicative annual rate in basis points, shown by `{rate}`.
    #[serde(default)]
    pub rate_bp: Option<i64>,
    #[serde(default)]
    pub product_name_zh: Option<String>,
    #[serde(default)]
    pub product_name_en: Option<String>,
    pub treatments: Vec<Treatment>,
    /// Business lever: multiplies priority (1 = neutral).
    #[serde(default = "one_f64")]
    pub strategic_weight: f64,
    /// A campaign this offer is pinned to; pinned offers get the engine's pinned-campaign
    /// weight.
    #[serde(default)]
    pub pinned_campaign: Option<String>,
    #[serde(default)]
    pub status: OfferStatus,
    #[serde(default)]
    pub edited_by: Option<String>,
    #[serde(default)]
    pub edited_at: Option<DateTime<Utc>>,
}

fn one() -> u32 {
    1
}
fn one_f64() -> f64 {
    1.0
}

fn de_product_risk<'de, D: Deserializer<'de>>(d: D) -> Result<ProductRiskLevel, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}
fn ser_product_risk<S: serde::Serializer>(r: &ProductRiskLevel, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match r {
        ProductRiskLevel::R1 => "R1",
        ProductRiskLevel::R2 => "R2",
        ProductRiskLevel::R3 => "R3",
        ProductRiskLevel::R4 => "R4",
        ProductRiskLevel::R5 => "R5",
    })
}

impl Offer {
    pub fn treatment(&self, channel: Channel) -> Option<&Treatment> {
        self.treatments.iter().find(|t| t.channel == channel)
    }
    pub fn product_name_zh(&self) -> &str {
        self.product_name_zh.as_deref().unwrap_or(&self.name_zh)
    }
    pub fn product_name_en(&self) -> &str {
        self.product_name_en.as_deref().unwrap_or(&self.name_en)
    }
    /// Whether the offer may be shown on local day `day`.
    pub fn valid_on(&self, day: NaiveDate) -> bool {
        day >= self.valid_from && self.valid_to.is_none_or(|to| day <= to)
    }

    /// Every problem with this offer, each naming the field and the fix.
    pub fn validate(&self) -> Vec<OfferFieldError> {
        let mut errs = Vec::new();
        let mut err = |field: &str, message: String| {
            errs.push(OfferFieldError {
                offer: self.id.clone(),
                field: field.to_string(),
                message,
            })
        };
        if self.id.trim().is_empty() || self.id.chars().any(char::is_whitespace) {
            err(
                "id",
                "must be a non-empty id without spaces, e.g. \"O001\"".into(),
            );
        }
        if self.product_id.trim().is_empty() {
            err(
                "product_id",
                "must name the product offered, e.g. \"P014\"".into(),
            );
        }
        if self.name_zh.trim().is_empty() {
            err("name_zh", "must not be empty".into());
        }
        if self.name_en.trim().is_empty() {
            err("name_en", "must not be empty".into());
        }
        if !zhiying_core::schema::PRODUCT_CATEGORIES.contains(&self.category.as_str()) {
            err(
                "category",
                format!(
                    "'{}' is not a product category: use one of {}",
                    self.category,
                    zhiying_core::schema::PRODUCT_CATEGORIES.join(", ")
                ),
            );
        }
        if self.value_fen < 0 {
            err(
                "value_fen",
                format!("is {}; must be ≥ 0 (分)", self.value_fen),
            );
        }
        if self.cost_fen < 0 {
            err(
                "cost_fen",
                format!("is {}; must be ≥ 0 (分)", self.cost_fen),
            );
        }
        if let Some(to) = self.valid_to
            && to < self.valid_from
        {
            err(
                "valid_to",
                format!(
                    "{to} is before valid_from {}; set it on or after that day",
                    self.valid_from
                ),
            );
        }
        if !(self.strategic_weight.is_finite()
            && self.strategic_weight > 0.0
            && self.strategic_weight <= 100.0)
        {
            err(
                "strategic_weight",
                format!(
                    "is {}; must be in (0, 100] (1 is neutral)",
                    self.strategic_weight
                ),
            );
        }
        if let Some(c) = &self.pinned_campaign
            && c.trim().is_empty()
        {
            err(
                "pinned_campaign",
                "is empty; remove it or name the campaign".into(),
            );
        }
        if !self.eligibility.trim().is_empty()
            && let Err(e) = zhiying_audience::parse(&self.eligibility)
        {
            err(
                "eligibility",
                format!("is not a valid audience expression: {e}"),
            );
        }
        if self.treatments.is_empty() {
            err(
                "treatments",
                "needs at least one channel treatment (app_push, sms, email, wechat, call_centre, branch)".into(),
            );
        }
        let mut seen = Vec::new();
        for t in &self.treatments {
            let at = t.channel.as_str();
            if seen.contains(&t.channel) {
                err(
                    &format!("treatments[{at}]"),
                    "appears twice; keep one treatment per channel".into(),
                );
            }
            seen.push(t.channel);
            for (name, text) in [
                ("template_zh", &t.template_zh),
                ("template_en", &t.template_en),
            ]
            .into_iter()
            .chain(t.title_zh.as_ref().map(|s| ("title_zh", s)))
            .chain(t.title_en.as_ref().map(|s| ("title_en", s)))
            {
                let field = format!("treatments[{at}].{name}");
                if name.starts_with("template") && text.trim().is_empty() {
                    err(&field, "must not be empty".into());
                    continue;
                }
                match template_fields(text) {
                    Err(m) => err(&field, m),
                    Ok(fields) => {
                        for f in fields {
                            if f == "rate" && self.rate_bp.is_none() {
                                err(&field, "uses {rate} but the offer has no rate_bp; set rate_bp or remove {rate}".into());
                            }
                            if f == "valid_to" && self.valid_to.is_none() {
                                err(&field, "uses {valid_to} but the offer has no valid_to; set it or remove {valid_to}".into());
                            }
                        }
                    }
                }
                if t.channel == Channel::Sms
                    && name.starts_with("template")
                    && text.chars().count() > SMS_MAX_CHARS
                {
                    err(
                        &field,
                        format!(
                            "is {} characters; an SMS template must be at most {SMS_MAX_CHARS}",
                            text.chars().count()
                        ),
                    );
                }
            }
        }
        errs
    }
}

/// The field names a template uses, or why it is malformed (unknown field, stray brace).
pub fn template_fields(template: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        if rest[open..].starts_with('}') {
            return Err(format!(
                "has a '}}' without '{{' at character {}",
                template.len() - rest.len() + open
            ));
        }
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| "has a '{' that is never closed; write fields as {name}".to_string())?;
        let name = &after[..close];
        if !TEMPLATE_FIELDS.contains(&name) {
            return Err(format!(
                "uses unknown field {{{name}}}; known fields are {}",
                TEMPLATE_FIELDS
                    .iter()
                    .map(|f| format!("{{{f}}}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        out.push(name);
        rest = &after[close + 1..];
    }
    Ok(out)
}

/// Language of a rendered text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

/// Fills a (validated) template. `name_masked` and `branch_name` come from the caller's
/// `personalisation` map (already masked: the engine never sees raw names); the rest from
/// the offer. A missing value falls back to a neutral phrase rather than a raw `{field}`.
pub fn render(
    template: &str,
    offer: &Offer,
    lang: Lang,
    personalisation: &BTreeMap<String, String>,
) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let name = &after[..close];
        let zh = lang == Lang::Zh;
        match name {
            "product_name" => out.push_str(if zh {
                offer.product_name_zh()
            } else {
                offer.product_name_en()
            }),
            "offer_name" => out.push_str(if zh { &offer.name_zh } else { &offer.name_en }),
            "rate" => match offer.rate_bp {
                Some(bp) => out.push_str(&format!("{}.{:02}%", bp / 100, (bp % 100).abs())),
                None => out.push_str(if zh {
                    "优惠利率"
                } else {
                    "a preferential rate"
                }),
            },
            "valid_to" => match offer.valid_to {
                Some(d) => out.push_str(&d.format("%Y-%m-%d").to_string()),
                None => out.push_str(if zh {
                    "活动结束"
                } else {
                    "the end of the offer"
                }),
            },
            "name_masked" => out.push_str(
                personalisation
                    .get("name_masked")
                    .map(String::as_str)
                    .unwrap_or(if zh { "客户" } else { "customer" }),
            ),
            "branch_name" => out.push_str(
                personalisation
                    .get("branch_name")
                    .map(String::as_str)
                    .unwrap_or(if zh {
                        "您的开户网点"
                    } else {
                        "your branch"
                    }),
            ),
            other => {
                out.push('{');
                out.push_str(other);
                out.push('}');
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// One problem with one field of one offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OfferFieldError {
    pub offer: String,
    pub field: String,
    pub message: String,
}

impl fmt::Display for OfferFieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "offer '{}', field '{}': {}",
            self.offer, self.field, self.message
        )
    }
}

/// Why a catalogue could not be loaded or changed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CatalogError {
    #[error("the catalogue is not valid {format}: {message}")]
    Syntax {
        format: &'static str,
        message: String,
    },
    #[error("{} problem(s) in the catalogue:\n  {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Invalid(Vec<OfferFieldError>),
    #[error("offer '{0}' is not in the catalogue; list offers to see the ids")]
    UnknownOffer(String),
}

/// All offers with their version history. Serialises as `{"offers": {id: [v1, v2, …]}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    offers: BTreeMap<String, Vec<Offer>>,
}

#[derive(Deserialize)]
struct TomlFile {
    #[serde(default)]
    offer: Vec<toml::Value>,
}

impl Catalog {
    pub fn new() -> Self {
        Self::default()
    }

    /// A catalogue of first versions. Every offer is validated; ids must be unique.
    pub fn from_offers(offers: Vec<Offer>) -> Result<Self, CatalogError> {
        let mut errs = Vec::new();
        let mut c = Catalog::new();
        for mut o in offers {
            errs.extend(o.validate());
            if c.offers.contains_key(&o.id) {
                errs.push(OfferFieldError {
                    offer: o.id.clone(),
                    field: "id".into(),
                    message: "appears twice in the file; offer ids must be unique".into(),
                });
                continue;
            }
            o.version = o.version.max(1);
            c.offers.insert(o.id.clone(), vec![o]);
        }
        if errs.is_empty() {
            Ok(c)
        } else {
            Err(CatalogError::Invalid(errs))
        }
    }

    /// Loads `[[offer]]` tables (with `[[offer.treatments]]`), as in `docs/decisioning.md`.
    pub fn from_toml_str(text: &str) -> Result<Self, CatalogError> {
        let file: TomlFile = toml::from_str(text).map_err(|e| CatalogError::Syntax {
            format: "TOML",
            message: e.to_string(),
        })?;
        let values = file.offer.into_iter().map(|v| {
            let id = v.get("id").and_then(|i| i.as_str()).map(str::to_string);
            (id, v.try_into::<Offer>().map_err(|e| e.to_string()))
        });
        Self::from_parsed(values.collect())
    }

    /// Loads `{"offers": [...]}` or a bare JSON array of offers.
    pub fn from_json_str(text: &str) -> Result<Self, CatalogError> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| CatalogError::Syntax {
                format: "JSON",
                message: e.to_string(),
            })?;
        let list = match v {
            serde_json::Value::Array(a) => a,
            serde_json::Value::Object(mut o) => match o.remove("offers") {
                Some(serde_json::Value::Array(a)) => a,
                _ => {
                    return Err(CatalogError::Syntax {
                        format: "JSON",
                        message: "expected an array of offers or {\"offers\": [...]}".into(),
                    });
                }
            },
            _ => {
                return Err(CatalogError::Syntax {
                    format: "JSON",
                    message: "expected an array of offers or {\"offers\": [...]}".into(),
                });
            }
        };
        let values = list.into_iter().map(|v| {
            let id = v.get("id").and_then(|i| i.as_str()).map(str::to_string);
            (
                id,
                serde_json::from_value::<Offer>(v).map_err(|e| e.to_string()),
            )
        });
        Self::from_parsed(values.collect())
    }

    fn from_parsed(
        items: Vec<(Option<String>, Result<Offer, String>)>,
    ) -> Result<Self, CatalogError> {
        let mut errs = Vec::new();
        let mut offers = Vec::new();
        for (i, (id, r)) in items.into_iter().enumerate() {
            match r {
                Ok(o) => offers.push(o),
                Err(m) => errs.push(OfferFieldError {
                    offer: id.unwrap_or_else(|| format!("#{} (no id)", i + 1)),
                    field: field_of_serde_message(&m),
                    message: m,
                }),
            }
        }
        match Self::from_offers(offers) {
            Ok(c) if errs.is_empty() => Ok(c),
            Ok(_) => Err(CatalogError::Invalid(errs)),
            Err(CatalogError::Invalid(more)) => {
                errs.extend(more);
                Err(CatalogError::Invalid(errs))
            }
            Err(e) => Err(e),
        }
    }

    /// The current versions as TOML (the format [`Catalog::from_toml_str`] reads).
    pub fn to_toml_string(&self) -> String {
        #[derive(Serialize)]
        struct Out<'a> {
            offer: Vec<&'a Offer>,
        }
        toml::to_string_pretty(&Out {
            offer: self.current().collect(),
        })
        .unwrap_or_default()
    }

    /// Adds an offer or edits one: the offer becomes a new version (the previous ones are
    /// kept). Returns the new version number, or the current one if nothing changed.
    pub fn upsert(
        &mut self,
        mut offer: Offer,
        edited_by: &str,
        at: DateTime<Utc>,
    ) -> Result<u32, CatalogError> {
        let errs = offer.validate();
        if !errs.is_empty() {
            return Err(CatalogError::Invalid(errs));
        }
        let history = self.offers.entry(offer.id.clone()).or_default();
        if let Some(last) = history.last() {
            let mut same = offer.clone();
            same.version = last.version;
            same.edited_by = last.edited_by.clone();
            same.edited_at = last.edited_at;
            if &same == last {
                return Ok(last.version);
            }
        }
        offer.version = history.last().map_or(1, |l| l.version + 1);
        offer.edited_by = Some(edited_by.to_string());
        offer.edited_at = Some(at);
        let v = offer.version;
        history.push(offer);
        Ok(v)
    }

    /// Retires an offer (a new version with status `retired`).
    pub fn retire(&mut self, id: &str, by: &str, at: DateTime<Utc>) -> Result<u32, CatalogError> {
        let mut o = self
            .get(id)
            .cloned()
            .ok_or_else(|| CatalogError::UnknownOffer(id.to_string()))?;
        o.status = OfferStatus::Retired;
        self.upsert(o, by, at)
    }

    /// The current version of an offer.
    pub fn get(&self, id: &str) -> Option<&Offer> {
        self.offers.get(id).and_then(|h| h.last())
    }
    /// A given version of an offer.
    pub fn version(&self, id: &str, version: u32) -> Option<&Offer> {
        self.offers
            .get(id)
            .and_then(|h| h.iter().find(|o| o.version == version))
    }
    /// Every version of an offer, oldest first.
    pub fn history(&self, id: &str) -> &[Offer] {
        self.offers.get(id).map_or(&[], |h| h.as_slice())
    }
    /// The current version of every offer, by id.
    pub fn current(&self) -> impl Iterator<Item = &Offer> {
        self.offers.values().filter_map(|h| h.last())
    }
    pub fn len(&self) -> usize {
        self.offers.len()
    }
    pub fn is_empty(&self) -> bool {
        self.offers.is_empty()
    }
}

/// serde says "missing field `x`" or "unknown variant `y` ... for key `offer.z`"; pull the
/// field out so the error names it.
fn field_of_serde_message(m: &str) -> String {
    for pat in ["missing field `", "unknown field `"] {
        if let Some(i) = m.find(pat) {
            let rest = &m[i + pat.len()..];
            if let Some(end) = rest.find('`') {
                return rest[..end].to_string();
            }
        }
    }
    if let Some(i) = m.find("for key `") {
        let rest = &m[i + 9..];
        if let Some(end) = rest.find('`') {
            return rest[..end].rsplit('.').next().unwrap_or("").to_string();
        }
    }
    "(offer)".to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const ONE: &str = r#"
[[offer]]
id = "O1"
product_id = "P002"
name_zh = "定期加息"
name_en = "Deposit boost"
category = "time_deposit"
risk_level = "r1"
value_fen = 30000
cost_fen = 20
valid_from = "2024-01-01"
rate_bp = 175
[[offer.treatments]]
channel = "sms"
template_zh = "{name_masked}您好，年利率{rate}"
template_en = "Dear {name_masked}, {rate} a year"
"#;

    #[test]
    fn loads_toml_and_renders_templates() {
        let c = Catalog::from_toml_str(ONE).unwrap();
        let o = c.get("O1").unwrap();
        assert_eq!(o.version, 1);
        assert_eq!(o.risk_level, ProductRiskLevel::R1);
        let t = o.treatment(Channel::Sms).unwrap();
        let p = BTreeMap::from([("name_masked".to_string(), "李*".to_string())]);
        assert_eq!(
            render(&t.template_zh, o, Lang::Zh, &p),
            "李*您好，年利率1.75%"
        );
        assert_eq!(
            render(&t.template_en, o, Lang::En, &BTreeMap::new()),
            "Dear customer, 1.75% a year"
        );
        // Round trip through TOML and JSON.
        let again = Catalog::from_toml_str(&c.to_toml_string()).unwrap();
        assert_eq!(again.get("O1"), c.get("O1"));
        let json = serde_json::to_string(&vec![o]).unwrap();
        assert_eq!(
            Catalog::from_json_str(&json).unwrap().get("O1"),
            c.get("O1")
        );
    }

    #[test]
    fn errors_name_the_offer_and_field() {
        let bad = ONE
            .replace("risk_level = \"r1\"", "risk_level = \"R7\"")
            .replace("年利率{rate}", "年利率{rat}");
        let e = Catalog::from_toml_str(&bad).unwrap_err().to_string();
        assert!(e.contains("offer 'O1'") && e.contains("risk_level"), "{e}");
        let bad = ONE.replace("年利率{rate}", "年利率{rat}");
        let e = Catalog::from_toml_str(&bad).unwrap_err().to_string();
        assert!(
            e.contains("treatments[sms].template_zh") && e.contains("{rat}"),
            "{e}"
        );
        let bad = ONE.replace("rate_bp = 175\n", "");
        let e = Catalog::from_toml_str(&bad).unwrap_err().to_string();
        assert!(e.contains("rate_bp"), "{e}");
        let bad = ONE.replace("category = \"time_deposit\"", "category = \"crypto\"");
        let e = Catalog::from_toml_str(&bad).unwrap_err().to_string();
        assert!(
            e.contains("field 'category'") && e.contains("time_deposit"),
            "{e}"
        );
        let bad = ONE.replace("name_en = \"Deposit boost\"\n", "");
        let e = Catalog::from_toml_str(&bad).unwrap_err().to_string();
        assert!(e.contains("field 'name_en'"), "{e}");
        let bad = format!("{ONE}\neligibility = \"age >\"\n");
        assert!(Catalog::from_toml_str(&bad).is_err());
        // The same offer twice: its id appears twice.
        let dup = format!("{ONE}{ONE}");
        let e = Catalog::from_toml_str(&dup).unwrap_err().to_string();
        assert!(e.contains("appears twice"), "{e}");
        assert!(matches!(
            Catalog::from_json_str("{\"x\": 1}"),
            Err(CatalogError::Syntax { .. })
        ));
        assert!(template_fields("a {b").is_err());
        assert!(template_fields("a } b").is_err());
        assert_eq!(
            template_fields("{rate}{rate}").unwrap(),
            vec!["rate", "rate"]
        );
    }

    #[test]
    fn edits_make_versions_and_history_is_kept() {
        let mut c = Catalog::from_toml_str(ONE).unwrap();
        let at = Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap();
        let mut o = c.get("O1").unwrap().clone();
        assert_eq!(
            c.upsert(o.clone(), "alice", at).unwrap(),
            1,
            "no change, no version"
        );
        o.value_fen = 40000;
        assert_eq!(c.upsert(o.clone(), "alice", at).unwrap(), 2);
        assert_eq!(c.retire("O1", "bob", at).unwrap(), 3);
        assert_eq!(c.history("O1").len(), 3);
        assert_eq!(c.version("O1", 1).unwrap().value_fen, 30000);
        assert_eq!(c.get("O1").unwrap().status, OfferStatus::Retired);
        assert_eq!(c.get("O1").unwrap().edited_by.as_deref(), Some("bob"));
        o.cost_fen = -1;
        assert!(c.upsert(o, "alice", at).is_err());
        assert!(matches!(
            c.retire("nope", "bob", at),
            Err(CatalogError::UnknownOffer(_))
        ));
        // The catalogue (with history) serialises for the store.
        let json = serde_json::to_string(&c).unwrap();
        let back: Catalog = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
    }
}
