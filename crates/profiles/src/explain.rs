//! Explanations: for each tag value of a customer, the definition that produced it and the
//! inputs it used.
//!
//! * A **rule** is evaluated again on the customer's stored tag values: the explanation names
//!   the branch that matched (e.g. `when rfm_r >= 3 and rfm_f >= 3 and rfm_m >= 3 then
//!   "important_value"`), every branch before it that did not, and the input values
//!   (`rfm_r = 5, rfm_f = 4, rfm_m = 2`).
//! * An **aggregate** names its source, the as-of window and the expression.
//! * A **SQL** tag shows its query.
//!
//! Tags with an `explain_sql` can also show the rows behind the value (e.g. the monthly
//! salary credits behind `salary_credit`); [`details`] runs that query on the engine.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, Scalar, StringArray};
use arrow::datatypes::DataType;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowPredicateFn, RowFilter};
use parquet::file::statistics::Statistics;
use serde::Serialize;
use zhiying_core::DataDir;
use zhiying_engine::{AnalyticsEngine, Row, sql_literal};

use crate::build::{BuildError, TagsMeta, read_meta, tags_parquet};
use crate::catalog::Catalog;
use crate::def::{Body, Kind, TagDef};
use crate::rule::Value;
use crate::sources::{self, AsOf};

/// One customer's row of `tags.parquet`: tag key → value.
pub type TagValues = BTreeMap<String, Value>;

/// Reads one customer's tag values. Row groups whose `customer_id` range cannot hold the id
/// are skipped (the file is sorted by customer_id), so this reads about one row group.
pub fn lookup(dd: &DataDir, customer_id: &str) -> Result<Option<TagValues>, BuildError> {
    let path = tags_parquet(dd);
    let err = |m: String| BuildError::Write {
        path: path.clone(),
        message: m,
    };
    if !path.exists() {
        return Ok(None);
    }
    let builder = zhiying_keyring::open_reader(&path).map_err(|e| err(e.to_string()))?;
    let meta = builder.metadata().clone();
    let groups: Vec<usize> = (0..meta.num_row_groups())
        .filter(|&i| match meta.row_group(i).column(0).statistics() {
            Some(Statistics::ByteArray(s)) => match (s.min_opt(), s.max_opt()) {
                (Some(lo), Some(hi)) => {
                    lo.data() <= customer_id.as_bytes() && customer_id.as_bytes() <= hi.data()
                }
                _ => true,
            },
            _ => true,
        })
        .collect();
    if groups.is_empty() {
        return Ok(None);
    }
    let id = customer_id.to_string();
    let mask = ProjectionMask::roots(builder.parquet_schema(), [0]);
    let predicate = ArrowPredicateFn::new(mask, move |batch| {
        let target = Scalar::new(StringArray::from(vec![id.as_str()]));
        arrow::compute::kernels::cmp::eq(batch.column(0), &target)
    });
    let reader = builder
        .with_row_groups(groups)
        .with_row_filter(RowFilter::new(vec![Box::new(predicate)]))
        .build()
        .map_err(|e| err(e.to_string()))?;
    for batch in reader {
        let batch = batch.map_err(|e| err(e.to_string()))?;
        if batch.num_rows() == 0 {
            continue;
        }
        let mut out = TagValues::new();
        for (i, f) in batch.schema().fields().iter().enumerate().skip(1) {
            out.insert(f.name().clone(), cell(batch.column(i).as_ref(), 0));
        }
        return Ok(Some(out));
    }
    Ok(None)
}

fn cell(a: &dyn Array, i: usize) -> Value {
    if a.is_null(i) {
        return Value::Null;
    }
    match a.data_type() {
        DataType::Utf8 => Value::Str(a.as_string::<i32>().value(i).to_string()),
        DataType::Boolean => Value::Bool(a.as_boolean().value(i)),
        DataType::Int64 => {
            Value::Num(a.as_primitive::<arrow::datatypes::Int64Type>().value(i) as f64)
        }
        DataType::Float64 => Value::Num(a.as_primitive::<arrow::datatypes::Float64Type>().value(i)),
        _ => Value::Null,
    }
}

/// An input of a rule and its value for this customer.
#[derive(Debug, Clone, Serialize)]
pub struct Input {
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
    pub value: Value,
}

/// Why a customer has a tag value.
#[derive(Debug, Clone, Serialize)]
pub struct TagExplanation {
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
    pub category: String,
    pub kind: Kind,
    pub version: u32,
    pub value: Value,
    /// Labels of a categorical value.
    pub label_zh: Option<String>,
    pub label_en: Option<String>,
    /// `rule`, `aggregate` or `sql`.
    pub method: String,
    /// The rule, the aggregate expression or the query, as written.
    pub definition: String,
    /// Aggregate tags: the source and the as-of window.
    pub source: Option<String>,
    pub window: Option<String>,
    /// Value used when the source has no rows for the customer.
    pub default: Option<String>,
    /// Rules: the branch that matched, e.g. `when rfm_r >= 3 … then "important_value"`, or
    /// `else …`; and the branches tried before it.
    pub matched: Option<String>,
    pub not_matched: Vec<String>,
    pub inputs: Vec<Input>,
    /// The rows behind the value, from the tag's `explain_sql` (when requested).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<Row>>,
    /// Set when the definition changed after the value was built.
    pub note: Option<String>,
}

