//! Field-level access (issue 7, item 3): the one place where a stored value becomes what the
//! caller may see.
//!
//! The policy is `zhiying_pii::FieldPolicy` (role × JR/T 0171-2020 level → clear, masked or
//! hidden; `DATA_DIR/field_policy.toml` overrides the defaults). [`redactor`] applies it to
//! one caller, and [`field_text`] / [`field_json`] / [`redact_row`] apply that to one value of
//! a catalogue column. The customer 360 (API and console), the unmask endpoint, audience
//! exports and the data-subject access export all go through these functions; no handler
//! masks on its own.
//!
//! * `POST /v1/customers/{id}/unmask` (`pii.unmask`): the clear values of chosen fields, with
//!   a required reason; the audit entry (who, which fields, why) is written before any data
//!   is read.
//! * [`access_log`]: one debug line per request (method, URI, status). URIs carry customer
//!   ids and search terms; the CLI's log writer masks identifiers in every line
//!   (`zhiying_pii::log`), which the log-grep test checks.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use zhiying_core::access::Permission;
use zhiying_core::schema::{self, ColumnType, Sensitivity};
use zhiying_engine::sql_literal;
use zhiying_pii::{FieldPolicy, PiiKind, Redactor};

use crate::AppState;
use crate::api::{customer_not_found, path_error};
use crate::auth::{Principal, Routes};
use crate::customer360::{rows, validate_customer_id};
use crate::error::{ApiError, ErrorBody};

pub fn routes() -> Routes {
    Routes::new().post(
        "/v1/customers/{id}/unmask",
        Permission::PiiUnmask,
        unmask_fields,
    )
}

/// The field policy of this data directory: `DATA_DIR/field_policy.toml` over the defaults.
pub fn policy(state: &AppState) -> Result<Arc<FieldPolicy>, ApiError> {
    FieldPolicy::load(state.data_dir.root())
        .map(Arc::new)
        .map_err(|e| ApiError::internal("reading the field policy", e))
}

/// The policy applied to this caller. `unmask` lifts masked levels to clear, and only counts
/// when the caller holds `pii.unmask`; the caller must have audited the request first
/// ([`audit_unmask`]).
pub fn redactor(state: &AppState, me: &Principal, unmask: bool) -> Result<Redactor, ApiError> {
    Ok(Redactor::new(
        policy(state)?,
        &me.roles,
        unmask && me.can(Permission::PiiUnmask),
        None,
    ))
}

/// The data-subject access export's view: `customer.read_pii` (which the route requires)
/// lifts masked levels to clear; levels the policy hides from the caller's roles stay
/// hidden.
pub fn access_export_redactor(state: &AppState, me: &Principal) -> Result<Redactor, ApiError> {
    Ok(Redactor::new(
        policy(state)?,
        &me.roles,
        me.can(Permission::CustomerReadPii),
        None,
    ))
}

/// Applies the policy to the access export's fact rows (by their table's catalogue levels)
/// and derived rows (judged by their values).
pub fn redact_access_export(r: &Redactor, doc: &mut Value) {
    if let Some(facts) = doc.get_mut("facts").and_then(Value::as_object_mut) {
        for (table, rows) in facts.iter_mut() {
            for row in rows.as_array_mut().into_iter().flatten() {
                if let Some(row) = row.as_object_mut() {
                    redact_row(r, table, row);
                }
            }
        }
    }
    if let Some(derived) = doc.get_mut("derived").and_then(Value::as_object_mut) {
        for rows in derived.values_mut() {
            for row in rows.as_array_mut().into_iter().flatten() {
                if let Some(row) = row.as_object_mut() {
                    for (column, v) in row.iter_mut() {
                        *v = field_json(r, None, column, v).unwrap_or(Value::Null);
                    }
                }
            }
        }
    }
}

/// Checks the stated reason for unmasking: 4 to 500 characters after trimming.
pub fn check_reason(reason: Option<&str>) -> Result<&str, ApiError> {
    let reason = reason.map(str::trim).unwrap_or("");
    let n = reason.chars().count();
    if !(4..=500).contains(&n) {
        return Err(ApiError::bad_request(
            "unmask_reason_required",
            "unmasking personal data needs a reason of 4 to 500 characters",
            "Give reason=… saying why you need the clear values (e.g. a complaint or case number); it is kept in the audit log.",
        ));
    }
    Ok(reason)
}

/// Writes the `pii.unmask` audit entry (who, which customer, which fields, why) and returns
/// its sequence number. Call it before reading any data: no entry, no data.
pub async fn audit_unmask(
    state: &AppState,
    me: &Principal,
    customer_id: &str,
    reason: &str,
    via: &str,
    fields: &[&str],
) -> Result<u64, ApiError> {
    state
        .store
        .append_audit(
            &me.username,
            "pii.unmask",
            &format!("customer:{customer_id}"),
            &serde_json::json!({"reason": reason, "via": via, "fields": fields}),
        )
        .await
        .map(|e| e.seq)
        .map_err(|e| ApiError::internal("recording the unmasking in the audit log", e))
}

