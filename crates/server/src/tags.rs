//! Customer tags (客户画像) in the API and the console: the catalogue with coverage and
//! value distributions, and one customer's values with explanations.
//!
//! The routes live here, in one router merged by `lib.rs` with a single line, so they can be
//! wrapped in a permission layer as a unit. Everything is read from the last
//! `zhiying tags build` (`derived/tags.*`), never recomputed per request.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zhiying_profiles::build::{self, StatsFile, TagStats};
use zhiying_profiles::catalog::Catalog;
use zhiying_profiles::def::{Body, TagDef};
use zhiying_profiles::explain::{self, Explanation};

use crate::AppState;
use crate::auth::{Principal, Routes};
use crate::error::ApiError;
use crate::i18n::{Lang, Locale};
use zhiying_core::access::Permission;

pub fn routes() -> Routes {
    Routes::new()
        .get("/v1/tags", Permission::TagRead, tags_api)
        .get(
            "/v1/customers/{id}/tags",
            Permission::CustomerRead,
            customer_tags_api,
        )
        .get("/console/tags", Permission::TagRead, tags_page)
}

/// The tag catalogue with the last build's coverage and distributions.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TagCatalogue {
    /// `false` until `zhiying tags build` has run; coverage fields are then null.
    pub built: bool,
    /// As-of date of the last build (YYYY-MM-DD).
    pub as_of: Option<String>,
    /// RFC 3339 UTC.
    pub built_at: Option<String>,
    pub customers: Option<u64>,
    pub categories: Vec<CategoryInfo>,
    pub tags: Vec<TagInfo>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CategoryInfo {
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
    pub tags: usize,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TagInfo {
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
    pub description: String,
    pub category: String,
    /// `categorical`, `numeric` or `flag`.
    pub kind: String,
    pub unit: Option<String>,
    pub values: Vec<ValueInfo>,
    pub version: u32,
    pub owner: String,
    /// `aggregate`, `sql` or `rule`.
    pub method: String,
    /// The rule, aggregate expression or query.
    pub definition: String,
    pub builtin: bool,
    /// Share of customers with a value in the last build.
    pub coverage: Option<f64>,
    pub non_null: Option<u64>,
    /// Categorical and flag tags: customers per value, most first.
    pub distribution: Vec<ValueCount>,
    /// Numeric tags: summary and histogram.
    #[schema(value_type = Object)]
    pub numeric: Option<serde_json::Value>,
    /// Set when the definition changed after the last build.
    pub stale: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ValueInfo {
    pub code: String,
    pub zh: String,
    pub en: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ValueCount {
    pub value: String,
    pub label_zh: Option<String>,
    pub label_en: Option<String>,
    pub customers: u64,
}

/// A customer's tag values with explanations.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CustomerTags {
    pub customer_id: String,
    pub as_of: String,
    pub built_at: String,
    pub tags: Vec<CustomerTag>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CustomerTag {
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
    pub category: String,
    pub kind: String,
    pub version: u32,
    /// The value: a code, a number, true/false or null.
    #[schema(value_type = Object)]
    pub value: serde_json::Value,
    pub label_zh: Option<String>,
    pub label_en: Option<String>,
    /// How it was computed: `rule`, `aggregate` or `sql`.
    pub method: String,
    pub definition: String,
    pub source: Option<String>,
    pub window: Option<String>,
    /// Rules: the branch that produced the value, and the branches tried before it.
    pub matched: Option<String>,
    pub not_matched: Vec<String>,
    /// Rules: the tags read and their values for this customer.
    pub inputs: Vec<TagInput>,
    pub note: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TagInput {
    pub key: String,
    pub name_zh: String,
    pub name_en: String,
    #[schema(value_type = Object)]
    pub value: serde_json::Value,
}

fn internal(context: &str) -> impl FnOnce(String) -> ApiError + '_ {
    move |e| ApiError::internal(context, e)
}

fn definition(t: &TagDef) -> String {
    match &t.body {
        Body::Aggregate { source, expr } => format!("{expr}  [source: {source}]"),
        Body::Sql { sql } => sql.clone(),
        Body::Rule { rule, .. } => rule.clone(),
    }
}

/// Loads catalogue and statistics (blocking file I/O, run off the async threads).
async fn load_catalogue(state: &AppState) -> Result<TagCatalogue, ApiError> {
    let dd = state.data_dir.clone();
    tokio::task::spawn_blocking(move || -> Result<TagCatalogue, ApiError> {
        let catalog = Catalog::load(&dd).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "tag_catalogue_invalid",
                e.to_string(),
                "Fix or remove the named file in DATA_DIR/tags; `zhiying tags list` shows the same error.",
            )
        })?;
        let stats = build::read_stats(&dd).map_err(|e| internal("reading tag statistics")(e.to_string()))?;
        let meta = build::read_meta(&dd).map_err(|e| internal("reading tag metadata")(e.to_string()))?;
        Ok(catalogue(&catalog, stats.as_ref(), meta.as_ref()))
    })
    .await
    .map_err(|e| internal("loading the tag catalogue")(e.to_string()))?
}

