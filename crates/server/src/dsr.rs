//! The consent ledger, the do-not-contact list and data-subject rights over HTTP.
//!
//! * `POST /v1/customers/{id}/consents` grants or withdraws one purpose on one channel (or
//!   `all`), with time, source and evidence; `GET` returns the current state and the full
//!   history. Every change is audited and pushed into the decision engine's live consent
//!   view, so the very next `POST /v1/decisions` honours it.
//! * `GET /v1/dnc`, `POST /v1/dnc`, `DELETE /v1/dnc/{id}`: the do-not-contact list.
//! * `GET /v1/customers/{id}/export`: everything held on a customer (access right).
//! * `POST /v1/customers/{id}/erase`: erasure across every store (`customer.erase`).
//! * `POST /console/customers/{id}/consents`: the 360 page's form for service agents.

use axum::Json;
use axum::extract::rejection::{FormRejection, JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zhiying_core::access::Permission;
use zhiying_core::schema::{CONSENT_CHANNELS, CONSENT_PURPOSES};
use zhiying_decision::{ConsentAnswer, ConsentUpdate};
use zhiying_dsr::{ErasureRequest, EventLogAccess};
use zhiying_store::{ALL_CHANNELS, ConsentEvent, DncEntry};

use crate::AppState;
use crate::api::path_error;
use crate::auth::{Principal, Routes};
use crate::customer360::validate_customer_id;
use crate::error::{ApiError, ErrorBody};

pub fn routes() -> Routes {
    Routes::new()
        .get(
            "/v1/customers/{id}/consents",
            Permission::ConsentRead,
            get_consents,
        )
        .post(
            "/v1/customers/{id}/consents",
            Permission::ConsentWrite,
            post_consent,
        )
        .get("/v1/dnc", Permission::ComplianceRead, list_dnc)
        .post("/v1/dnc", Permission::ConsentWrite, add_dnc)
        .delete("/v1/dnc/{id}", Permission::ConsentWrite, remove_dnc)
        .get(
            "/v1/customers/{id}/export",
            Permission::CustomerReadPii,
            export,
        )
        .post("/v1/customers/{id}/erase", Permission::CustomerErase, erase)
        .post(
            "/console/customers/{id}/consents",
            Permission::ConsentWrite,
            console_consent,
        )
}

/// A grant or a withdrawal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsentAction {
    Grant,
    Withdraw,
}

/// One consent change, as a service agent or a channel records it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentChange {
    /// `marketing`, `profiling` or `third_party` (`third_party_sharing` is accepted).
    pub purpose: String,
    /// `sms`, `call`, `email`, `app_push`, `wechat`, `mail`, or `all` (the default).
    #[serde(default)]
    pub channel: Option<String>,
    pub action: ConsentAction,
    /// When the customer gave or withdrew it (RFC 3339); defaults to now. At most five
    /// minutes in the future.
    #[serde(default)]
    pub ts: Option<String>,
    /// Where it was captured: `branch_form`, `call_centre`, `app`, …
    pub source: String,
    /// A pointer to proof: form id, call recording id, document hash.
    #[serde(default)]
    pub evidence: Option<String>,
}

/// The ledger of one customer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentState {
    pub customer_id: String,
    /// The latest event per purpose and channel.
    #[schema(value_type = Vec<Object>)]
    pub current: Vec<ConsentEvent>,
    /// Every event, oldest first (times in UTC micros).
    #[schema(value_type = Vec<Object>)]
    pub history: Vec<ConsentEvent>,
    #[schema(value_type = Option<Object>)]
    pub do_not_contact: Option<DncEntry>,
    /// What the decision engine answers now for marketing on each channel (facts + ledger).
    #[schema(value_type = Object)]
    pub decisioning: serde_json::Map<String, serde_json::Value>,
}

fn field_error(field: &str, message: String, hint: &str) -> ApiError {
    ApiError::bad_request("invalid_consent", format!("{field}: {message}"), hint)
}