/// The catalogue level of `table.column`; columns the catalogue does not know (derived tags,
/// scores, export columns) are C2 when their value holds personal data, else C1.
pub fn level_of(table: Option<&str>, column: &str, value: Option<&str>) -> Sensitivity {
    if let Some(def) = table
        .and_then(schema::fact_table)
        .and_then(|t| t.column(column))
    {
        return def.sensitivity;
    }
    match value.and_then(|v| zhiying_pii::classify_field(column, v)) {
        Some(_) => Sensitivity::C2,
        None => Sensitivity::C1,
    }
}

/// THE function for text: what the caller behind `r` may see of one stored value of
/// `table.column` (`None`: hidden). `style` picks the masking style when the column alone
/// does not say (an identifier's `id_type`).
pub fn field_text(
    r: &Redactor,
    table: Option<&str>,
    column: &str,
    style: Option<&str>,
    value: &str,
) -> Option<String> {
    let level = level_of(table, column, Some(value));
    if level == Sensitivity::C1 {
        return Some(value.to_string());
    }
    r.column_text_with(value, column, level, |v| {
        mask_value(style.unwrap_or(column), v)
    })
}

fn is_money(table: Option<&str>, column: &str) -> bool {
    table
        .and_then(schema::fact_table)
        .and_then(|t| t.column(column))
        .is_some_and(|c| matches!(c.ty, ColumnType::Money { .. }))
}

/// A C2 amount of `table.column` (integer 分): C1 amounts pass; C2 ones follow the policy's
/// `C2_financial` cell (masked amounts keep two significant digits).
pub fn field_amount(r: &Redactor, table: Option<&str>, column: &str, value: i64) -> Option<i64> {
    if level_of(table, column, None) == Sensitivity::C1 {
        return Some(value);
    }
    r.amount(value)
}

/// Any JSON value of `table.column` (`None`: hidden).
pub fn field_json(r: &Redactor, table: Option<&str>, column: &str, v: &Value) -> Option<Value> {
    match v {
        Value::Null => Some(Value::Null),
        Value::String(s) => field_text(r, table, column, None, s).map(Value::String),
        Value::Number(n) if is_money(table, column) => match n.as_i64() {
            Some(i) => field_amount(r, table, column, i).map(Value::from),
            None => field_text(r, table, column, None, &n.to_string()).map(Value::String),
        },
        Value::Number(n) => {
            if level_of(table, column, None) == Sensitivity::C1 {
                Some(v.clone())
            } else {
                field_text(r, table, column, None, &n.to_string()).map(Value::String)
            }
        }
        _ => match level_of(table, column, None) {
            Sensitivity::C1 => Some(v.clone()),
            level => match r.column_display(column, level) {
                zhiying_pii::Display::Clear => Some(v.clone()),
                zhiying_pii::Display::Masked => Some(Value::String("***".into())),
                zhiying_pii::Display::Hidden => None,
            },
        },
    }
}

/// A row of `table` as a JSON object: every column through [`field_json`]; hidden columns
/// become `null` (so the row keeps its shape).
pub fn redact_row(r: &Redactor, table: &str, row: &mut Map<String, Value>) {
    for (column, v) in row.iter_mut() {
        *v = field_json(r, Some(table), column, v).unwrap_or(Value::Null);
    }
}

/// The masking house style per column (or identifier type).
pub fn mask_value(style: &str, v: &str) -> String {
    match style {
        "name" | "counterparty" => mask_name(v),
        "resident_id" | "passport" => mask_keep(v, 6, 4),
        "phone" | "mobile" => mask_keep(v, 3, 4),
        "email" => mask_email(v),
        "id_value" | "card_no" | "account_no" => mask_keep(v, 0, 4),
        other => match zhiying_pii::classify_field(other, v) {
            Some(PiiKind::PersonName) => mask_name(v),
            Some(kind) => zhiying_pii::mask(v, kind),
            None => mask_keep(v, 0, 4),
        },
    }
}

/// Keeps the first `head` and last `tail` characters; masks everything when too short.
pub fn mask_keep(v: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = v.chars().collect();
    if chars.len() <= head + tail {
        return "*".repeat(chars.len().max(1));
    }
    let mut out: String = chars[..head].iter().collect();
    out.extend(std::iter::repeat_n('*', chars.len() - head - tail));
    out.extend(&chars[chars.len() - tail..]);
    out
}

