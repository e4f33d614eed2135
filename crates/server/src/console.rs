//! The server-rendered console: minijinja templates from the embedded assets, one layout
//! with the navigation of every capability, and pages that read the same services as the
//! JSON API. Charts get their data as JSON in `<script type="application/json">` blocks,
//! read by `assets/static/console.js`; no inline script, so the CSP can forbid it.

use std::collections::BTreeMap;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::{Environment, UndefinedBehavior, Value, context};
use serde::{Deserialize, Serialize};
use zhiying_engine::sql_literal;

use zhiying_core::access::Permission;

use crate::AppState;
use crate::auth::{Principal, Routes};
use crate::customer360::{self, Customer360, rows};
use crate::data::{self, DataOverview};
use crate::error::ApiError;
use crate::i18n::{self, Lang, Locale};

pub fn routes() -> Routes {
    Routes::new()
        .get("/", Permission::ConsoleView, || async {
            Redirect::to("/console/data")
        })
        .get("/console", Permission::ConsoleView, console_root)
        .get("/console/", Permission::ConsoleView, console_root)
        .get("/console/data", Permission::DataRead, data_page)
        .get(
            "/console/customers",
            Permission::CustomerRead,
            customers_page,
        )
        .get(
            "/console/customers/{id}",
            Permission::CustomerRead,
            customer_page,
        )
        .post(
            "/console/customers/{id}/unmask",
            Permission::PiiUnmask,
            customer_unmask,
        )
}

/// Strict undefined-value checks: always under `cargo test`, and when
/// `ZHIYING_STRICT_TEMPLATES` is set (the browser tests set it).
fn strict_templates() -> bool {
    cfg!(test) || std::env::var_os("ZHIYING_STRICT_TEMPLATES").is_some_and(|v| v != "0")
}

/// Compiled-on-demand templates plus both translation tables.
pub struct Templates {
    env: Environment<'static>,
    zh: Value,
    en: Value,
}

impl Templates {
    pub fn load() -> Self {
        let mut env = Environment::new();
        env.set_loader(|name| Ok(crate::assets::text(&format!("templates/{name}"))));
        // A typo in a template or a missing translation key fails loudly in the crate's tests
        // and the browser tests (ZHIYING_STRICT_TEMPLATES=1). A user's server renders a page
        // with the one missing optional value blank rather than answering 500.
        env.set_undefined_behavior(if strict_templates() {
            UndefinedBehavior::Strict
        } else {
            UndefinedBehavior::Chainable
        });
        env.add_filter("num", num_filter);
        env.add_filter("pct", pct_filter);
        env.add_filter("money", money_filter);
        env.add_filter("urlencode", |s: String| encode_segment(&s));
        env.add_filter("tojson", json_for_script);
        Templates {
            env,
            zh: Value::from_serialize(i18n::table(Lang::Zh)),
            en: Value::from_serialize(i18n::table(Lang::En)),
        }
    }

    pub(crate) fn strings(&self, lang: Lang) -> &Value {
        match lang {
            Lang::Zh => &self.zh,
            Lang::En => &self.en,
        }
    }

    pub(crate) fn tr(&self, lang: Lang, key: &str) -> String {
        self.strings(lang)
            .get_attr(key)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| key.to_string())
    }

    pub fn render(&self, name: &str, ctx: Value) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(ctx)
    }
}

/// `12345` → `12,345`.
fn num_filter(v: i64) -> String {
    let s = v.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0 { format!("-{out}") } else { out }
}

/// JSON safe inside `<script type="application/json">`: `<`, `>`, `&` and `'` become
/// `\u00XX` escapes, so the data can never close the script element or open a comment.
fn json_for_script(v: Value) -> Result<Value, minijinja::Error> {
    let json = serde_json::to_string(&v).map_err(|e| {
        minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("not JSON: {e}"),
        )
    })?;
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\'' => out.push_str("\\u0027"),
            c => out.push(c),
        }
    }
    Ok(Value::from_safe_string(out))
}