/// Checks and normalises a change into a ledger event.
pub fn to_event(customer_id: &str, c: &ConsentChange) -> Result<ConsentEvent, ApiError> {
    let purpose = match c.purpose.trim() {
        "third_party_sharing" => "third_party",
        p => p,
    };
    if !CONSENT_PURPOSES.contains(&purpose) {
        return Err(field_error(
            "purpose",
            format!("'{}' is not a consent purpose", c.purpose),
            "Use marketing, profiling or third_party (third_party_sharing).",
        ));
    }
    let channel = match c.channel.as_deref().map(str::trim) {
        None | Some("") => ALL_CHANNELS,
        Some("call_centre") | Some("call_center") => "call",
        Some(ch) => ch,
    };
    if !CONSENT_CHANNELS.contains(&channel) {
        return Err(field_error(
            "channel",
            format!("'{channel}' is not a consent channel"),
            "Use all, sms, call, email, app_push, wechat or mail.",
        ));
    }
    let now = chrono::Utc::now().timestamp_micros();
    let ts = match c.ts.as_deref().map(str::trim) {
        None | Some("") => now,
        Some(raw) => zhiying_core::time::parse_timestamp(raw, 8 * 3600).map_err(|e| {
            field_error(
                "ts",
                format!("'{raw}' is not a time: {e}"),
                "Give RFC 3339, e.g. 2025-03-01T09:30:00+08:00, or leave it out for now.",
            )
        })?,
    };
    if ts > now + 5 * 60 * 1_000_000 {
        return Err(field_error(
            "ts",
            "is in the future".into(),
            "A consent event records what the customer already did: use the time it happened.",
        ));
    }
    let source = c.source.trim();
    if source.is_empty() || source.chars().count() > 100 {
        return Err(field_error(
            "source",
            "must have 1 to 100 characters".into(),
            "Say where it was captured, e.g. branch_form, call_centre, app.",
        ));
    }
    let evidence = c
        .evidence
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty());
    if evidence.is_some_and(|e| e.chars().count() > 500) {
        return Err(field_error(
            "evidence",
            "is longer than 500 characters".into(),
            "Store the proof elsewhere and give its id or hash here.",
        ));
    }
    if c.action == ConsentAction::Grant && evidence.is_none() {
        return Err(field_error(
            "evidence",
            "a grant needs evidence".into(),
            "PIPL asks the bank to prove consent: give the signed form id, recording id or document hash.",
        ));
    }
    Ok(ConsentEvent {
        customer_id: customer_id.to_string(),
        purpose: purpose.to_string(),
        channel: channel.to_string(),
        granted: c.action == ConsentAction::Grant,
        ts,
        source: source.to_string(),
        evidence: evidence.map(str::to_string),
    })
}

fn live_update(e: &ConsentEvent) -> Vec<ConsentUpdate> {
    chrono::DateTime::from_timestamp_micros(e.ts)
        .and_then(|ts| {
            zhiying_decision::ConsentEvent::from_row(
                &e.customer_id,
                &e.purpose,
                &e.channel,
                e.granted,
                ts,
            )
            .ok()
        })
        .map(ConsentUpdate::Event)
        .into_iter()
        .collect()
}

/// Records one event (store, audit, live view).
pub(crate) async fn record(
    state: &AppState,
    me: &Principal,
    event: ConsentEvent,
    via: &str,
) -> Result<(), ApiError> {
    let store = state.store.clone();
    let actor = me.username.clone();
    let via = via.to_string();
    state
        .decisions
        .consent_changed(async move {
            store
                .record_consent(&event)
                .await
                .map_err(|e| ApiError::internal("recording the consent event", e))?;
            store
                .append_audit(
                    &actor,
                    if event.granted {
                        "consent.grant"
                    } else {
                        "consent.withdraw"
                    },
                    &format!("customer:{}", event.customer_id),
                    &serde_json::json!({
                        "purpose": event.purpose, "channel": event.channel, "ts": event.ts,
                        "source": event.source, "has_evidence": event.evidence.is_some(), "via": via,
                    }),
                )
                .await
                .map_err(|e| ApiError::internal("auditing the consent event", e))?;
            let updates = live_update(&event);
            Ok::<_, ApiError>(((), updates))
        })
        .await
}