pub fn mask_name(v: &str) -> String {
    let mut chars = v.chars();
    match chars.next() {
        Some(first) => std::iter::once(first)
            .chain(chars.map(|c| if c.is_whitespace() { c } else { '*' }))
            .collect(),
        None => String::new(),
    }
}

pub fn mask_email(v: &str) -> String {
    match v.split_once('@') {
        Some((user, domain)) => format!("{}***@{domain}", user.chars().next().unwrap_or('*')),
        None => mask_keep(v, 1, 0),
    }
}

/// The customer fields `POST /v1/customers/{id}/unmask` can return.
pub const UNMASKABLE: &[&str] = &[
    "name",
    "resident_id",
    "phone",
    "email",
    "monthly_income_fen",
    "identifiers",
];

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnmaskRequest {
    /// Why the clear values are needed (4–500 characters), e.g. a complaint or case number.
    /// Recorded in the audit log.
    #[serde(default)]
    pub reason: Option<String>,
    /// Which fields: `name`, `resident_id`, `phone`, `email`, `monthly_income_fen`,
    /// `identifiers`. Default: all of them.
    #[serde(default)]
    pub fields: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnmaskedIdentifier {
    pub customer_id: String,
    pub id_type: String,
    pub id_value: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnmaskResponse {
    pub customer_id: String,
    /// The requested fields as this caller may see them after unmasking (`null` when the
    /// policy hides the field from the caller's roles even when unmasked).
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
    /// The identifiers, when asked for.
    pub identifiers: Option<Vec<UnmaskedIdentifier>>,
    /// Requested fields the policy still withholds from this caller.
    pub withheld: Vec<String>,
    /// Sequence number of the audit entry recording this unmasking.
    pub audit_seq: u64,
}

/// Clear values of chosen personal-data fields of one customer. Needs `pii.unmask` and a
/// reason; the audit entry (who, which fields, why) is written before the data is read.
/// Fields the policy hides from the caller's roles stay hidden (`withheld`).
#[utoipa::path(post, path = "/v1/customers/{id}/unmask", tag = "customers",
    params(("id" = String, Path, description = "Customer id, e.g. C00000001")),
    request_body = UnmaskRequest,
    responses(
        (status = 200, description = "The clear values", body = UnmaskResponse),
        (status = 400, description = "No reason, an unknown field, or a bad id", body = ErrorBody),
        (status = 403, description = "No pii.unmask permission", body = ErrorBody),
        (status = 404, description = "No customer has this id", body = ErrorBody),
    ))]
pub async fn unmask_fields(
    State(state): State<AppState>,
    me: Principal,
    id: Result<Path<String>, PathRejection>,
    body: Result<Json<UnmaskRequest>, JsonRejection>,
) -> Result<Json<UnmaskResponse>, ApiError> {
    let Path(id) = id.map_err(path_error)?;
    validate_customer_id(&id)?;
    let Json(req) = body.map_err(|e| {
        ApiError::bad_request(
            "unmask_reason_required",
            format!("the body must be JSON with a reason: {}", e.body_text()),
            r#"Send JSON like {"reason": "complaint #118", "fields": ["phone"]}."#,
        )
    })?;
    let reason = check_reason(req.reason.as_deref())?;
    let mut fields: Vec<&str> = Vec::new();
    for f in &req.fields {
        match UNMASKABLE.iter().find(|u| **u == f.trim()) {
            Some(u) if !fields.contains(u) => fields.push(*u),
            Some(_) => {}
            None => {
                return Err(ApiError::bad_request(
                    "unknown_field",
                    format!("'{f}' is not a field that can be unmasked"),
                    format!("Ask for some of: {}.", UNMASKABLE.join(", ")),
                ));
            }
        }
    }
    if fields.is_empty() {
        fields = UNMASKABLE.to_vec();
    }
    let audit_seq = audit_unmask(&state, &me, &id, reason, "api", &fields).await?;
    let r = redactor(&state, &me, true)?;

    let lit = sql_literal(&id);
    let profile: Vec<Map<String, Value>> = rows(
        state.engine.as_ref(),
        &format!(
            "SELECT name, resident_id, phone, email, monthly_income_fen FROM customers \
             WHERE customer_id = {lit} LIMIT 1"
        ),
    )
    .await?;
    let Some(profile) = profile.into_iter().next() else {
        return Err(customer_not_found(&id));
    };
    let mut out = Map::new();
    let mut withheld = Vec::new();
    for f in fields.iter().filter(|f| **f != "identifiers") {
        let stored = profile.get(*f).cloned().unwrap_or(Value::Null);
        match field_json(&r, Some("customers"), f, &stored) {
            Some(v) => {
                out.insert(f.to_string(), v);
            }
            None => {
                withheld.push(f.to_string());
                out.insert(f.to_string(), Value::Null);
            }
        }
    }
    let identifiers = if fields.contains(&"identifiers") {
        #[derive(Deserialize)]
        struct Row {
            customer_id: String,
            id_type: String,
            id_value: String,
        }
        let found: Vec<Row> = rows(
            state.engine.as_ref(),
            &format!(
                "SELECT customer_id, id_type, id_value FROM identities WHERE customer_id = {lit} \
                 ORDER BY id_type, id_value LIMIT 100"
            ),
        )
        .await?;
        let list: Vec<UnmaskedIdentifier> = found
            .into_iter()
            .map(|i| UnmaskedIdentifier {
                id_value: field_text(
                    &r,
                    Some("identities"),
                    "id_value",
                    Some(&i.id_type),
                    &i.id_value,
                ),
                customer_id: i.customer_id,
                id_type: i.id_type,
            })
            .collect();
        if list.iter().any(|i| i.id_value.is_none()) {
            withheld.push("identifiers".into());
        }
        Some(list)
    } else {
        None
    };
    Ok(Json(UnmaskResponse {
        customer_id: id,
        fields: out,
        identifiers,
        withheld,
        audit_seq,
    }))
}