/// `0.9871` → `98.7%`.
fn pct_filter(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

fn money_filter(fen: i64, currency: Option<String>) -> String {
    customer360::format_money(fen, currency.as_deref().unwrap_or("cny"))
}

#[derive(Serialize)]
struct NavItem {
    key: &'static str,
    href: Option<&'static str>,
    /// Hidden from users without it.
    #[serde(skip)]
    perm: Option<Permission>,
}

/// Every capability of the product; those without a page yet show as "coming".
const NAV: &[NavItem] = &[
    NavItem {
        key: "data",
        href: Some("/console/data"),
        perm: Some(Permission::DataRead),
    },
    NavItem {
        key: "customers",
        href: Some("/console/customers"),
        perm: Some(Permission::CustomerRead),
    },
    NavItem {
        key: "profiles",
        href: Some("/console/tags"),
        perm: Some(Permission::TagRead),
    },
    NavItem {
        key: "audiences",
        href: Some("/console/audiences"),
        perm: Some(Permission::AudienceRead),
    },
    NavItem {
        key: "models",
        href: Some("/console/models"),
        perm: Some(Permission::ModelRead),
    },
    NavItem {
        key: "segments",
        href: Some("/console/segments"),
        perm: Some(Permission::AudienceRead),
    },
    NavItem {
        key: "decisions",
        href: Some("/console/decisions"),
        perm: Some(Permission::DecisionCall),
    },
    NavItem {
        key: "campaigns",
        href: Some("/console/campaigns"),
        perm: Some(Permission::CampaignRead),
    },
    NavItem {
        key: "delivery",
        href: Some("/console/delivery"),
        perm: Some(Permission::CampaignRead),
    },
    NavItem {
        key: "measurement",
        href: Some("/console/experiments"),
        perm: Some(Permission::CampaignRead),
    },
    NavItem {
        key: "compliance",
        href: None,
        perm: None,
    },
    NavItem {
        key: "audit",
        href: Some("/console/audit"),
        perm: Some(Permission::AuditRead),
    },
    NavItem {
        key: "assistant",
        href: None,
        perm: None,
    },
    NavItem {
        key: "advisor",
        href: None,
        perm: None,
    },
];

/// A page of another module (e.g. audiences), rendered inside the layout with status 200.
pub(crate) fn render_page(
    state: &AppState,
    locale: &Locale,
    me: &Principal,
    template: &str,
    active: &str,
    extra: Value,
) -> Response {
    page(
        state,
        locale,
        Some(me),
        StatusCode::OK,
        template,
        active,
        extra,
    )
}

/// Renders a page inside the layout; sets the language cookie when `?lang=` chose it.
/// `me` shows the signed-in user, the logout form (with its CSRF token) and only the
/// navigation the user may open.
pub(crate) fn page(
    state: &AppState,
    locale: &Locale,
    me: Option<&Principal>,
    status: StatusCode,
    template: &str,
    active: &str,
    extra: Value,
) -> Response {
    let lang = locale.lang;
    let nav: Vec<&NavItem> = NAV
        .iter()
        .filter(|n| n.perm.is_none_or(|p| me.is_some_and(|m| m.can(p))))
        .collect();
    let ctx = context! {
        t => state.templates.strings(lang).clone(),
        lang => lang.tag(),
        nav => nav,
        me => me.map(|m| context! {
            username => &m.username,
            display_name => &m.display_name,
            roles => m.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            csrf => m.csrf_token(),
        }),
        active => active,
        switch_zh => locale.switch_href(Lang::Zh),
        switch_en => locale.switch_href(Lang::En),
        ..extra
    };
    let mut res = match state.templates.render(template, ctx) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!("rendering {template}: {e:#}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html(format!("<h1>500</h1><p>template {template} failed</p>")),
            )
                .into_response()
        }
    };
    if let Some(c) = locale
        .set_cookie()
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        res.headers_mut().insert(header::SET_COOKIE, c);
    }
    res.headers_mut().insert(
        header::VARY,
        HeaderValue::from_static("Cookie, Accept-Language"),
    );
    res
}

pub(crate) fn error_page(
    state: &AppState,
    locale: &Locale,
    err: &ApiError,
    me: Option<&Principal>,
) -> Response {
    page(
        state,
        locale,
        me,
        err.status,
        "error.html",
        "",
        context! { status => err.status.as_u16(), code => err.code, message => &err.message, hint => &err.hint },
    )
}

async fn console_root(uri: Uri) -> Redirect {
    match uri.query() {
        Some(q) => Redirect::to(&format!("/console/data?{q}")),
        None => Redirect::to("/console/data"),
    }
}