async fn state_of(state: &AppState, id: &str) -> Result<ConsentState, ApiError> {
    let history = state
        .store
        .consent_history(id)
        .await
        .map_err(|e| ApiError::internal("reading the consent history", e))?;
    let mut latest: std::collections::BTreeMap<(String, String), ConsentEvent> = Default::default();
    for e in &history {
        latest.insert((e.purpose.clone(), e.channel.clone()), e.clone());
    }
    let do_not_contact = state
        .store
        .dnc_list()
        .await
        .map_err(|e| ApiError::internal("reading the do-not-contact list", e))?
        .into_iter()
        .find(|d| d.customer_id == id);
    let decisioning = state
        .decisions
        .consent_answers(id)
        .into_iter()
        .map(|(c, a)| {
            let v = match a {
                ConsentAnswer::Granted => serde_json::json!({"answer": "granted"}),
                ConsentAnswer::DoNotContact => serde_json::json!({"answer": "do_not_contact"}),
                ConsentAnswer::NotGranted { detail } => {
                    serde_json::json!({"answer": "not_granted", "detail": detail})
                }
            };
            (c.as_str().to_string(), v)
        })
        .collect();
    Ok(ConsentState {
        customer_id: id.to_string(),
        current: latest.into_values().collect(),
        history,
        do_not_contact,
        decisioning,
    })
}

/// The consent ledger of a customer: current state per purpose and channel, the full
/// history, the do-not-contact entry, and what decisioning answers now.
#[utoipa::path(get, path = "/v1/customers/{id}/consents", tag = "consent",
    params(("id" = String, Path, description = "Customer id")),
    responses(
        (status = 200, description = "Current consents and history", body = ConsentState),
        (status = 400, description = "Bad id", body = ErrorBody),
    ))]
pub async fn get_consents(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<ConsentState>, ApiError> {
    let Path(id) = id.map_err(path_error)?;
    validate_customer_id(&id)?;
    Ok(Json(state_of(&state, &id).await?))
}

/// Grants or withdraws one purpose on one channel. Audited; the next decision honours it.
#[utoipa::path(post, path = "/v1/customers/{id}/consents", tag = "consent",
    params(("id" = String, Path, description = "Customer id")),
    request_body = ConsentChange,
    responses(
        (status = 201, description = "Recorded; the customer's ledger after the change", body = ConsentState),
        (status = 400, description = "A field is invalid (named in the message)", body = ErrorBody),
    ))]