/// A customer's explanations.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub customer_id: String,
    pub as_of: String,
    pub built_at: String,
    pub tags: Vec<TagExplanation>,
}

/// Explains the stored values of one customer; `only` limits it to one tag.
pub fn explain(
    dd: &DataDir,
    customer_id: &str,
    only: Option<&str>,
) -> Result<Option<Explanation>, ExplainError> {
    let meta = read_meta(dd)?.ok_or(ExplainError::NotBuilt)?;
    let catalog = Catalog::load(dd).map_err(BuildError::from)?;
    if let Some(k) = only
        && !meta.tags.iter().any(|t| t.key == k)
    {
        return Err(ExplainError::UnknownTag(k.to_string()));
    }
    let Some(values) = lookup(dd, customer_id)? else {
        return Ok(None);
    };
    Ok(Some(explain_values(
        &catalog,
        &meta,
        customer_id,
        &values,
        only,
    )))
}

#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error("tags have not been built yet: run `zhiying tags build --data-dir DIR`")]
    NotBuilt,
    #[error(
        "tag '{0}' was not in the last build: `zhiying tags list` shows the tags; rebuild after adding one"
    )]
    UnknownTag(String),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Engine(#[from] zhiying_engine::EngineError),
}

/// Explains given values (pure: no I/O).
pub fn explain_values(
    catalog: &Catalog,
    meta: &TagsMeta,
    customer_id: &str,
    values: &TagValues,
    only: Option<&str>,
) -> Explanation {
    let as_of = chrono::NaiveDate::parse_from_str(&meta.as_of, "%Y-%m-%d")
        .ok()
        .map(AsOf);
    let expand = |s: &str| as_of.map_or_else(|| s.to_string(), |a| a.expand(s));
    let mut tags = Vec::new();
    for m in &meta.tags {
        if only.is_some_and(|k| k != m.key) {
            continue;
        }
        let value = values.get(&m.key).cloned().unwrap_or(Value::Null);
        let Some(def) = catalog.get(&m.key) else {
            continue;
        };
        let label = match &value {
            Value::Str(code) => def.label(code),
            _ => None,
        };
        let mut e = TagExplanation {
            key: m.key.clone(),
            name_zh: m.name_zh.clone(),
            name_en: m.name_en.clone(),
            category: m.category.clone(),
            kind: m.kind,
            version: m.version,
            value: value.clone(),
            label_zh: label.map(|l| l.zh.clone()),
            label_en: label.map(|l| l.en.clone()),
            method: def.body.kind_name().into(),
            definition: String::new(),
            source: None,
            window: None,
            default: def.default.as_ref().map(|d| d.to_string()),
            matched: None,
            not_matched: Vec::new(),
            inputs: Vec::new(),
            details: None,
            note: (def.version != m.version).then(|| {
                format!(
                    "the value was built with version {}; the catalogue now has version {} — rebuild to apply it",
                    m.version, def.version
                )
            }),
        };
        match &def.body {
            Body::Rule { rule, parsed } => {
                e.definition = rule.clone();
                e.inputs = parsed
                    .tags()
                    .into_iter()
                    .map(|k| {
                        let d = catalog.get(&k);
                        Input {
                            name_zh: d.map(|d| d.name_zh.clone()).unwrap_or_default(),
                            name_en: d.map(|d| d.name_en.clone()).unwrap_or_default(),
                            value: values.get(&k).cloned().unwrap_or(Value::Null),
                            key: k,
                        }
                    })
                    .collect();
                let (branch, _) = parsed.matched_branch(values);
                if let crate::rule::Expr::Case {
                    branches,
                    otherwise,
                } = parsed
                {
                    let tried = branch.unwrap_or(branches.len());
                    e.not_matched = branches[..tried]
                        .iter()
                        .map(|(c, v)| format!("when {c} then {v}"))
                        .collect();
                    e.matched = Some(match branch {
                        Some(i) => format!("when {} then {}", branches[i].0, branches[i].1),
                        None => match otherwise {
                            Some(o) => format!("else {o}"),
                            None => "no branch matched and there is no else: null".into(),
                        },
                    });
                } else {
                    e.matched = Some(parsed.to_string());
                }
            }
            Body::Aggregate { source, expr } => {
                e.definition = expand(expr);
                e.source = Some(source.clone());
                e.window = sources::source(source).map(|s| expand(s.window));
            }
            Body::Sql { sql } => e.definition = expand(sql),
        }
        tags.push(e);
    }
    Explanation {
        customer_id: customer_id.to_string(),
        as_of: meta.as_of.clone(),
        built_at: meta.built_at.clone(),
        tags,
    }
}

/// Runs the `explain_sql` of the explained tags that have one and attaches the rows.
pub async fn details(
    engine: &dyn AnalyticsEngine,
    catalog: &Catalog,
    explanation: &mut Explanation,
) -> Result<(), ExplainError> {
    let as_of = chrono::NaiveDate::parse_from_str(&explanation.as_of, "%Y-%m-%d")
        .map_err(|_| BuildError::AsOf(explanation.as_of.clone()))?;
    let id = sql_literal(&explanation.customer_id);
    for e in &mut explanation.tags {
        let Some(def): Option<&TagDef> = catalog.get(&e.key) else {
            continue;
        };
        let Some(q) = &def.explain_sql else { continue };
        let sql = AsOf(as_of).expand(q).replace("{customer_id}", &id);
        e.details = Some(engine.query_json(&sql).await?);
    }
    Ok(())
}