fn catalogue(
    catalog: &Catalog,
    stats: Option<&StatsFile>,
    meta: Option<&build::TagsMeta>,
) -> TagCatalogue {
    let by_key: BTreeMap<&str, &TagStats> = stats
        .map(|s| s.tags.iter().map(|t| (t.key.as_str(), t)).collect())
        .unwrap_or_default();
    let built_versions: BTreeMap<&str, u32> = meta
        .map(|m| m.tags.iter().map(|t| (t.key.as_str(), t.version)).collect())
        .unwrap_or_default();
    let tags: Vec<TagInfo> = catalog
        .active()
        .map(|t| {
            let s = by_key.get(t.key.as_str());
            TagInfo {
                key: t.key.clone(),
                name_zh: t.name_zh.clone(),
                name_en: t.name_en.clone(),
                description: t.description.clone(),
                category: t.category.clone(),
                kind: t.kind.as_str().into(),
                unit: t.unit.clone(),
                values: t
                    .values
                    .iter()
                    .map(|v| ValueInfo {
                        code: v.code.clone(),
                        zh: v.zh.clone(),
                        en: v.en.clone(),
                    })
                    .collect(),
                version: t.version,
                owner: t.owner.clone(),
                method: t.body.kind_name().into(),
                definition: definition(t),
                builtin: t.builtin,
                coverage: s.map(|s| s.coverage),
                non_null: s.map(|s| s.non_null),
                distribution: s
                    .map(|s| {
                        s.counts
                            .iter()
                            .map(|(v, n)| {
                                let label = t.label(v);
                                ValueCount {
                                    value: v.clone(),
                                    label_zh: label.map(|l| l.zh.clone()),
                                    label_en: label.map(|l| l.en.clone()),
                                    customers: *n,
                                }
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                numeric: s
                    .and_then(|s| s.numeric.as_ref())
                    .and_then(|n| serde_json::to_value(n).ok()),
                stale: meta.is_some() && built_versions.get(t.key.as_str()) != Some(&t.version),
            }
        })
        .collect();
    let mut categories: Vec<CategoryInfo> = Vec::new();
    for t in &tags {
        match categories.iter_mut().find(|c| c.key == t.category) {
            Some(c) => c.tags += 1,
            None => {
                let known = zhiying_profiles::def::CATEGORIES
                    .iter()
                    .find(|c| c.0 == t.category);
                categories.push(CategoryInfo {
                    key: t.category.clone(),
                    name_zh: known.map_or_else(|| t.category.clone(), |c| c.1.to_string()),
                    name_en: known.map_or_else(|| t.category.clone(), |c| c.2.to_string()),
                    tags: 1,
                });
            }
        }
    }
    let order = |k: &str| {
        zhiying_profiles::def::CATEGORIES
            .iter()
            .position(|c| c.0 == k)
            .unwrap_or(usize::MAX)
    };
    categories.sort_by_key(|c| (order(&c.key), c.key.clone()));
    TagCatalogue {
        built: meta.is_some(),
        as_of: meta.map(|m| m.as_of.clone()),
        built_at: meta.map(|m| m.built_at.clone()),
        customers: stats.map(|s| s.customers),
        categories,
        tags,
    }
}

/// Tag catalogue: definitions, coverage and value distributions of the last build.
#[utoipa::path(get, path = "/v1/tags", tag = "tags",
    responses(
        (status = 200, description = "Active tags with coverage and distributions", body = TagCatalogue),
        (status = 500, description = "A user tag file is invalid or the build output unreadable", body = crate::error::ErrorBody),
    ))]
pub async fn tags_api(State(state): State<AppState>) -> Result<Json<TagCatalogue>, ApiError> {
    Ok(Json(load_catalogue(&state).await?))
}

fn not_built() -> ApiError {
    ApiError::not_found(
        "tags_not_built",
        "customer tags have not been built yet",
        "Run `zhiying tags build --data-dir DIR` (the demo does it for you).",
    )
}

/// Loads one customer's explained tags, `None` when the customer is not in the build.
pub async fn load_customer_tags(
    state: &AppState,
    id: &str,
) -> Result<Option<Explanation>, ApiError> {
    crate::customer360::validate_customer_id(id)?;
    let dd = state.data_dir.clone();
    let id = id.to_string();
    tokio::task::spawn_blocking(move || match explain::explain(&dd, &id, None) {
        Ok(e) => Ok(e),
        Err(explain::ExplainError::NotBuilt) => Err(not_built()),
        Err(e) => Err(ApiError::internal("reading customer tags", e)),
    })
    .await
    .map_err(|e| ApiError::internal("reading customer tags", e))?
}

fn json_value(v: &zhiying_profiles::rule::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn to_view(e: Explanation) -> CustomerTags {
    CustomerTags {
        customer_id: e.customer_id,
        as_of: e.as_of,
        built_at: e.built_at,
        tags: e
            .tags
            .into_iter()
            .map(|t| CustomerTag {
                value: json_value(&t.value),
                key: t.key,
                name_zh: t.name_zh,
                name_en: t.name_en,
                category: t.category,
                kind: t.kind.as_str().into(),
                version: t.version,
                label_zh: t.label_zh,
                label_en: t.label_en,
                method: t.method,
                definition: t.definition,
                source: t.source,
                window: t.window,
                matched: t.matched,
                not_matched: t.not_matched,
                inputs: t
                    .inputs
                    .into_iter()
                    .map(|i| TagInput {
                        value: json_value(&i.value),
                        key: i.key,
                        name_zh: i.name_zh,
                        name_en: i.name_en,
                    })
                    .collect(),
                note: t.note,
            })
            .collect(),
    }
}

/// A customer's tag values, each with the rule branch or query that produced it and its inputs.
#[utoipa::path(get, path = "/v1/customers/{id}/tags", tag = "tags",
    params(("id" = String, Path, description = "Customer id, e.g. C00000001")),
    responses(
        (status = 200, description = "Values and explanations", body = CustomerTags),
        (status = 400, description = "The id cannot be a customer id", body = crate::error::ErrorBody),
        (status = 404, description = "No such customer in the last build, or tags not built (`tags_not_built`)", body = crate::error::ErrorBody),
    ))]
pub async fn customer_tags_api(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<CustomerTags>, ApiError> {
    let Path(id) = id.map_err(crate::api::path_error)?;
    match load_customer_tags(&state, &id).await? {
        Some(e) => Ok(Json(to_view(e))),
        None => Err(crate::api::customer_not_found(&id)),
    }
}

#[derive(Debug, Deserialize)]
pub struct CatalogueQuery {
    q: Option<String>,
    category: Option<String>,
}

/// One chart's data: bars of value labels or histogram bins.
#[derive(Serialize)]
struct Dist {
    labels: Vec<String>,
    counts: Vec<u64>,
    horizontal: bool,
}

fn short_num(x: f64) -> String {
    let a = x.abs();
    if a >= 1e8 {
        format!("{:.1}亿", x / 1e8)
    } else if a >= 1e4 {
        format!("{:.1}万", x / 1e4)
    } else if a.fract() == 0.0 || a >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

fn dist(t: &TagInfo, lang: Lang) -> Option<Dist> {
    if let Some(n) = &t.numeric {
        let bins = n.get("bins")?.as_array()?;
        return Some(Dist {
            labels: bins
                .iter()
                .map(|b| {
                    let f = b.get("from").and_then(|v| v.as_f64()).unwrap_or(0.0);
                    let to = b.get("to").and_then(|v| v.as_f64()).unwrap_or(0.0);
                    format!("{}–{}", short_num(f), short_num(to))
                })
                .collect(),
            counts: bins
                .iter()
                .map(|b| b.get("count").and_then(|v| v.as_u64()).unwrap_or(0))
                .collect(),
            horizontal: false,
        });
    }
    if t.distribution.is_empty() {
        return None;
    }
    Some(Dist {
        labels: t
            .distribution
            .iter()
            .map(|d| {
                match lang {
                    Lang::Zh => d.label_zh.clone(),
                    Lang::En => d.label_en.clone(),
                }
                .unwrap_or_else(|| d.value.clone())
            })
            .collect(),
        counts: t.distribution.iter().map(|d| d.customers).collect(),
        horizontal: true,
    })
}

async fn tags_page(
    State(state): State<AppState>,
    locale: Locale,
    me: Principal,
    query: Result<Query<CatalogueQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let (q, category) = match query {
        Ok(Query(c)) => (
            c.q.map(|s| s.trim().to_lowercase())
                .filter(|s| !s.is_empty()),
            c.category.filter(|s| !s.is_empty()),
        ),
        Err(_) => (None, None),
    };
    let cat = match load_catalogue(&state).await {
        Ok(c) => c,
        Err(e) => return crate::console::error_page(&state, &locale, &e, Some(&me)),
    };
    let lang = locale.lang;
    let shown: Vec<&TagInfo> = cat
        .tags
        .iter()
        .filter(|t| category.as_deref().is_none_or(|c| t.category == c))
        .filter(|t| {
            q.as_deref().is_none_or(|q| {
                [&t.key, &t.name_zh, &t.name_en, &t.description]
                    .iter()
                    .any(|s| s.to_lowercase().contains(q))
            })
        })
        .collect();
    let groups: Vec<Value> = cat
        .categories
        .iter()
        .filter_map(|c| {
            let tags: Vec<Value> = shown
                .iter()
                .filter(|t| t.category == c.key)
                .map(|t| {
                    context! {
                        t => Value::from_serialize(t),
                        name => if lang == Lang::Zh { &t.name_zh } else { &t.name_en },
                        dist => dist(t, lang).map(|d| Value::from_serialize(&d)),
                    }
                })
                .collect();
            (!tags.is_empty()).then(|| {
                context! {
                    key => &c.key,
                    name => if lang == Lang::Zh { &c.name_zh } else { &c.name_en },
                    tags => tags,
                }
            })
        })
        .collect();
    let categories: Vec<Value> = cat
        .categories
        .iter()
        .map(|c| context! { key => &c.key, name => if lang == Lang::Zh { &c.name_zh } else { &c.name_en }, n => c.tags })
        .collect();
    crate::console::page(
        &state,
        &locale,
        Some(&me),
        StatusCode::OK,
        "tags.html",
        "profiles",
        context! {
            cat => Value::from_serialize(&cat),
            groups => groups,
            categories => categories,
            q => q.unwrap_or_default(),
            category => category.unwrap_or_default(),
            shown => shown.len(),
        },
    )
}

/// Tags for the customer-360 page, grouped by category; an empty list before the first build.
pub async fn customer_page_tags(state: &AppState, id: &str, lang: Lang) -> Value {
    let e = match load_customer_tags(state, id).await {
        Ok(Some(e)) => e,
        Ok(None) => return Value::from(Vec::<Value>::new()),
        Err(err) => {
            if err.code != "tags_not_built" {
                tracing::warn!("customer tags for {id}: {err}");
            }
            return Value::from(Vec::<Value>::new());
        }
    };
    let view = to_view(e);
    let mut groups: Vec<(String, Vec<&CustomerTag>)> = Vec::new();
    for t in &view.tags {
        match groups.iter_mut().find(|g| g.0 == t.category) {
            Some(g) => g.1.push(t),
            None => groups.push((t.category.clone(), vec![t])),
        }
    }
    let name = |k: &str| {
        zhiying_profiles::def::CATEGORIES
            .iter()
            .find(|c| c.0 == k)
            .map_or_else(
                || k.to_string(),
                |c| {
                    if lang == Lang::Zh {
                        c.1.to_string()
                    } else {
                        c.2.to_string()
                    }
                },
            )
    };
    Value::from(
        groups
            .into_iter()
            .map(|(k, tags)| {
                context! {
                    name => name(&k),
                    tags => tags.iter().map(|t| context! {
                        t => Value::from_serialize(t),
                        name => if lang == Lang::Zh { &t.name_zh } else { &t.name_en },
                        shown => display_value(t, lang),
                    }).collect::<Vec<_>>(),
                }
            })
            .collect::<Vec<_>>(),
    )
}

fn display_value(t: &CustomerTag, lang: Lang) -> String {
    let label = if lang == Lang::Zh {
        &t.label_zh
    } else {
        &t.label_en
    };
    if let Some(l) = label {
        return l.clone();
    }
    match &t.value {
        serde_json::Value::Null => "—".into(),
        serde_json::Value::Bool(b) => match (lang, b) {
            (Lang::Zh, true) => "是".into(),
            (Lang::Zh, false) => "否".into(),
            (Lang::En, true) => "yes".into(),
            (Lang::En, false) => "no".into(),
        },
        serde_json::Value::Number(n) => n.as_f64().map_or_else(
            || n.to_string(),
            |x| {
                if x.fract() == 0.0 {
                    format!("{x:.0}")
                } else {
                    format!("{x:.2}")
                }
            },
        ),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::Request;
    use datafusion::arrow::json::ReaderBuilder;
    use datafusion::parquet::arrow::ArrowWriter;
    use serde_json::{Value as J, json};
    use tower::ServiceExt;
    use zhiying_core::DataDir;
    use zhiying_core::schema::{self, TableDef};
    use zhiying_engine::DataFusionEngine;

    use crate::{AppState, router};

    fn fact(dd: &DataDir, table: &TableDef, rows: &[J]) {
        let ndjson: String = rows.iter().map(|r| format!("{r}\n")).collect();
        let schema = table.arrow_schema();
        let mut reader = ReaderBuilder::new(schema.clone())
            .build(Cursor::new(ndjson.into_bytes()))
            .unwrap();
        let batch = reader.next().unwrap().unwrap();
        let path = dd.fact_batch(table.name, "t");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut w =
            ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }

    /// The router with a bearer token for a user holding every role.
    struct TestApp {
        router: axum::Router,
        token: String,
    }

    async fn get(app: &TestApp, uri: &str) -> (u16, String) {
        let res = app
            .router
            .clone()
            .oneshot(
                Request::builder()
                    .uri(uri)
                    .header("authorization", format!("Bearer {}", app.token))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = res.status().as_u16();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn catalogue_customer_tags_and_pages() {
        let tmp = tempfile::tempdir().unwrap();
        let dd = DataDir::new(tmp.path());
        fact(
            &dd,
            &schema::CUSTOMERS,
            &[
                json!({"customer_id": "C1", "source_system": "core", "gender": "f", "birth_date": "1980-01-01", "city": "上海", "risk_level": "c3", "open_date": "2015-01-01"}),
                json!({"customer_id": "C2", "source_system": "core", "open_date": "2015-01-01"}),
            ],
        );
        let txns: Vec<J> = (0..45)
            .map(|i| {
                json!({"txn_id": format!("T{i}"), "account_id": "A1", "customer_id": "C1", "ts": format!("2026-10-{:02}T03:00:00Z", 1 + i % 30),
                       "amount_fen": 300_000, "currency": "cny", "direction": "debit", "channel": "pos", "txn_type": "purchase"})
            })
            .collect();
        fact(&dd, &schema::TRANSACTIONS, &txns);
        let engine = Arc::new(DataFusionEngine::open(&dd).await.unwrap());
        let store = Arc::new(
            zhiying_store::SqlStore::open_with(&zhiying_store::StoreOptions::default(), &dd)
                .await
                .unwrap(),
        );
        let token =
            crate::tests::user_with_token(&store, "root", &zhiying_core::domain::Role::ALL).await;
        let app = TestApp {
            router: router(AppState::new(dd.clone(), engine.clone(), store)),
            token,
        };

        // Before the first build: the catalogue says so, customer tags are 404 tags_not_built.
        let (status, body) = get(&app, "/v1/tags").await;
        assert_eq!(status, 200, "{body}");
        let v: J = serde_json::from_str(&body).unwrap();
        assert_eq!(v["built"], false);
        assert!(v["tags"].as_array().unwrap().len() >= 40);
        let (status, body) = get(&app, "/v1/customers/C1/tags").await;
        assert_eq!(status, 404);
        assert!(body.contains("tags_not_built"), "{body}");
        let (status, body) = get(&app, "/console/tags?lang=en").await;
        assert_eq!(status, 200);
        assert!(body.contains("Tags have not been built yet"), "{body}");

        zhiying_profiles::build::build(&dd, engine.as_ref(), &Default::default(), &|_| {})
            .await
            .unwrap();

        let (_, body) = get(&app, "/v1/tags").await;
        let v: J = serde_json::from_str(&body).unwrap();
        assert_eq!(v["built"], true);
        assert_eq!(v["as_of"], "2026-10-30");
        assert_eq!(v["customers"], 2);
        let rfm = v["tags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["key"] == "rfm_class")
            .unwrap();
        assert_eq!(rfm["coverage"], 1.0);
        let dist: Vec<(String, u64)> = rfm["distribution"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["value"].as_str().unwrap().to_string(),
                    d["customers"].as_u64().unwrap(),
                )
            })
            .collect();
        // C1: 45 purchases of 3,000 yuan, the last on the as-of day → R 5, F 3, M 3.
        assert_eq!(
            dist,
            vec![
                ("general_winback".to_string(), 1),
                ("important_value".to_string(), 1)
            ]
        );
        assert_eq!(rfm["distribution"][1]["label_zh"], "重要价值客户");
        let age = v["tags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["key"] == "age")
            .unwrap();
        assert_eq!(age["coverage"], 0.5);
        assert_eq!(age["numeric"]["median"].as_f64().unwrap(), 46.0);

        let (status, body) = get(&app, "/v1/customers/C1/tags").await;
        assert_eq!(status, 200, "{body}");
        let v: J = serde_json::from_str(&body).unwrap();
        let class = v["tags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["key"] == "rfm_class")
            .unwrap();
        assert_eq!(class["value"], "important_value");
        assert_eq!(class["method"], "rule");
        assert!(
            class["matched"]
                .as_str()
                .unwrap()
                .contains("then \"important_value\"")
        );
        assert_eq!(class["inputs"][0]["key"], "rfm_f");
        assert_eq!(class["inputs"][0]["value"], 3.0);
        let (status, body) = get(&app, "/v1/customers/NOPE/tags").await;
        assert_eq!(status, 404);
        assert!(body.contains("customer_not_found"), "{body}");

        let (status, html) = get(&app, "/console/tags?lang=zh&category=rfm").await;
        assert_eq!(status, 200);
        assert!(
            html.contains("RFM 客户分类") && html.contains("data-chart=\"tag-distribution\""),
            "{html}"
        );
        assert!(!html.contains("年龄段"), "filtered to the rfm category");
        let (_, html) = get(&app, "/console/tags?q=salary&lang=en").await;
        assert!(html.contains("salary_credit") && !html.contains("rfm_class"));
        let (status, html) = get(&app, "/console/customers/C1?lang=en").await;
        assert_eq!(status, 200);
        assert!(
            html.contains("id=\"tags\"") && html.contains("Important value"),
            "{html}"
        );

        let (_, doc) = get(&app, "/openapi.json").await;
        let doc: J = serde_json::from_str(&doc).unwrap();
        assert!(doc["paths"]["/v1/tags"]["get"].is_object());
        assert!(doc["paths"]["/v1/customers/{id}/tags"]["get"].is_object());
        assert!(doc["components"]["schemas"]["TagCatalogue"].is_object());
    }
}