pub async fn post_consent(
    State(state): State<AppState>,
    me: Principal,
    id: Result<Path<String>, PathRejection>,
    body: Result<Json<ConsentChange>, JsonRejection>,
) -> Result<(StatusCode, Json<ConsentState>), ApiError> {
    let Path(id) = id.map_err(path_error)?;
    validate_customer_id(&id)?;
    let Json(change) = body.map_err(|e| {
        ApiError::bad_request(
            "invalid_consent",
            e.body_text(),
            r#"Send JSON like {"purpose":"marketing","channel":"sms","action":"withdraw","source":"call_centre","evidence":"REC-123"}."#,
        )
    })?;
    let event = to_event(&id, &change)?;
    record(&state, &me, event, "api").await?;
    Ok((StatusCode::CREATED, Json(state_of(&state, &id).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DncAdd {
    pub customer_id: String,
    /// Why (complaint number, customer request).
    pub reason: String,
}

/// The do-not-contact list.
#[utoipa::path(get, path = "/v1/dnc", tag = "consent",
    responses((status = 200, description = "Entries ordered by customer id", body = Object)))]
pub async fn list_dnc(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let list = state
        .store
        .dnc_list()
        .await
        .map_err(|e| ApiError::internal("reading the do-not-contact list", e))?;
    Ok(Json(serde_json::json!({ "entries": list })))
}

async fn set_dnc(
    state: &AppState,
    me: &Principal,
    id: &str,
    on: bool,
    reason: &str,
) -> Result<bool, ApiError> {
    let store = state.store.clone();
    let actor = me.username.clone();
    let (id, reason) = (id.to_string(), reason.to_string());
    state
        .decisions
        .consent_changed(async move {
            let changed = if on {
                store.dnc_add(&id, &reason, &actor).await
            } else {
                store.dnc_remove(&id).await
            }
            .map_err(|e| ApiError::internal("changing the do-not-contact list", e))?;
            if changed {
                store
                    .append_audit(
                        &actor,
                        if on { "dnc.add" } else { "dnc.remove" },
                        &format!("customer:{id}"),
                        &serde_json::json!({ "reason": reason }),
                    )
                    .await
                    .map_err(|e| ApiError::internal("auditing the do-not-contact change", e))?;
            }
            Ok::<_, ApiError>((
                changed,
                vec![ConsentUpdate::DoNotContact {
                    customer_id: id,
                    on,
                }],
            ))
        })
        .await
}

/// Puts a customer on the do-not-contact list (overrides every consent).
#[utoipa::path(post, path = "/v1/dnc", tag = "consent", request_body = DncAdd,
    responses(
        (status = 201, description = "Added", body = Object),
        (status = 200, description = "Already on the list", body = Object),
        (status = 400, description = "Bad id or missing reason", body = ErrorBody),
    ))]
pub async fn add_dnc(
    State(state): State<AppState>,
    me: Principal,
    body: Result<Json<DncAdd>, JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let Json(b) = body.map_err(|e| {
        ApiError::bad_request(
            "invalid_dnc",
            e.body_text(),
            r#"Send JSON like {"customer_id":"C00000001","reason":"complaint 2025-114"}."#,
        )
    })?;
    validate_customer_id(&b.customer_id)?;
    let reason = b.reason.trim();
    if reason.chars().count() < 4 {
        return Err(ApiError::bad_request(
            "invalid_dnc",
            "reason: say why (at least 4 characters)",
            "e.g. \"customer asked on the phone, ticket 2025-114\"",
        ));
    }
    let added = set_dnc(&state, &me, &b.customer_id, true, reason).await?;
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(serde_json::json!({"customer_id": b.customer_id, "added": added})),
    ))
}

/// Takes a customer off the do-not-contact list.
#[utoipa::path(delete, path = "/v1/dnc/{id}", tag = "consent",
    params(("id" = String, Path, description = "Customer id")),
    responses(
        (status = 200, description = "Removed", body = Object),
        (status = 404, description = "Not on the list", body = ErrorBody),
    ))]
pub async fn remove_dnc(
    State(state): State<AppState>,
    me: Principal,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path(id) = id.map_err(path_error)?;
    validate_customer_id(&id)?;
    if !set_dnc(&state, &me, &id, false, "removed").await? {
        return Err(ApiError::not_found(
            "not_on_dnc",
            format!("'{id}' is not on the do-not-contact list"),
            "GET /v1/dnc lists the entries.",
        ));
    }
    Ok(Json(
        serde_json::json!({"customer_id": id, "removed": true}),
    ))
}

fn privacy_error(context: &str, e: zhiying_dsr::PrivacyError) -> ApiError {
    match e {
        zhiying_dsr::PrivacyError::Invalid { field, reason } => ApiError::bad_request(
            "invalid_request",
            format!("{field}: {reason}"),
            "Fix the field named and retry.",
        ),
        other => ApiError::internal(context, other),
    }
}