#[derive(Serialize)]
struct DataChart {
    names: Vec<String>,
    rows: Vec<u64>,
    quarantined: Vec<u64>,
    quality_names: Vec<String>,
    completeness: Vec<f64>,
    validity: Vec<f64>,
    labels: BTreeMap<&'static str, String>,
}

fn display_name(lang: Lang, table: &str) -> String {
    match (lang, zhiying_core::schema::fact_table(table)) {
        (Lang::Zh, Some(t)) => t.zh_name.to_string(),
        _ => table.to_string(),
    }
}

/// Mean completeness over a table's columns, or 1 for a table without columns in the report.
fn mean_completeness(t: &zhiying_core::quality::TableQuality) -> f64 {
    if t.columns.is_empty() {
        return 1.0;
    }
    t.columns.iter().map(|c| c.completeness).sum::<f64>() / t.columns.len() as f64
}

fn data_chart(state: &AppState, lang: Lang, o: &DataOverview) -> DataChart {
    let shown: Vec<_> = o
        .tables
        .iter()
        .filter(|t| t.rows > 0 || t.quarantined > 0)
        .collect();
    let quality: Vec<_> = o.quality.iter().flat_map(|q| &q.tables).collect();
    let tr = |k: &str| state.templates.tr(lang, k);
    DataChart {
        names: shown.iter().map(|t| display_name(lang, &t.table)).collect(),
        rows: shown.iter().map(|t| t.rows).collect(),
        quarantined: shown.iter().map(|t| t.quarantined).collect(),
        quality_names: quality
            .iter()
            .map(|t| display_name(lang, &t.table))
            .collect(),
        completeness: quality
            .iter()
            .map(|t| (mean_completeness(t) * 1000.0).round() / 10.0)
            .collect(),
        validity: quality
            .iter()
            .map(|t| (t.validity * 1000.0).round() / 10.0)
            .collect(),
        labels: [
            ("rows", tr("data.rows")),
            ("quarantined", tr("data.quarantined")),
            ("completeness", tr("data.completeness")),
            ("validity", tr("data.validity")),
        ]
        .into_iter()
        .collect(),
    }
}

async fn data_page(State(state): State<AppState>, locale: Locale, me: Principal) -> Response {
    let o = match data::overview(&state.data_dir, state.engine.as_ref()).await {
        Ok(o) => o,
        Err(e) => return error_page(&state, &locale, &e, Some(&me)),
    };
    let chart = data_chart(&state, locale.lang, &o);
    let quality_tables: Vec<Value> = o
        .quality
        .iter()
        .flat_map(|q| &q.tables)
        .map(|t| {
            context! {
                name => display_name(locale.lang, &t.table),
                table => &t.table,
                q => Value::from_serialize(t),
                completeness => mean_completeness(t),
            }
        })
        .collect();
    let tables: Vec<Value> = o
        .tables
        .iter()
        .map(|t| context! { name => display_name(locale.lang, &t.table), s => Value::from_serialize(t) })
        .collect();
    page(
        &state,
        &locale,
        Some(&me),
        StatusCode::OK,
        "data.html",
        "data",
        context! {
            overview => Value::from_serialize(&o),
            tables => tables,
            quality_tables => quality_tables,
            chart => Value::from_serialize(&chart),
            has_chart => !chart.names.is_empty(),
            has_quality_chart => !chart.quality_names.is_empty(),
        },
    )
}

#[derive(Debug, Deserialize)]
struct SearchQuery {
    q: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CustomerRow {
    customer_id: String,
    source_system: String,
    city: Option<String>,
    gender: Option<String>,
    risk_level: Option<String>,
    open_date: String,
}

const CUSTOMER_ROW_COLUMNS: &str =
    "customer_id, source_system, city, gender, risk_level, open_date";

/// Percent-encodes a path segment so any customer id can go in a URL.
pub(crate) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A phone-looking query reduced to digits (and a leading +), or None.
fn as_phone(q: &str) -> Option<String> {
    let digits: String = q
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .collect();
    let only_phone_chars = q.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c));
    (only_phone_chars && (7..=20).contains(&digits.len())).then_some(digits)
}