/// One debug line per request: method, URI (path and query) and status. Identifiers in
/// URIs are masked by the log writer, never here, so every log line is covered alike.
pub async fn access_log(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let res = next.run(req).await;
    tracing::debug!(%method, %uri, status = res.status().as_u16(), "request");
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use zhiying_core::domain::Role;

    fn r(roles: &[Role], unmask: bool) -> Redactor {
        Redactor::new(Arc::new(FieldPolicy::default()), roles, unmask, None)
    }

    #[test]
    fn masks_keep_only_what_identifies_nothing() {
        assert_eq!(mask_keep("13812345678", 3, 4), "138****5678");
        assert_eq!(mask_keep("110101199001011234", 6, 4), "110101********1234");
        assert_eq!(mask_keep("123", 3, 4), "***");
        assert_eq!(mask_name("张三丰"), "张**");
        assert_eq!(mask_email("zhang@example.com"), "z***@example.com");
        assert_eq!(
            mask_value("card_no", "6222021234567890"),
            "************7890"
        );
    }

    #[test]
    fn one_function_decides_per_role_and_level() {
        let marketer = r(&[Role::Marketer], false);
        assert_eq!(
            field_text(&marketer, Some("customers"), "phone", None, "13812345678").as_deref(),
            Some("138****5678")
        );
        assert_eq!(
            field_text(&marketer, Some("customers"), "city", None, "上海").as_deref(),
            Some("上海"),
            "C1 is clear"
        );
        // Unmask without the permission is the caller's job to refuse; with it, clear.
        let officer = r(&[Role::ComplianceOfficer], true);
        assert_eq!(
            field_text(&officer, Some("customers"), "phone", None, "13812345678").as_deref(),
            Some("13812345678")
        );
        let channel = r(&[Role::ChannelSystem], false);
        assert_eq!(
            field_text(&channel, Some("customers"), "phone", None, "13812345678"),
            None
        );
        let sms = r(&[Role::ChannelSystem], false).for_channel("sms");
        assert_eq!(
            field_text(&sms, Some("customers"), "phone", None, "13812345678").as_deref(),
            Some("13812345678")
        );
        assert_eq!(
            field_text(&sms, Some("customers"), "name", None, "张三丰"),
            None
        );
        // Unknown columns are judged by their values.
        assert_eq!(
            field_text(&marketer, None, "contact", None, "13812345678").as_deref(),
            Some("138****5678")
        );
        assert_eq!(
            field_text(&marketer, None, "segment", None, "c1").as_deref(),
            Some("c1")
        );
        // Amounts: clear for people by default, hidden from channel systems.
        assert_eq!(
            field_json(
                &marketer,
                Some("accounts"),
                "balance_fen",
                &Value::from(1_234_567)
            ),
            Some(Value::from(1_234_567))
        );
        assert_eq!(
            field_json(
                &channel,
                Some("accounts"),
                "balance_fen",
                &Value::from(1_234_567)
            ),
            None
        );
        let mut row = serde_json::json!({"customer_id": "C1", "phone": "13812345678", "name": "张三丰", "city": "上海"});
        redact_row(&channel, "customers", row.as_object_mut().unwrap());
        assert_eq!(
            row,
            serde_json::json!({"customer_id": "C1", "phone": null, "name": null, "city": "上海"})
        );
    }

    #[test]
    fn reasons_are_required() {
        assert!(check_reason(None).is_err());
        assert!(check_reason(Some("  ab ")).is_err());
        assert_eq!(check_reason(Some(" case 118 ")).unwrap(), "case 118");
        assert!(check_reason(Some(&"x".repeat(501))).is_err());
    }
}