/// Access: everything held on the customer as one JSON document (facts rows from every
/// table, derived files, audience snapshots, consents, contacts, decisions, responses,
/// experiment assignments, event-log records, the real-time profile, audit entries).
/// It needs `customer.read_pii`, which unmasks what the field policy masks for the caller's
/// roles (fields the policy hides stay out); audited.
#[utoipa::path(get, path = "/v1/customers/{id}/export", tag = "consent",
    params(("id" = String, Path, description = "Customer id")),
    responses(
        (status = 200, description = "The export (a download)", body = Object),
        (status = 400, description = "Bad id", body = ErrorBody),
    ))]
pub async fn export(
    State(state): State<AppState>,
    me: Principal,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = id.map_err(path_error)?;
    validate_customer_id(&id)?;
    let doc = zhiying_dsr::export(
        state.engine.as_ref(),
        state.store.as_ref(),
        &state.data_dir,
        state.events.as_deref(),
        &id,
    )
    .await
    .map_err(|e| privacy_error("exporting the customer's data", e))?;
    let mut doc = doc;
    crate::privacy::redact_access_export(
        &crate::privacy::access_export_redactor(&state, &me)?,
        &mut doc,
    );
    state
        .store
        .append_audit(
            &me.username,
            "customer.export",
            &format!("customer:{id}"),
            &serde_json::json!({"via": "api"}),
        )
        .await
        .map_err(|e| ApiError::internal("auditing the export", e))?;
    let mut res = Json(doc).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        header::HeaderValue::from_static("attachment; filename=\"customer-export.json\""),
    );
    Ok(res)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseBody {
    /// Why (the customer's request and its ticket, a court order…). Audited.
    pub reason: String,
}

/// Erasure: deletes or irreversibly anonymises the customer (and records identity
/// resolution linked to the same person) across the store, the Parquet facts and derived
/// files, audience snapshots, the event log and real-time profile, model artefacts and
/// caches. Keeps the audit entries and a keyed hash of the id; the response lists what was
/// kept and why, and what a scan of the data directory still found (should be nothing).
#[utoipa::path(post, path = "/v1/customers/{id}/erase", tag = "consent",
    params(("id" = String, Path, description = "Customer id")),
    request_body = EraseBody,
    responses(
        (status = 200, description = "What was erased and what was kept, with reasons", body = Object),
        (status = 400, description = "Bad id or missing reason", body = ErrorBody),
    ))]
pub async fn erase(
    State(state): State<AppState>,
    me: Principal,
    id: Result<Path<String>, PathRejection>,
    body: Result<Json<EraseBody>, JsonRejection>,
) -> Result<Json<zhiying_dsr::ErasureReport>, ApiError> {
    let Path(id) = id.map_err(path_error)?;
    validate_customer_id(&id)?;
    let Json(b) = body.map_err(|e| {
        ApiError::bad_request(
            "reason_required",
            e.body_text(),
            r#"Send JSON like {"reason":"客户申请删除 ticket 12345"}."#,
        )
    })?;
    let events = match state.events.as_deref() {
        Some(es) => EventLogAccess::Open(es),
        None => EventLogAccess::Dir(state.data_dir.root().join("events")),
    };
    let req = ErasureRequest {
        customer_id: &id,
        reason: &b.reason,
        actor: &me.username,
    };
    let store = state.store.clone();
    let dd = state.data_dir.clone();
    let report = state
        .decisions
        .consent_changed(async {
            let r = zhiying_dsr::erase(store.as_ref(), &dd, events, &req).await?;
            let mut forget = vec![ConsentUpdate::Forget {
                customer_id: id.clone(),
            }];
            forget.extend(r.linked_records.iter().map(|l| ConsentUpdate::Forget {
                customer_id: l.clone(),
            }));
            Ok::<_, zhiying_dsr::PrivacyError>((r, forget))
        })
        .await
        .map_err(|e| privacy_error("erasing the customer", e))?;
    // Queries must stop seeing the old files; the audience index reloads on its own when
    // tags.parquet changes.
    state
        .engine
        .refresh()
        .await
        .map_err(|e| ApiError::internal("refreshing the engine after the erasure", e))?;
    Ok(Json(report))
}