/// Search by exact customer id (redirects to the 360 page), id prefix, or exact phone.
async fn customers_page(
    State(state): State<AppState>,
    locale: Locale,
    me: Principal,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = query
        .ok()
        .and_then(|Query(s)| s.q)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let engine = state.engine.as_ref();
    let found: Result<(Vec<CustomerRow>, bool), ApiError> = async {
        let Some(q) = &q else {
            let list = rows(engine, &format!("SELECT {CUSTOMER_ROW_COLUMNS} FROM customers ORDER BY customer_id LIMIT 20"))
                .await?;
            return Ok((list, false));
        };
        if q.chars().count() > 64 {
            return Ok((Vec::new(), true));
        }
        let lit = sql_literal(q);
        let mut list: Vec<CustomerRow> = rows(
            engine,
            &format!(
                "SELECT {CUSTOMER_ROW_COLUMNS} FROM customers WHERE customer_id = {lit} OR starts_with(customer_id, {lit}) \
                 ORDER BY customer_id LIMIT 20"
            ),
        )
        .await?;
        if list.is_empty()
            && let Some(phone) = as_phone(q)
        {
            let p = sql_literal(&phone);
            list = rows(
                engine,
                &format!(
                    "SELECT {CUSTOMER_ROW_COLUMNS} FROM customers WHERE phone = {p} OR customer_id IN \
                     (SELECT customer_id FROM identities WHERE id_type = 'phone' AND id_value = {p}) \
                     ORDER BY customer_id LIMIT 20"
                ),
            )
            .await?;
        }
        Ok((list, true))
    }
    .await;
    let (list, searched) = match found {
        Ok(x) => x,
        Err(e) => return error_page(&state, &locale, &e, Some(&me)),
    };
    // An exact id, or a phone that belongs to one record, goes straight to the 360 page.
    let target = q.as_ref().and_then(|q| match list.as_slice() {
        [one] if as_phone(q).is_some() => Some(one),
        _ => list.iter().find(|c| c.customer_id == *q),
    });
    if let Some(target) = target {
        let lang = if locale.remember {
            format!("?lang={}", locale.lang.short())
        } else {
            String::new()
        };
        return Redirect::to(&format!(
            "/console/customers/{}{lang}",
            encode_segment(&target.customer_id)
        ))
        .into_response();
    }
    let total = data::row_counts(engine)
        .await
        .ok()
        .and_then(|c| {
            c.into_iter()
                .find(|(t, _)| t == "customers")
                .map(|(_, n)| n)
        })
        .unwrap_or(0);
    page(
        &state,
        &locale,
        Some(&me),
        StatusCode::OK,
        "customers.html",
        "customers",
        context! {
            q => q.unwrap_or_default(),
            searched => searched,
            customers => Value::from_serialize(&list),
            total => total,
        },
    )
}

#[derive(Serialize)]
struct CustomerChart {
    currency: Option<String>,
    months: Vec<String>,
    credit: Vec<f64>,
    debit: Vec<f64>,
    holdings: Vec<(String, f64)>,
    labels: BTreeMap<&'static str, String>,
}

fn customer_chart(state: &AppState, lang: Lang, c: &Customer360) -> CustomerChart {
    let tr = |k: &str| state.templates.tr(lang, k);
    let yuan = |fen: i64| fen as f64 / 100.0;
    let mut by_category: BTreeMap<String, i64> = BTreeMap::new();
    for h in c
        .holdings
        .iter()
        .filter(|h| h.status == "active" && h.amount_fen.is_some())
    {
        let name = match lang {
            Lang::Zh => h.name_zh.clone(),
            Lang::En => h.name_en.clone(),
        };
        *by_category
            .entry(name.unwrap_or_else(|| h.product_id.clone()))
            .or_default() += h.amount_fen.unwrap_or(0);
    }
    CustomerChart {
        currency: c.monthly_flows.currency.clone(),
        months: c
            .monthly_flows
            .months
            .iter()
            .map(|m| m.month.clone())
            .collect(),
        credit: c
            .monthly_flows
            .months
            .iter()
            .map(|m| yuan(m.credit_fen))
            .collect(),
        debit: c
            .monthly_flows
            .months
            .iter()
            .map(|m| yuan(m.debit_fen))
            .collect(),
        holdings: by_category.into_iter().map(|(k, v)| (k, yuan(v))).collect(),
        labels: [
            ("credit", tr("c360.money_in")),
            ("debit", tr("c360.money_out")),
            ("holdings", tr("c360.holdings")),
        ]
        .into_iter()
        .collect(),
    }
}