#[derive(Debug, Deserialize)]
pub struct ConsoleConsentForm {
    pub purpose: String,
    #[serde(default)]
    pub channel: Option<String>,
    pub action: ConsentAction,
    pub source: String,
    #[serde(default)]
    pub evidence: Option<String>,
}

/// The 360 page's form: a service agent records a grant or (usually) a withdrawal.
async fn console_consent(
    State(state): State<AppState>,
    me: Principal,
    id: Result<Path<String>, PathRejection>,
    form: Result<axum::Form<ConsoleConsentForm>, FormRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = id.map_err(path_error)?;
    validate_customer_id(&id)?;
    let axum::Form(f) = form.map_err(|e| {
        ApiError::bad_request(
            "invalid_consent",
            e.body_text(),
            "Fill in purpose, channel, action and source.",
        )
    })?;
    let change = ConsentChange {
        purpose: f.purpose,
        channel: f.channel,
        action: f.action,
        ts: None,
        source: f.source,
        evidence: f.evidence,
    };
    let event = to_event(&id, &change)?;
    record(&state, &me, event, "console").await?;
    let to = format!(
        "/console/customers/{}#consent-ledger",
        crate::console::encode_segment(&id)
    );
    Ok((StatusCode::SEE_OTHER, [(header::LOCATION, to)], "recorded").into_response())
}

/// The ledger panel of the 360 page: current state and history from the store.
pub(crate) async fn console_panel(state: &AppState, id: &str) -> Option<serde_json::Value> {
    let s = state_of(state, id).await.ok()?;
    let rows = |list: &[ConsentEvent]| -> Vec<serde_json::Value> {
        list.iter()
            .map(|e| {
                serde_json::json!({
                    "purpose": e.purpose, "channel": e.channel, "granted": e.granted,
                    "time": zhiying_core::time::format_timestamp(e.ts),
                    "source": e.source, "evidence": e.evidence,
                })
            })
            .collect()
    };
    let mut history = rows(&s.history);
    history.reverse();
    Some(serde_json::json!({
        "current": rows(&s.current),
        "history": history,
        "do_not_contact": s.do_not_contact.as_ref().map(|d| serde_json::json!({
            "reason": d.reason, "added_by": d.added_by,
            "time": zhiying_core::time::format_timestamp(d.added_at),
        })),
        "decisioning": s.decisioning,
        "purposes": CONSENT_PURPOSES,
        "channels": CONSENT_CHANNELS,
    }))
}

/// Applies the retention rules on their schedule (`every_hours`, first run five minutes
/// after start). Each run is audited by `zhiying_dsr::retention::run`.
pub(crate) async fn retention_task(state: AppState) {
    tokio::time::sleep(std::time::Duration::from_secs(300)).await;
    loop {
        let rules = match zhiying_dsr::RetentionRules::load(state.store.as_ref()).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "retention rules unreadable; using the defaults");
                zhiying_dsr::RetentionRules::default()
            }
        };
        let events = match state.events.as_deref() {
            Some(es) => EventLogAccess::Open(es),
            None => EventLogAccess::Dir(state.data_dir.root().join("events")),
        };
        match zhiying_dsr::retention::run(
            state.store.as_ref(),
            &state.data_dir,
            events,
            &rules,
            chrono::Utc::now().timestamp_micros(),
            false,
            "system:retention",
        )
        .await
        {
            Ok(r) => {
                let rows: u64 = r.rules.iter().map(|o| o.rows).sum();
                if r.rules.iter().any(|o| !o.files.is_empty())
                    && let Err(e) = state.engine.refresh().await
                {
                    tracing::warn!(error = %e, "refreshing the engine after retention");
                }
                tracing::info!(rows, "retention rules applied");
            }
            Err(e) => tracing::warn!(error = %e, "retention run failed; retrying next period"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(
            u64::from(rules.every_hours.max(1)) * 3600,
        ))
        .await;
    }
}