async fn customer_page(
    State(state): State<AppState>,
    locale: Locale,
    me: Principal,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let id = match id {
        Ok(Path(id)) => id,
        Err(e) => return error_page(&state, &locale, &crate::api::path_error(e), Some(&me)),
    };
    customer_view(&state, &locale, &me, &id, true, None).await
}

#[derive(Debug, Deserialize)]
struct UnmaskForm {
    #[serde(default)]
    reason: String,
}

/// The unmask form on the 360 page: POST with a reason (and the CSRF token, checked by the
/// auth gate). Renders the page with personal data in clear, once, after auditing it.
async fn customer_unmask(
    State(state): State<AppState>,
    locale: Locale,
    me: Principal,
    id: Result<Path<String>, PathRejection>,
    form: Result<axum::Form<UnmaskForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let id = match id {
        Ok(Path(id)) => id,
        Err(e) => return error_page(&state, &locale, &crate::api::path_error(e), Some(&me)),
    };
    let reason = form.map(|f| f.0.reason).unwrap_or_default();
    if let Err(e) = customer360::validate_customer_id(&id) {
        return error_page(&state, &locale, &e, Some(&me));
    }
    match crate::api::unmask_decision(&state, &me, &id, true, Some(&reason), "console").await {
        Ok(clear) => customer_view(&state, &locale, &me, &id, !clear, Some(reason)).await,
        Err(e) => error_page(&state, &locale, &e, Some(&me)),
    }
}

async fn customer_view(
    state: &AppState,
    locale: &Locale,
    me: &Principal,
    id: &str,
    masked: bool,
    reason: Option<String>,
) -> Response {
    let state = state.clone();
    let r = match crate::privacy::redactor(&state, me, !masked) {
        Ok(r) => r,
        Err(e) => return error_page(&state, locale, &e, Some(me)),
    };
    let c = match customer360::load(state.engine.as_ref(), id, &r).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return error_page(
                &state,
                locale,
                &crate::api::customer_not_found(id),
                Some(me),
            );
        }
        Err(e) => return error_page(&state, locale, &e, Some(me)),
    };
    let chart = customer_chart(&state, locale.lang, &c);
    let tag_groups = crate::tags::customer_page_tags(&state, id, locale.lang).await;
    let scores = crate::models::customer_page_scores(&state, id).await;
    let ledger = if me.can(Permission::ConsentRead) {
        crate::dsr::console_panel(&state, id).await
    } else {
        None
    };
    let mut res = page(
        &state,
        locale,
        Some(me),
        StatusCode::OK,
        "customer.html",
        "customers",
        context! {
            can_unmask => me.can(Permission::PiiUnmask),
            unmask_reason => reason,
            c => Value::from_serialize(&c),
            chart => Value::from_serialize(&chart),
            has_flows => !chart.months.is_empty(),
            has_holdings => !chart.holdings.is_empty(),
            tag_groups => tag_groups,
            scores => scores,
            ledger => Value::from_serialize(&ledger),
            can_consent => me.can(Permission::ConsentWrite),
        },
    );
    if !masked {
        // Clear personal data must not linger in caches or the back-forward history.
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// Unknown routes: an HTML page for browsers inside the console, JSON for everything else.
pub async fn fallback(
    State(state): State<AppState>,
    locale: Locale,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let err = crate::error::not_found(uri.clone()).await;
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if wants_html && uri.path().starts_with("/console") {
        return error_page(&state, &locale, &err, None);
    }
    err.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_format_for_people() {
        assert_eq!(num_filter(1234567), "1,234,567");
        assert_eq!(num_filter(-1000), "-1,000");
        assert_eq!(num_filter(12), "12");
        assert_eq!(pct_filter(0.98765), "98.8%");
    }

    #[test]
    fn script_json_cannot_break_out() {
        let v = Value::from_serialize(serde_json::json!({"name": "</script><!-- & 'x'"}));
        let out = json_for_script(v).unwrap().to_string();
        assert!(
            !out.contains('<') && !out.contains('>') && !out.contains('&') && !out.contains('\''),
            "{out}"
        );
        let back: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(back["name"], "</script><!-- & 'x'");
    }

    #[test]
    fn segments_and_phones() {
        assert_eq!(encode_segment("C001/../x y"), "C001%2F..%2Fx%20y");
        assert_eq!(as_phone("138-1234-5678").as_deref(), Some("13812345678"));
        assert_eq!(as_phone("C00000001"), None);
        assert_eq!(as_phone("12"), None);
    }
}
