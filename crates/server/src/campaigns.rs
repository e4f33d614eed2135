//! The offer catalogue, campaigns under maker-checker and the approval queue: the JSON API
//! (`/v1/offers…`, `/v1/campaigns…`) and three console pages (`/console/offers`,
//! `/console/campaigns`, `/console/approvals`).
//!
//! * **Offers** are `zhiying_decision::Offer` bodies stored as immutable versions
//!   (`zhiying_store` migration 0004). Every write is validated field by field (risk level,
//!   category, templates and their personalisation fields, validity, value and cost) and the
//!   eligibility rule is bound against the audience index, so errors come back with their
//!   line and column. A write invalidates the decision engine's catalogue; the next
//!   decision rebinds to the new versions.
//! * **Campaigns** move draft → submitted → approved → running → completed (with reject,
//!   pause, cancel and reopen as the store's state machine allows). The store refuses
//!   self-approval and records every move with what the actor saw; every move is also
//!   written to the audit log.
//! * **Approval** shows the audience size, the expected contacts per channel (audience ×
//!   (1 − holdout), customers without marketing consent on the channel or on the
//!   do-not-contact list removed, split evenly over the channels), the budget and every
//!   treatment rendered and run through the marketing-copy checker. A campaign whose copy
//!   has any violation is approved only with `override: true` and a reason, both recorded.
//! * **Launch** (approved → running) calls the [`CampaignLauncher`] in [`AppState`] when one
//!   is installed. If it fails the campaign is paused with the error as the note.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::rejection::{FormRejection, JsonRejection, PathRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDate, Utc};
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zhiying_core::access::Permission;
use zhiying_decision::catalog::{Lang as CopyLang, render};
use zhiying_decision::{Channel, ConsentAnswer, ConsentView, Purpose};
use zhiying_store::{
    ApprovalSnapshot, Campaign, CampaignDraft, CampaignKind, CampaignStatus, CampaignTransition,
    Offer as StoredOffer, OfferStatus, OfferVersion, StoreError,
};

use crate::AppState;
use crate::auth::{Principal, Routes, audit_best_effort};
use crate::error::{ApiError, ErrorBody};
use crate::i18n::Locale;

pub fn routes() -> Routes {
    use Permission::{CampaignApprove, CampaignRead, CampaignWrite, OfferWrite};
    Routes::new()
        .get("/v1/offers", CampaignRead, list_offers)
        .post("/v1/offers", OfferWrite, create_offer)
        .get("/v1/offers/{id}", CampaignRead, get_offer)
        .put("/v1/offers/{id}", OfferWrite, update_offer)
        .post("/v1/offers/{id}/retire", OfferWrite, retire_offer)
        .get("/v1/offers/{id}/versions", CampaignRead, offer_versions)
        .get(
            "/v1/offers/{id}/versions/{version}",
            CampaignRead,
            offer_version,
        )
        .get("/v1/campaigns", CampaignRead, list_campaigns)
        .post("/v1/campaigns", CampaignWrite, create_campaign)
        .get("/v1/campaigns/{id}", CampaignRead, get_campaign)
        .put("/v1/campaigns/{id}", CampaignWrite, update_campaign)
        .get(
            "/v1/campaigns/{id}/transitions",
            CampaignRead,
            campaign_transitions,
        )
        .get("/v1/campaigns/{id}/review", CampaignRead, review_campaign)
        .post("/v1/campaigns/{id}/submit", CampaignWrite, submit_campaign)
        .post(
            "/v1/campaigns/{id}/approve",
            CampaignApprove,
            approve_campaign,
        )
        .post(
            "/v1/campaigns/{id}/reject",
            CampaignApprove,
            reject_campaign,
        )
        .post("/v1/campaigns/{id}/launch", CampaignWrite, launch_campaign)
        .post("/v1/campaigns/{id}/pause", CampaignWrite, pause_campaign)
        .post(
            "/v1/campaigns/{id}/complete",
            CampaignWrite,
            complete_campaign,
        )
        .post("/v1/campaigns/{id}/cancel", CampaignWrite, cancel_campaign)
        .post("/v1/campaigns/{id}/reopen", CampaignWrite, reopen_campaign)
        .get("/console/offers", CampaignRead, offers_page)
        .post("/console/offers", OfferWrite, offers_form)
        .post(
            "/console/offers/{id}/retire",
            OfferWrite,
            offers_retire_form,
        )
        .get("/console/campaigns", CampaignRead, campaigns_page)
        .post("/console/campaigns", CampaignWrite, campaigns_form)
        .post(
            "/console/campaigns/{id}/move",
            CampaignWrite,
            campaigns_move_form,
        )
        .get("/console/approvals", CampaignRead, approvals_page)
        .post("/console/approvals/{id}", CampaignApprove, approvals_form)
}

// ---------------------------------------------------------------------------------------
// The launcher seam
// ---------------------------------------------------------------------------------------

/// What a launcher reports after starting a campaign.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LaunchSummary {
    /// Contacts written for delivery (treatment group).
    pub contacts_planned: u64,
    /// Customers held out for measurement.
    pub holdout: u64,
    /// Anything else the runner wants recorded (batch ids, files written…).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// Why a launch failed; the campaign is paused with this as the note.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LaunchError(pub String);

/// Starts a campaign when it moves to `running` (the campaign runner implements this;
/// install it with [`AppState::with_launcher`]). Called after the move is recorded, with the
/// campaign as approved; a failure pauses the campaign again.
#[async_trait::async_trait]
pub trait CampaignLauncher: Send + Sync {
    async fn launch(&self, campaign: &Campaign) -> Result<LaunchSummary, LaunchError>;
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/// Where in an expression an error is (as the audience API reports it).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorPosition {
    /// 1-based line and column (in characters).
    pub line: usize,
    pub column: usize,
    /// Byte span.
    pub start: usize,
    pub end: usize,
    /// The source line, and the caret line under it.
    pub snippet: String,
    pub caret: String,
    pub expected: Option<String>,
    pub suggestion: Option<String>,
    pub valid: Vec<String>,
}

/// One problem with one field of a request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// The field, e.g. `risk_level`, `treatments[sms].template_zh`, `eligibility`.
    pub field: String,
    pub message: String,
    /// For expressions (eligibility, audience): where the error is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<ErrorPosition>,
}

/// `{error: {code, message, hint, fields}}`: an invalid offer or campaign.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FieldErrorBody {
    pub error: FieldErrorDetail,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FieldErrorDetail {
    /// `invalid_offer` or `invalid_campaign`.
    pub code: String,
    pub message: String,
    pub hint: String,
    pub fields: Vec<FieldError>,
}

/// A handler failure: a plain API error or a list of field errors.
pub(crate) enum Failure {
    Api(ApiError),
    Fields {
        code: &'static str,
        hint: &'static str,
        fields: Vec<FieldError>,
    },
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Api(e)
    }
}

impl Failure {
    fn status(&self) -> StatusCode {
        match self {
            Failure::Api(e) => e.status,
            Failure::Fields { .. } => StatusCode::BAD_REQUEST,
        }
    }
    fn message(&self) -> String {
        match self {
            Failure::Api(e) => e.message.clone(),
            Failure::Fields { fields, .. } => fields
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; "),
        }
    }
    fn field_list(&self) -> Vec<FieldError> {
        match self {
            Failure::Api(_) => Vec::new(),
            Failure::Fields { fields, .. } => fields.clone(),
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Failure::Api(e) => e.into_response(),
            Failure::Fields { code, hint, fields } => {
                let message = format!(
                    "{} problem(s): {}",
                    fields.len(),
                    fields
                        .iter()
                        .map(|f| format!("{}: {}", f.field, f.message))
                        .collect::<Vec<_>>()
                        .join("; ")
                );
                (
                    StatusCode::BAD_REQUEST,
                    Json(FieldErrorBody {
                        error: FieldErrorDetail {
                            code: code.to_string(),
                            message,
                            hint: hint.to_string(),
                            fields,
                        },
                    }),
                )
                    .into_response()
            }
        }
    }
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound { what, key } => ApiError::not_found(
            if what == "offer" {
                "offer_not_found"
            } else {
                "campaign_not_found"
            },
            format!("{what} '{key}' does not exist"),
            "GET /v1/offers and GET /v1/campaigns list the ids.",
        ),
        StoreError::Invalid { field, reason } => ApiError::bad_request(
            "invalid_request",
            format!("invalid {field}: {reason}"),
            "Fix the named field and send the request again.",
        ),
        e @ StoreError::VersionConflict { .. } => ApiError::new(
            StatusCode::CONFLICT,
            "version_conflict",
            e.to_string(),
            "GET the offer again, reapply your change and send its current version as expected_version.",
        ),
        e @ StoreError::IllegalTransition { .. } => ApiError::new(
            StatusCode::CONFLICT,
            "illegal_transition",
            e.to_string(),
            "GET /v1/campaigns/{id} shows the campaign's status.",
        ),
        e @ StoreError::SelfApproval { .. } => self_approval(e.to_string()),
        e @ StoreError::NotEditable { .. } => ApiError::new(
            StatusCode::CONFLICT,
            "not_editable",
            e.to_string(),
            "Only drafts can be edited: reject or reopen the campaign first.",
        ),
        e @ StoreError::Conflict { .. } => ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            e.to_string(),
            "Choose another id.",
        ),
        other => ApiError::internal("the operational store", other),
    }
}

fn self_approval(message: String) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "self_approval",
        message,
        "Maker-checker: a user who created or submitted a campaign cannot approve it. Ask another user with campaign.approve (a compliance officer) to review it in the approval queue.",
    )
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>, what: &str) -> Result<T, ApiError> {
    body.map(|Json(v)| v).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!("the body is not a valid {what}: {}", e.body_text()),
            "Send JSON with Content-Type: application/json; /openapi.json has the shape.",
        )
    })
}

fn path_id(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    p.map(|Path(id)| id).map_err(crate::api::path_error)
}

fn rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Offers
// ---------------------------------------------------------------------------------------

/// An offer at its current version.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OfferOut {
    pub offer_id: String,
    /// `active` or `retired`.
    pub status: String,
    /// The current version; send it as `expected_version` to change the offer.
    pub version: u64,
    /// The offer: product, risk level, eligibility, value, cost, validity, treatments.
    #[schema(value_type = Object)]
    pub offer: serde_json::Value,
    pub created_at: String,
    pub updated_at: String,
    pub updated_by: String,
    pub note: String,
}

impl From<StoredOffer> for OfferOut {
    fn from(o: StoredOffer) -> Self {
        OfferOut {
            offer_id: o.offer_id,
            status: o.status.to_string(),
            version: o.version,
            offer: o.body,
            created_at: rfc3339(o.created_at),
            updated_at: rfc3339(o.updated_at),
            updated_by: o.updated_by,
            note: o.note,
        }
    }
}

/// One stored version of an offer.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OfferVersionOut {
    pub offer_id: String,
    pub version: u64,
    #[schema(value_type = Object)]
    pub offer: serde_json::Value,
    pub created_by: String,
    pub created_at: String,
    pub note: String,
}

impl From<OfferVersion> for OfferVersionOut {
    fn from(v: OfferVersion) -> Self {
        OfferVersionOut {
            offer_id: v.offer_id,
            version: v.version,
            offer: v.body,
            created_by: v.created_by,
            created_at: rfc3339(v.created_at),
            note: v.note,
        }
    }
}

/// Create or edit an offer.
#[derive(Debug, Deserialize, ToSchema)]
pub struct OfferWrite {
    /// The offer (docs/decisioning.md): `id`, `product_id`, `name_zh`, `name_en`, `category`,
    /// `risk_level` (R1–R5), `eligibility` (an audience expression), `value_fen`, `cost_fen`,
    /// `valid_from`, `valid_to`, `rate_bp`, `treatments` (per channel `template_zh`/`template_en`
    /// using `{name_masked}` `{product_name}` `{offer_name}` `{rate}` `{valid_to}` `{branch_name}`).
    #[schema(value_type = Object)]
    pub offer: serde_json::Value,
    /// Why this version was made (kept with it).
    #[serde(default)]
    pub note: String,
    /// Editing: the version you read (a stale one answers 409). Ignored on create.
    #[serde(default)]
    pub expected_version: Option<u64>,
}

/// Why an offer is retired.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RetireRequest {
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListOffersQuery {
    /// Include retired offers (default false).
    pub include_retired: Option<bool>,
}

const OFFER_REQUIRED: &[&str] = &[
    "id",
    "product_id",
    "name_zh",
    "name_en",
    "category",
    "risk_level",
    "value_fen",
    "cost_fen",
    "valid_from",
    "treatments",
];

fn field(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
        position: None,
    }
}

fn position_of(e: &zhiying_audience::ExprError) -> ErrorPosition {
    ErrorPosition {
        line: e.line,
        column: e.column,
        start: e.span.start,
        end: e.span.end,
        snippet: e.snippet.clone(),
        caret: e.caret.clone(),
        expected: e.expected.clone(),
        suggestion: e.suggestion.clone(),
        valid: e.valid.clone(),
    }
}

/// Checks an audience expression: bound against the index when tags are built (unknown
/// tags and codes are errors), else parsed only.
// The error is the field error the API returns as is; it is built once per invalid request.
#[allow(clippy::result_large_err)]
fn check_expression(
    index: Option<&zhiying_audience::AudienceIndex>,
    name: &str,
    expr: &str,
) -> Result<Option<zhiying_audience::RoaringBitmap>, FieldError> {
    let err = |e: zhiying_audience::ExprError| FieldError {
        field: name.to_string(),
        message: format!("error at {}:{}: {}", e.line, e.column, e.message),
        position: Some(position_of(&e)),
    };
    match index {
        Some(ix) => ix.members(expr).map(Some).map_err(err),
        None => zhiying_audience::parse(expr).map(|_| None).map_err(err),
    }
}

/// The serde message's field name (`missing field `x``, `unknown field `x``).
fn serde_field(m: &str) -> String {
    for pat in ["missing field `", "unknown field `"] {
        if let Some(i) = m.find(pat) {
            let rest = &m[i + pat.len()..];
            if let Some(end) = rest.find('`') {
                return rest[..end].to_string();
            }
        }
    }
    "offer".to_string()
}

/// Parses and checks an offer body; every problem is reported, each naming its field.
async fn validate_offer(
    state: &AppState,
    path_id: Option<&str>,
    body: &serde_json::Value,
) -> Result<zhiying_decision::Offer, Vec<FieldError>> {
    let Some(obj) = body.as_object() else {
        return Err(vec![field(
            "offer",
            "must be a JSON object with id, product_id, name_zh, name_en, category, risk_level, value_fen, cost_fen, valid_from and treatments",
        )]);
    };
    let missing: Vec<FieldError> = OFFER_REQUIRED
        .iter()
        .filter(|k| obj.get(**k).is_none_or(serde_json::Value::is_null))
        .map(|k| field(*k, "is required"))
        .collect();
    if !missing.is_empty() {
        return Err(missing);
    }
    let offer: zhiying_decision::Offer = match serde_json::from_value(body.clone()) {
        Ok(o) => o,
        Err(e) => {
            let m = e.to_string();
            let mut name = serde_field(&m);
            if name == "offer" {
                // Name the field whose value failed: try each field alone.
                for key in [
                    "risk_level",
                    "valid_from",
                    "valid_to",
                    "treatments",
                    "status",
                ] {
                    if let Some(v) = obj.get(key) {
                        let bad = match key {
                            "risk_level" => v.as_str().is_none_or(|s| {
                                s.parse::<zhiying_core::domain::ProductRiskLevel>().is_err()
                            }),
                            "valid_from" | "valid_to" => {
                                !v.is_null()
                                    && serde_json::from_value::<NaiveDate>(v.clone()).is_err()
                            }
                            "treatments" => serde_json::from_value::<
                                Vec<zhiying_decision::Treatment>,
                            >(v.clone())
                            .is_err(),
                            _ => serde_json::from_value::<zhiying_decision::OfferStatus>(v.clone())
                                .is_err(),
                        };
                        if bad {
                            name = key.to_string();
                            break;
                        }
                    }
                }
            }
            let hint = match name.as_str() {
                "risk_level" => " (use R1, R2, R3, R4 or R5)",
                "valid_from" | "valid_to" => " (use YYYY-MM-DD)",
                "treatments" => {
                    " (a list of {channel, template_zh, template_en}; channels: app_push, sms, email, wechat, call_centre, branch)"
                }
                _ => "",
            };
            return Err(vec![field(name, format!("{m}{hint}"))]);
        }
    };
    let mut errs: Vec<FieldError> = Vec::new();
    if let Some(id) = path_id
        && offer.id != id
    {
        errs.push(field(
            "id",
            format!(
                "is '{}' but the URL names offer '{id}'; an offer's id cannot change",
                offer.id
            ),
        ));
    }
    errs.extend(
        offer
            .validate()
            .into_iter()
            .filter(|e| e.field != "eligibility")
            .map(|e| field(e.field, e.message)),
    );
    if !offer.eligibility.trim().is_empty() {
        let index = state.audiences.index().await.ok().map(|(ix, _)| ix);
        if let Err(e) = check_expression(index.as_deref(), "eligibility", &offer.eligibility) {
            errs.push(e);
        }
    }
    if errs.is_empty() {
        Ok(offer)
    } else {
        Err(errs)
    }
}

const OFFER_HINT: &str = "Fix the named fields. Risk levels are R1–R5, dates YYYY-MM-DD, money in 分, templates may use {name_masked} {product_name} {offer_name} {rate} {valid_to} {branch_name}, and eligibility is an audience expression (docs/audiences.md).";

/// Validates and stores a new version (or the first one) of an offer, then tells the
/// decision engine its catalogue changed.
async fn write_offer(
    state: &AppState,
    me: &Principal,
    path_id: Option<&str>,
    req: OfferWrite,
) -> Result<StoredOffer, Failure> {
    let mut offer = validate_offer(state, path_id, &req.offer)
        .await
        .map_err(|fields| Failure::Fields {
            code: "invalid_offer",
            hint: OFFER_HINT,
            fields,
        })?;
    let expected = match path_id {
        None => 0,
        Some(_) => req.expected_version.ok_or_else(|| Failure::Fields {
            code: "invalid_offer",
            hint: OFFER_HINT,
            fields: vec![field(
                "expected_version",
                "is required to edit an offer: send the version you read (GET /v1/offers/{id})",
            )],
        })?,
    };
    if path_id.is_none()
        && state
            .store
            .offer(&offer.id)
            .await
            .map_err(store_error)?
            .is_some()
    {
        return Err(Failure::Api(ApiError::new(
            StatusCode::CONFLICT,
            "offer_exists",
            format!("offer '{}' already exists", offer.id),
            "Edit it with PUT /v1/offers/{id} (sending expected_version), or choose another id.",
        )));
    }
    offer.version = u32::try_from(expected + 1).unwrap_or(u32::MAX);
    offer.edited_by = Some(me.username.clone());
    offer.edited_at = Some(Utc::now());
    let body =
        serde_json::to_value(&offer).map_err(|e| ApiError::internal("serialising the offer", e))?;
    let note = req.note.trim();
    let stored = state
        .store
        .put_offer(&offer.id, expected, &body, &me.username, note)
        .await
        .map_err(store_error)?;
    state.decisions.invalidate_catalog();
    audit_best_effort(
        state.store.as_ref(),
        &me.username,
        if expected == 0 {
            "offer.create"
        } else {
            "offer.update"
        },
        &format!("offer:{}", stored.offer_id),
        serde_json::json!({"version": stored.version, "note": note, "risk_level": body["risk_level"]}),
    )
    .await;
    Ok(stored)
}

async fn load_offer(state: &AppState, id: &str) -> Result<StoredOffer, ApiError> {
    state
        .store
        .offer(id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            ApiError::not_found(
                "offer_not_found",
                format!("no offer has id '{id}'"),
                "GET /v1/offers lists the offers and their ids.",
            )
        })
}

/// The offer catalogue at current versions.
#[utoipa::path(get, path = "/v1/offers", tag = "campaigns", params(ListOffersQuery),
    responses(
        (status = 200, description = "Offers, by id", body = [OfferOut]),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 403, description = "No campaign.read permission", body = ErrorBody),
    ))]
pub async fn list_offers(
    State(state): State<AppState>,
    Query(q): Query<ListOffersQuery>,
) -> Result<Json<Vec<OfferOut>>, ApiError> {
    let all = q.include_retired.unwrap_or(false);
    let list = state.store.offers(all).await.map_err(store_error)?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

/// Creates an offer (version 1).
#[utoipa::path(post, path = "/v1/offers", tag = "campaigns", request_body = OfferWrite,
    responses(
        (status = 201, description = "Created", body = OfferOut),
        (status = 400, description = "Invalid fields, each named (eligibility errors with their position)", body = FieldErrorBody),
        (status = 403, description = "No offer.write permission", body = ErrorBody),
        (status = 409, description = "The id is taken", body = ErrorBody),
    ))]
pub async fn create_offer(
    State(state): State<AppState>,
    me: Principal,
    body: Result<Json<OfferWrite>, JsonRejection>,
) -> Result<(StatusCode, Json<OfferOut>), Failure> {
    let req = json_body(body, "offer write ({offer, note})")?;
    let stored = write_offer(&state, &me, None, req).await?;
    Ok((StatusCode::CREATED, Json(stored.into())))
}

/// One offer at its current version.
#[utoipa::path(get, path = "/v1/offers/{id}", tag = "campaigns",
    params(("id" = String, Path, description = "Offer id")),
    responses(
        (status = 200, description = "The offer", body = OfferOut),
        (status = 404, description = "No such offer", body = ErrorBody),
    ))]
pub async fn get_offer(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<OfferOut>, ApiError> {
    let id = path_id(id)?;
    Ok(Json(load_offer(&state, &id).await?.into()))
}

/// Edits an offer: a new version; the previous ones are kept. The next decision uses it.
#[utoipa::path(put, path = "/v1/offers/{id}", tag = "campaigns", request_body = OfferWrite,
    params(("id" = String, Path, description = "Offer id")),
    responses(
        (status = 200, description = "The new version", body = OfferOut),
        (status = 400, description = "Invalid fields, each named", body = FieldErrorBody),
        (status = 404, description = "No such offer", body = ErrorBody),
        (status = 409, description = "expected_version is stale", body = ErrorBody),
    ))]
pub async fn update_offer(
    State(state): State<AppState>,
    me: Principal,
    id: Result<Path<String>, PathRejection>,
    body: Result<Json<OfferWrite>, JsonRejection>,
) -> Result<Json<OfferOut>, Failure> {
    let id = path_id(id)?;
    let req = json_body(body, "offer write ({offer, note, expected_version})")?;
    load_offer(&state, &id).await?;
    let stored = write_offer(&state, &me, Some(&id), req).await?;
    Ok(Json(stored.into()))
}

/// Retires an offer: decisions and new campaigns stop using it; its versions are kept.
#[utoipa::path(post, path = "/v1/offers/{id}/retire", tag = "campaigns", request_body = RetireRequest,
    params(("id" = String, Path, description = "Offer id")),
    responses(
        (status = 200, description = "Retired", body = OfferOut),
        (status = 404, description = "No such offer", body = ErrorBody),
    ))]
pub async fn retire_offer(
    State(state): State<AppState>,
    me: Principal,
    id: Result<Path<String>, PathRejection>,
    body: Option<Json<RetireRequest>>,
) -> Result<Json<OfferOut>, ApiError> {
    let id = path_id(id)?;
    let reason = body.map(|Json(b)| b.reason).unwrap_or_default();
    let o = retire(&state, &me, &id, reason.trim()).await?;
    Ok(Json(o.into()))
}

async fn retire(
    state: &AppState,
    me: &Principal,
    id: &str,
    reason: &str,
) -> Result<StoredOffer, ApiError> {
    let o = state
        .store
        .set_offer_status(id, OfferStatus::Retired)
        .await
        .map_err(store_error)?;
    state.decisions.invalidate_catalog();
    audit_best_effort(
        state.store.as_ref(),
        &me.username,
        "offer.retire",
        &format!("offer:{id}"),
        serde_json::json!({"version": o.version, "reason": reason}),
    )
    .await;
    Ok(o)
}

/// Every version of an offer, oldest first.
#[utoipa::path(get, path = "/v1/offers/{id}/versions", tag = "campaigns",
    params(("id" = String, Path, description = "Offer id")),
    responses(
        (status = 200, description = "Versions", body = [OfferVersionOut]),
        (status = 404, description = "No such offer", body = ErrorBody),
    ))]
pub async fn offer_versions(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Vec<OfferVersionOut>>, ApiError> {
    let id = path_id(id)?;
    let list = state.store.offer_history(&id).await.map_err(store_error)?;
    if list.is_empty() {
        load_offer(&state, &id).await?;
    }
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

/// One version of an offer (what a campaign or a decision referred to).
#[utoipa::path(get, path = "/v1/offers/{id}/versions/{version}", tag = "campaigns",
    params(("id" = String, Path, description = "Offer id"), ("version" = u64, Path, description = "Version, from 1")),
    responses(
        (status = 200, description = "The version", body = OfferVersionOut),
        (status = 404, description = "No such offer or version", body = ErrorBody),
    ))]
pub async fn offer_version(
    State(state): State<AppState>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<OfferVersionOut>, ApiError> {
    let Path((id, version)) = p.map_err(crate::api::path_error)?;
    let version: u64 = version.parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_version",
            format!("'{version}' is not a version number"),
            "Versions are whole numbers from 1; GET /v1/offers/{id}/versions lists them.",
        )
    })?;
    state
        .store
        .offer_version(&id, version)
        .await
        .map_err(store_error)?
        .map(|v| Json(v.into()))
        .ok_or_else(|| {
            ApiError::not_found(
                "offer_version_not_found",
                format!("offer '{id}' has no version {version}"),
                "GET /v1/offers/{id}/versions lists the versions.",
            )
        })
}

// ---------------------------------------------------------------------------------------
// Campaigns
// ---------------------------------------------------------------------------------------

/// When a batch campaign runs: local (Asia/Shanghai) days, inclusive.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Schedule {
    #[schema(value_type = String, example = "2026-12-01")]
    pub start: NaiveDate,
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "2026-12-31")]
    pub end: Option<NaiveDate>,
}

/// A campaign as a maker writes it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CampaignIn {
    pub name: String,
    /// `batch` (default) or `triggered`.
    #[serde(default)]
    pub kind: Option<String>,
    /// `audience:<id>` of a saved audience, or an audience expression.
    #[schema(example = "aum_tier = \"high\"")]
    pub audience: String,
    /// Offer ids (active offers of the catalogue), at least one.
    pub offers: Vec<String>,
    /// app_push, sms, email, wechat, call_centre, branch; at least one.
    pub channels: Vec<String>,
    pub schedule: Schedule,
    /// Budget in 分.
    #[serde(default)]
    pub budget_fen: i64,
    /// Share of the audience held out for measurement, in [0, 1) (0.1 = 10%).
    #[serde(default)]
    pub holdout_share: f64,
    /// Anything else the designer wants kept (caps, notes…).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
}

/// A stored campaign.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CampaignOut {
    pub campaign_id: String,
    pub name: String,
    pub kind: String,
    pub audience: String,
    pub offers: Vec<String>,
    pub channels: Vec<String>,
    #[schema(value_type = Object)]
    pub schedule: serde_json::Value,
    pub budget_fen: i64,
    pub holdout_share: f64,
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
    /// draft, submitted, approved, rejected, running, paused, completed or cancelled.
    pub status: String,
    /// The statuses it may move to next.
    pub next: Vec<String>,
    pub created_by: String,
    pub submitted_by: Option<String>,
    pub approved_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Campaign> for CampaignOut {
    fn from(c: &Campaign) -> Self {
        CampaignOut {
            campaign_id: c.campaign_id.clone(),
            name: c.draft.name.clone(),
            kind: c.draft.kind.to_string(),
            audience: c.draft.audience.clone(),
            offers: c.draft.offers.clone(),
            channels: c.draft.channels.clone(),
            schedule: c.draft.schedule.clone(),
            budget_fen: c.draft.budget_fen,
            holdout_share: c.draft.holdout_share,
            spec: c.draft.spec.clone(),
            status: c.status.to_string(),
            next: c.status.next().iter().map(|s| s.to_string()).collect(),
            created_by: c.created_by.clone(),
            submitted_by: c.submitted_by.clone(),
            approved_by: c.approved_by.clone(),
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
        }
    }
}

/// One recorded move.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransitionOut {
    pub from: Option<String>,
    pub to: String,
    pub actor: String,
    pub ts: String,
    pub note: String,
    /// What the actor saw (for approvals: audience size, expected contacts, budget, content).
    #[schema(value_type = Object)]
    pub snapshot: serde_json::Value,
}

impl From<CampaignTransition> for TransitionOut {
    fn from(t: CampaignTransition) -> Self {
        TransitionOut {
            from: t.from.map(|s| s.to_string()),
            to: t.to.to_string(),
            actor: t.actor,
            ts: rfc3339(t.ts),
            note: t.note,
            snapshot: t.snapshot,
        }
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListCampaignsQuery {
    /// Only campaigns in this status.
    pub status: Option<String>,
}

const CAMPAIGN_HINT: &str = "Fix the named fields: audience is audience:<id> or an expression, offers are active offer ids, channels are app_push, sms, email, wechat, call_centre or branch, schedule is {start, end} as YYYY-MM-DD, holdout_share is in [0, 1).";

/// The expression a campaign's audience stands for (a saved audience's definition).
async fn audience_expression(state: &AppState, audience: &str) -> Result<String, FieldError> {
    let audience = audience.trim();
    if let Some(id) = audience.strip_prefix("audience:") {
        let id = id.trim();
        return match state.store.audience(id).await {
            Ok(Some(a)) => Ok(a.definition),
            Ok(None) => Err(field(
                "audience",
                format!("no saved audience has id '{id}'; GET /v1/audiences lists them"),
            )),
            Err(e) => Err(field(
                "audience",
                format!("cannot read saved audiences: {e}"),
            )),
        };
    }
    if audience.is_empty() {
        return Err(field(
            "audience",
            "is required: audience:<id> of a saved audience, or an expression",
        ));
    }
    Ok(audience.to_string())
}

/// Checks a campaign against the catalogue, the channels and the audience index, and turns
/// it into the store's draft.
async fn validate_campaign(state: &AppState, c: CampaignIn) -> Result<CampaignDraft, Failure> {
    let mut errs = Vec::new();
    let kind = match c.kind.as_deref().unwrap_or("batch").parse::<CampaignKind>() {
        Ok(k) => k,
        Err(e) => {
            errs.push(field("kind", e.to_string()));
            CampaignKind::Batch
        }
    };
    if c.name.trim().is_empty() || c.name.trim().chars().count() > 200 {
        errs.push(field("name", "must be 1 to 200 characters"));
    }
    let mut channels: Vec<Channel> = Vec::new();
    for ch in &c.channels {
        match ch.parse::<Channel>() {
            Ok(x) if channels.contains(&x) => {
                errs.push(field("channels", format!("'{ch}' is listed twice")))
            }
            Ok(x) => channels.push(x),
            Err(e) => errs.push(field("channels", e.to_string())),
        }
    }
    if c.channels.is_empty() {
        errs.push(field(
            "channels",
            "choose at least one of app_push, sms, email, wechat, call_centre, branch",
        ));
    }
    if c.offers.is_empty() {
        errs.push(field("offers", "choose at least one offer"));
    }
    for id in &c.offers {
        match state.store.offer(id).await {
            Ok(Some(o)) if o.status == OfferStatus::Retired => errs.push(field(
                "offers",
                format!("offer '{id}' is retired; choose an active offer"),
            )),
            Ok(Some(o)) => {
                if let Ok(offer) = serde_json::from_value::<zhiying_decision::Offer>(o.body)
                    && !channels.is_empty()
                    && !channels.iter().any(|ch| offer.treatment(*ch).is_some())
                {
                    errs.push(field(
                        "offers",
                        format!(
                            "offer '{id}' has no treatment on any chosen channel ({}); add one to the offer or choose its channels",
                            channels.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
            }
            Ok(None) => errs.push(field(
                "offers",
                format!("no offer has id '{id}'; GET /v1/offers lists them"),
            )),
            Err(e) => return Err(Failure::Api(store_error(e))),
        }
    }
    if let Some(end) = c.schedule.end
        && end < c.schedule.start
    {
        errs.push(field(
            "schedule.end",
            format!(
                "{end} is before the start {}; set it on or after that day",
                c.schedule.start
            ),
        ));
    }
    if c.budget_fen < 0 {
        errs.push(field(
            "budget_fen",
            format!("is {}; must be ≥ 0 (分)", c.budget_fen),
        ));
    }
    if !(c.holdout_share.is_finite() && (0.0..1.0).contains(&c.holdout_share)) {
        errs.push(field(
            "holdout_share",
            format!(
                "is {}; must be at least 0 and below 1 (0.1 holds out 10%)",
                c.holdout_share
            ),
        ));
    }
    match audience_expression(state, &c.audience).await {
        Ok(expr) => {
            let index = state.audiences.index().await.ok().map(|(ix, _)| ix);
            if let Err(e) = check_expression(index.as_deref(), "audience", &expr) {
                errs.push(e);
            }
        }
        Err(e) => errs.push(e),
    }
    if !errs.is_empty() {
        return Err(Failure::Fields {
            code: "invalid_campaign",
            hint: CAMPAIGN_HINT,
            fields: errs,
        });
    }
    Ok(CampaignDraft {
        name: c.name.trim().to_string(),
        kind,
        audience: c.audience.trim().to_string(),
        offers: c.offers,
        channels: channels.iter().map(|c| c.as_str().to_string()).collect(),
        schedule: serde_json::to_value(&c.schedule).unwrap_or_default(),
        budget_fen: c.budget_fen,
        holdout_share: c.holdout_share,
        spec: if c.spec.is_null() {
            serde_json::json!({})
        } else {
            c.spec
        },
    })
}

async fn load_campaign(state: &AppState, id: &str) -> Result<Campaign, ApiError> {
    state
        .store
        .campaign(id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| {
            ApiError::not_found(
                "campaign_not_found",
                format!("no campaign has id '{id}'"),
                "GET /v1/campaigns lists the campaigns and their ids.",
            )
        })
}

/// Campaigns, most recently changed first.
#[utoipa::path(get, path = "/v1/campaigns", tag = "campaigns", params(ListCampaignsQuery),
    responses(
        (status = 200, description = "Campaigns", body = [CampaignOut]),
        (status = 400, description = "Unknown status", body = ErrorBody),
    ))]
pub async fn list_campaigns(
    State(state): State<AppState>,
    Query(q): Query<ListCampaignsQuery>,
) -> Result<Json<Vec<CampaignOut>>, ApiError> {
    let status = match q.status {
        Some(s) if !s.trim().is_empty() => Some(s.parse::<CampaignStatus>().map_err(|e| {
            ApiError::bad_request(
                "invalid_status",
                e.to_string(),
                "Use draft, submitted, approved, rejected, running, paused, completed or cancelled.",
            )
        })?),
        _ => None,
    };
    let list = state.store.campaigns(status).await.map_err(store_error)?;
    Ok(Json(list.iter().map(Into::into).collect()))
}

/// Creates a campaign as a draft (the caller is its maker).
#[utoipa::path(post, path = "/v1/campaigns", tag = "campaigns", request_body = CampaignIn,
    responses(
        (status = 201, description = "Created as draft", body = CampaignOut),
        (status = 400, description = "Invalid fields, each named", body = FieldErrorBody),
        (status = 403, description = "No campaign.write permission", body = ErrorBody),
    ))]
pub async fn create_campaign(
    State(state): State<AppState>,
    me: Principal,
    body: Result<Json<CampaignIn>, JsonRejection>,
) -> Result<(StatusCode, Json<CampaignOut>), Failure> {
    let req = json_body(body, "campaign")?;
    let c = create(&state, &me, req).await?;
    Ok((StatusCode::CREATED, Json((&c).into())))
}

async fn create(state: &AppState, me: &Principal, req: CampaignIn) -> Result<Campaign, Failure> {
    let draft = validate_campaign(state, req).await?;
    let c = state
        .store
        .create_campaign(&draft, &me.username)
        .await
        .map_err(store_error)?;
    audit_best_effort(
        state.store.as_ref(),
        &me.username,
        "campaign.create",
        &format!("campaign:{}", c.campaign_id),
        serde_json::json!({"name": c.draft.name, "offers": c.draft.offers, "channels": c.draft.channels,
            "budget_fen": c.draft.budget_fen, "holdout_share": c.draft.holdout_share}),
    )
    .await;
    Ok(c)
}

/// One campaign.
#[utoipa::path(get, path = "/v1/campaigns/{id}", tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id, e.g. cmp-1a2b3c4d5e6f")),
    responses(
        (status = 200, description = "The campaign", body = CampaignOut),
        (status = 404, description = "No such campaign", body = ErrorBody),
    ))]
pub async fn get_campaign(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<CampaignOut>, ApiError> {
    let id = path_id(id)?;
    Ok(Json((&load_campaign(&state, &id).await?).into()))
}

/// Edits a draft campaign.
#[utoipa::path(put, path = "/v1/campaigns/{id}", tag = "campaigns", request_body = CampaignIn,
    params(("id" = String, Path, description = "Campaign id")),
    responses(
        (status = 200, description = "Edited", body = CampaignOut),
        (status = 400, description = "Invalid fields", body = FieldErrorBody),
        (status = 404, description = "No such campaign", body = ErrorBody),
        (status = 409, description = "Not a draft", body = ErrorBody),
    ))]
pub async fn update_campaign(
    State(state): State<AppState>,
    me: Principal,
    id: Result<Path<String>, PathRejection>,
    body: Result<Json<CampaignIn>, JsonRejection>,
) -> Result<Json<CampaignOut>, Failure> {
    let id = path_id(id)?;
    load_campaign(&state, &id).await?;
    let req = json_body(body, "campaign")?;
    let draft = validate_campaign(&state, req).await?;
    let c = state
        .store
        .update_campaign(&id, &draft)
        .await
        .map_err(store_error)?;
    audit_best_effort(
        state.store.as_ref(),
        &me.username,
        "campaign.update",
        &format!("campaign:{id}"),
        serde_json::json!({"name": c.draft.name, "budget_fen": c.draft.budget_fen}),
    )
    .await;
    Ok(Json((&c).into()))
}

/// Every recorded move of a campaign, creation first.
#[utoipa::path(get, path = "/v1/campaigns/{id}/transitions", tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id")),
    responses(
        (status = 200, description = "Moves", body = [TransitionOut]),
        (status = 404, description = "No such campaign", body = ErrorBody),
    ))]
pub async fn campaign_transitions(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Vec<TransitionOut>>, ApiError> {
    let id = path_id(id)?;
    load_campaign(&state, &id).await?;
    let list = state
        .store
        .campaign_transitions(&id)
        .await
        .map_err(store_error)?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

// ---------------------------------------------------------------------------------------
// Review: what an approver sees
// ---------------------------------------------------------------------------------------

/// A piece of a checked text: highlighted when a violation covers it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Segment {
    pub text: String,
    /// Rule ids of the violations covering this piece (empty: clean text).
    pub rules: Vec<String>,
}

/// One rendered text of one treatment, checked.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ContentItem {
    pub offer_id: String,
    pub offer_version: u64,
    pub channel: String,
    /// `zh` or `en`.
    pub lang: String,
    /// `title` or `text`.
    pub part: String,
    /// Rendered with sample personalisation (a masked name, the branch).
    pub text: String,
    /// The copy checker's findings, with character spans into `text`.
    #[schema(value_type = Vec<Object>)]
    pub violations: Vec<zhiying_compliance::Violation>,
    /// `text` cut at the violations' spans, for highlighting.
    pub segments: Vec<Segment>,
}

/// What an approver sees before deciding.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CampaignReview {
    pub campaign: CampaignOut,
    /// The expression the audience stands for.
    pub audience_expression: String,
    /// Customers in the audience now (`None` while no tags are built).
    pub audience_size: Option<u64>,
    /// Why the size or the consent adjustment is missing, if it is.
    pub notes: Vec<String>,
    /// Customers held out for measurement: audience × holdout share.
    pub holdout: u64,
    /// Per channel: audience customers with marketing consent on it and not on the
    /// do-not-contact list (the whole audience when consents could not be read).
    pub reachable: BTreeMap<String, u64>,
    /// Per channel: reachable × (1 − holdout) ÷ number of channels.
    pub expected_contacts: BTreeMap<String, u64>,
    pub consent_applied: bool,
    pub budget_fen: i64,
    /// Σ expected contacts × the mean contact cost of the offers treated on the channel.
    pub estimated_cost_fen: i64,
    pub content: Vec<ContentItem>,
    /// Violations over all content; any means approval needs an override with a reason.
    pub violation_count: usize,
    /// Some violation is high or critical.
    pub blocking: bool,
}

/// Cuts `text` at the violations' character spans.
fn segments(text: &str, violations: &[zhiying_compliance::Violation]) -> Vec<Segment> {
    let chars: Vec<char> = text.chars().collect();
    let mut cuts: Vec<usize> = vec![0, chars.len()];
    for v in violations {
        if v.char_end > v.char_start {
            cuts.push(v.char_start.min(chars.len()));
            cuts.push(v.char_end.min(chars.len()));
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut out: Vec<Segment> = Vec::new();
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if a == b {
            continue;
        }
        let rules: Vec<String> = violations
            .iter()
            .filter(|v| v.char_start <= a && v.char_end >= b && v.char_end > v.char_start)
            .map(|v| v.rule_id.clone())
            .collect();
        let piece: String = chars[a..b].iter().collect();
        match out.last_mut() {
            Some(last) if last.rules == rules => last.text.push_str(&piece),
            _ => out.push(Segment { text: piece, rules }),
        }
    }
    out
}

/// Reads the audience, consents, offers and copy to build what an approver must see.
async fn review(state: &AppState, c: &Campaign) -> Result<CampaignReview, ApiError> {
    let mut notes = Vec::new();
    let channels: Vec<Channel> = c
        .draft
        .channels
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    // Content: every offer's treatment on every chosen channel, rendered and checked.
    let mut content = Vec::new();
    let mut cost_by_channel: BTreeMap<&'static str, Vec<i64>> = BTreeMap::new();
    let sample = BTreeMap::from([
        ("name_masked".to_string(), "张*".to_string()),
        ("branch_name".to_string(), "上海分行营业部".to_string()),
    ]);
    let sample_en = BTreeMap::from([
        ("name_masked".to_string(), "Mr Z*".to_string()),
        (
            "branch_name".to_string(),
            "Shanghai main branch".to_string(),
        ),
    ]);
    for id in &c.draft.offers {
        let Some(stored) = state.store.offer(id).await.map_err(store_error)? else {
            notes.push(format!("offer '{id}' no longer exists"));
            continue;
        };
        let offer: zhiying_decision::Offer = match serde_json::from_value(stored.body.clone()) {
            Ok(o) => o,
            Err(e) => {
                notes.push(format!("offer '{id}' cannot be read: {e}"));
                continue;
            }
        };
        if stored.status == OfferStatus::Retired {
            notes.push(format!(
                "offer '{id}' has been retired since the campaign was written"
            ));
        }
        for ch in &channels {
            let Some(t) = offer.treatment(*ch) else {
                continue;
            };
            cost_by_channel
                .entry(ch.as_str())
                .or_default()
                .push(offer.cost_fen);
            let parts = [
                ("zh", "title", t.title_zh.as_deref(), CopyLang::Zh),
                ("zh", "text", Some(t.template_zh.as_str()), CopyLang::Zh),
                ("en", "title", t.title_en.as_deref(), CopyLang::En),
                ("en", "text", Some(t.template_en.as_str()), CopyLang::En),
            ];
            for (lang, part, template, l) in parts {
                let Some(template) = template.filter(|s| !s.trim().is_empty()) else {
                    continue;
                };
                let who = if l == CopyLang::Zh {
                    &sample
                } else {
                    &sample_en
                };
                let text = render(template, &offer, l, who);
                let report = zhiying_compliance::check(&text);
                content.push(ContentItem {
                    offer_id: id.clone(),
                    offer_version: stored.version,
                    channel: ch.as_str().to_string(),
                    lang: lang.to_string(),
                    part: part.to_string(),
                    segments: segments(&text, &report.violations),
                    violations: report.violations,
                    text,
                });
            }
        }
    }
    // Audience size and reach per channel.
    let expr = match audience_expression(state, &c.draft.audience).await {
        Ok(e) => e,
        Err(e) => {
            notes.push(e.message);
            String::new()
        }
    };
    let mut audience_size = None;
    let mut reachable: BTreeMap<String, u64> = BTreeMap::new();
    let mut consent_applied = false;
    match state.audiences.index().await {
        Ok((ix, _)) if !expr.is_empty() => match ix.members(&expr) {
            Ok(m) => {
                audience_size = Some(m.len());
                let consents = if m.len() <= 2_000_000 {
                    match state.decisions.consents(state).await {
                        Ok(cv) => Some(cv),
                        Err(e) => {
                            notes.push(format!(
                                "consents not applied ({}): contacts are an upper bound",
                                e.message
                            ));
                            None
                        }
                    }
                } else {
                    notes.push(
                        "audience above 2,000,000: consents not applied, contacts are an upper bound"
                            .into(),
                    );
                    None
                };
                consent_applied = consents.is_some();
                let now = Utc::now();
                for ch in &channels {
                    let n = match &consents {
                        Some(cv) => m
                            .iter()
                            .filter_map(|i| ix.customer_id(i))
                            .filter(|cid| {
                                cv.check(cid, Purpose::Marketing, *ch, now)
                                    == ConsentAnswer::Granted
                            })
                            .count() as u64,
                        None => m.len(),
                    };
                    reachable.insert(ch.as_str().to_string(), n);
                }
            }
            Err(e) => notes.push(format!("the audience no longer evaluates: {e}")),
        },
        Ok(_) => {}
        Err(e) => notes.push(format!("audience size unknown: {}", e.message)),
    }
    let size = audience_size.unwrap_or(0);
    let keep = 1.0 - c.draft.holdout_share;
    let k = channels.len().max(1) as f64;
    let expected_contacts: BTreeMap<String, u64> = reachable
        .iter()
        .map(|(ch, n)| (ch.clone(), (*n as f64 * keep / k).round() as u64))
        .collect();
    let estimated_cost_fen = expected_contacts
        .iter()
        .map(|(ch, n)| {
            let costs = cost_by_channel
                .get(ch.as_str())
                .cloned()
                .unwrap_or_default();
            if costs.is_empty() {
                0
            } else {
                let mean = costs.iter().sum::<i64>() as f64 / costs.len() as f64;
                (mean * *n as f64).round() as i64
            }
        })
        .sum();
    let violation_count = content.iter().map(|i| i.violations.len()).sum();
    let blocking = content
        .iter()
        .flat_map(|i| &i.violations)
        .any(|v| v.severity.blocks());
    Ok(CampaignReview {
        campaign: c.into(),
        audience_expression: expr,
        audience_size,
        notes,
        holdout: (size as f64 * c.draft.holdout_share).round() as u64,
        reachable,
        expected_contacts,
        consent_applied,
        budget_fen: c.draft.budget_fen,
        estimated_cost_fen,
        content,
        violation_count,
        blocking,
    })
}

/// What an approver sees: audience size, expected contacts per channel, budget and the
/// content with the copy checker's findings.
#[utoipa::path(get, path = "/v1/campaigns/{id}/review", tag = "campaigns",
    params(("id" = String, Path, description = "Campaign id")),
    responses(
        (status = 200, description = "The review", body = CampaignReview),
        (status = 404, description = "No such campaign", body = ErrorBody),
    ))]
pub async fn review_campaign(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<CampaignReview>, ApiError> {
    let id = path_id(id)?;
    let c = load_campaign(&state, &id).await?;
    Ok(Json(review(&state, &c).await?))
}

// ---------------------------------------------------------------------------------------
// Transitions
// ---------------------------------------------------------------------------------------

/// A note for a move.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct MoveRequest {
    #[serde(default)]
    pub note: String,
}

/// An approval. With copy-check violations it needs `override: true` and a reason.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ApproveRequest {
    #[serde(default)]
    pub note: String,
    /// Approve despite copy-check violations (needs `reason`).
    #[serde(default, rename = "override")]
    pub override_violations: bool,
    /// Why the violations are acceptable (at least 10 characters); recorded in the
    /// transition and the audit log.
    #[serde(default)]
    pub reason: Option<String>,
}

/// The campaign after a move, and the launcher's report for a launch.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MoveResult {
    pub campaign: CampaignOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch: Option<LaunchSummary>,
}

/// Records a move in the store and the audit log.
async fn record_move(
    state: &AppState,
    me: &Principal,
    id: &str,
    to: CampaignStatus,
    note: &str,
    snapshot: serde_json::Value,
    audit_detail: serde_json::Value,
) -> Result<Campaign, ApiError> {
    let c = state
        .store
        .transition_campaign(id, to, &me.username, note, &snapshot)
        .await
        .map_err(store_error)?;
    audit_best_effort(
        state.store.as_ref(),
        &me.username,
        &format!("campaign.{to}"),
        &format!("campaign:{id}"),
        audit_detail,
    )
    .await;
    Ok(c)
}

/// Moves a campaign to `to` (anything but approval). Moving to `running` calls the launcher.
async fn move_to(
    state: &AppState,
    me: &Principal,
    id: &str,
    to: CampaignStatus,
    note: &str,
) -> Result<MoveResult, ApiError> {
    let c = load_campaign(state, id).await?;
    let note = note.trim();
    let moved = record_move(
        state,
        me,
        id,
        to,
        note,
        serde_json::Value::Null,
        serde_json::json!({"from": c.status.as_str(), "note": note}),
    )
    .await?;
    let mut launch = None;
    if to == CampaignStatus::Running
        && let Some(launcher) = &state.launcher
    {
        match launcher.launch(&moved).await {
            Ok(summary) => {
                audit_best_effort(
                    state.store.as_ref(),
                    &me.username,
                    "campaign.launch",
                    &format!("campaign:{id}"),
                    serde_json::to_value(&summary).unwrap_or_default(),
                )
                .await;
                launch = Some(summary);
            }
            Err(e) => {
                let why = format!("launch failed: {e}");
                tracing::error!(campaign = id, "{why}");
                record_move(
                    state,
                    me,
                    id,
                    CampaignStatus::Paused,
                    &why,
                    serde_json::Value::Null,
                    serde_json::json!({"from": "running", "error": e.to_string()}),
                )
                .await?;
                return Err(ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "launch_failed",
                    format!("campaign '{id}' could not be launched and was paused: {e}"),
                    "Fix the cause (the server log has details), then launch it again: a paused campaign may return to running.",
                ));
            }
        }
    }
    Ok(MoveResult {
        campaign: (&moved).into(),
        launch,
    })
}

/// Approves a submitted campaign after reviewing it, enforcing maker-checker and the copy
/// check (override with a reason).
async fn approve(
    state: &AppState,
    me: &Principal,
    id: &str,
    req: ApproveRequest,
) -> Result<MoveResult, ApiError> {
    let c = load_campaign(state, id).await?;
    if c.status != CampaignStatus::Submitted {
        return Err(store_error(StoreError::IllegalTransition {
            what: "campaign",
            key: id.to_string(),
            from: c.status.to_string(),
            to: "approved".into(),
            allowed: c
                .status
                .next()
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }));
    }
    if me.username == c.created_by || c.submitted_by.as_deref() == Some(me.username.as_str()) {
        let role = if me.username == c.created_by {
            "created"
        } else {
            "submitted"
        };
        return Err(self_approval(format!(
            "{} {role} campaign '{id}' and so cannot approve it (maker-checker): another user must approve",
            me.username
        )));
    }
    let r = review(state, &c).await?;
    let reason = req.reason.as_deref().map(str::trim).unwrap_or("");
    if r.violation_count > 0 {
        let rules: Vec<String> = {
            let mut v: Vec<String> = r
                .content
                .iter()
                .flat_map(|i| i.violations.iter().map(|v| v.rule_id.clone()))
                .collect();
            v.sort();
            v.dedup();
            v
        };
        if !req.override_violations {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "copy_violations",
                format!(
                    "the campaign's copy has {} violation(s) of the marketing-copy rules ({}); it cannot be approved as is",
                    r.violation_count,
                    rules.join(", ")
                ),
                "GET /v1/campaigns/{id}/review shows each violation with its span and a suggested fix. Reject it so the maker fixes the offers' treatments, or approve with {\"override\": true, \"reason\": \"…\"} (recorded in the audit log).",
            ));
        }
        if reason.chars().count() < 10 {
            return Err(ApiError::bad_request(
                "override_reason_required",
                "overriding copy-check violations needs a reason of at least 10 characters",
                "Say why the flagged copy is acceptable (e.g. the legal review reference); it is recorded with the approval and in the audit log.",
            ));
        }
    }
    let overridden = r.violation_count > 0;
    let note = if overridden {
        format!("{} [copy-check override: {reason}]", req.note.trim())
            .trim()
            .to_string()
    } else {
        req.note.trim().to_string()
    };
    let override_reason = overridden.then_some(reason);
    let items: Vec<serde_json::Value> = r
        .content
        .iter()
        .map(|i| {
            let rules: Vec<&str> = i.violations.iter().map(|v| v.rule_id.as_str()).collect();
            serde_json::json!({
                "offer_id": i.offer_id, "offer_version": i.offer_version, "channel": i.channel,
                "lang": i.lang, "part": i.part, "text": i.text, "violations": rules,
            })
        })
        .collect();
    let snapshot = ApprovalSnapshot {
        audience_size: r.audience_size.unwrap_or(0),
        expected_contacts: r.expected_contacts.clone(),
        budget_fen: r.budget_fen,
        content: serde_json::json!({
            "items": items,
            "violation_count": r.violation_count,
            "override": overridden,
            "override_reason": override_reason,
            "audience_expression": r.audience_expression,
            "audience_size_known": r.audience_size.is_some(),
            "holdout": r.holdout,
            "consent_applied": r.consent_applied,
            "estimated_cost_fen": r.estimated_cost_fen,
        }),
    };
    let snapshot = serde_json::to_value(&snapshot)
        .map_err(|e| ApiError::internal("recording the approval", e))?;
    let moved = record_move(
        state,
        me,
        id,
        CampaignStatus::Approved,
        &note,
        snapshot,
        serde_json::json!({
            "audience_size": r.audience_size, "expected_contacts": r.expected_contacts,
            "budget_fen": r.budget_fen, "violations": r.violation_count,
            "override": overridden, "override_reason": override_reason,
            "note": req.note.trim(),
        }),
    )
    .await?;
    Ok(MoveResult {
        campaign: (&moved).into(),
        launch: None,
    })
}

fn move_note(body: Option<Json<MoveRequest>>) -> String {
    body.map(|Json(b)| b.note).unwrap_or_default()
}

macro_rules! move_route {
    ($fn:ident, $path:literal, $to:expr, $doc:literal, $perm:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "campaigns", request_body = MoveRequest,
            params(("id" = String, Path, description = "Campaign id")),
            responses(
                (status = 200, description = "Moved", body = MoveResult),
                (status = 403, description = $perm, body = ErrorBody),
                (status = 404, description = "No such campaign", body = ErrorBody),
                (status = 409, description = "Not allowed from the campaign's status", body = ErrorBody),
            ))]
        pub async fn $fn(
            State(state): State<AppState>,
            me: Principal,
            id: Result<Path<String>, PathRejection>,
            body: Option<Json<MoveRequest>>,
        ) -> Result<Json<MoveResult>, ApiError> {
            let id = path_id(id)?;
            move_to(&state, &me, &id, $to, &move_note(body)).await.map(Json)
        }
    };
}

move_route!(
    submit_campaign,
    "/v1/campaigns/{id}/submit",
    CampaignStatus::Submitted,
    "Submits a draft for approval.",
    "No campaign.write permission"
);
move_route!(
    reject_campaign,
    "/v1/campaigns/{id}/reject",
    CampaignStatus::Rejected,
    "Rejects a submitted campaign (say why in `note`); the maker may reopen it as a draft.",
    "No campaign.approve permission"
);
move_route!(
    pause_campaign,
    "/v1/campaigns/{id}/pause",
    CampaignStatus::Paused,
    "Pauses a running campaign.",
    "No campaign.write permission"
);
move_route!(
    complete_campaign,
    "/v1/campaigns/{id}/complete",
    CampaignStatus::Completed,
    "Marks a running campaign completed.",
    "No campaign.write permission"
);
move_route!(
    cancel_campaign,
    "/v1/campaigns/{id}/cancel",
    CampaignStatus::Cancelled,
    "Cancels a campaign that has not completed.",
    "No campaign.write permission"
);
move_route!(
    reopen_campaign,
    "/v1/campaigns/{id}/reopen",
    CampaignStatus::Draft,
    "Returns a rejected campaign to draft for editing.",
    "No campaign.write permission"
);
move_route!(
    launch_campaign,
    "/v1/campaigns/{id}/launch",
    CampaignStatus::Running,
    "Starts an approved (or resumes a paused) campaign: records `running`, then calls the campaign launcher; if the launcher fails the campaign is paused and this answers 502.",
    "No campaign.write permission"
);

/// Approves a submitted campaign. The creator and the submitter cannot (403); copy-check
/// violations need `override: true` and a reason (409 otherwise). What the approver saw is
/// recorded with the move.
#[utoipa::path(post, path = "/v1/campaigns/{id}/approve", tag = "campaigns", request_body = ApproveRequest,
    params(("id" = String, Path, description = "Campaign id")),
    responses(
        (status = 200, description = "Approved", body = MoveResult),
        (status = 400, description = "Override without a reason", body = ErrorBody),
        (status = 403, description = "No campaign.approve permission, or the caller made or submitted it", body = ErrorBody),
        (status = 404, description = "No such campaign", body = ErrorBody),
        (status = 409, description = "Not submitted, or copy-check violations without override", body = ErrorBody),
    ))]
pub async fn approve_campaign(
    State(state): State<AppState>,
    me: Principal,
    id: Result<Path<String>, PathRejection>,
    body: Option<Json<ApproveRequest>>,
) -> Result<Json<MoveResult>, ApiError> {
    let id = path_id(id)?;
    let req = body.map(|Json(b)| b).unwrap_or_default();
    approve(&state, &me, &id, req).await.map(Json)
}

// ---------------------------------------------------------------------------------------
// Console
// ---------------------------------------------------------------------------------------

const CHANNELS: [Channel; 6] = Channel::ALL;

fn can(me: &Principal, p: Permission) -> bool {
    me.can(p)
}

#[derive(Debug, Default, Deserialize)]
struct OffersQuery {
    edit: Option<String>,
    saved: Option<String>,
}

/// Form values of the offer editor, keyed as the form names them.
fn offer_form_values(body: &serde_json::Value, version: u64) -> BTreeMap<String, String> {
    let mut f = BTreeMap::new();
    let s = |v: &serde_json::Value| match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    for k in [
        "id",
        "product_id",
        "name_zh",
        "name_en",
        "category",
        "risk_level",
        "eligibility",
        "valid_from",
        "valid_to",
        "rate_bp",
        "strategic_weight",
    ] {
        f.insert(k.to_string(), s(&body[k]));
    }
    let yuan = |fen: &serde_json::Value| {
        fen.as_i64()
            .map(|v| format!("{}.{:02}", v / 100, (v % 100).abs()))
            .unwrap_or_default()
    };
    f.insert("value_yuan".into(), yuan(&body["value_fen"]));
    f.insert("cost_yuan".into(), yuan(&body["cost_fen"]));
    if let Some(ts) = body["treatments"].as_array() {
        for t in ts {
            let ch = s(&t["channel"]);
            for part in ["title_zh", "title_en", "template_zh", "template_en"] {
                f.insert(format!("{ch}.{part}"), s(&t[part]));
            }
        }
    }
    f.insert("expected_version".into(), version.to_string());
    f
}

/// Yuan as typed ("12.5", "1,000") to 分.
fn parse_yuan(s: &str) -> Option<i64> {
    let t: String = s.trim().chars().filter(|c| *c != ',').collect();
    let (whole, frac) = t.split_once('.').unwrap_or((t.as_str(), ""));
    if frac.len() > 2 || whole.is_empty() && frac.is_empty() {
        return None;
    }
    let neg = whole.starts_with('-');
    let digits = whole.trim_start_matches('-');
    let w: i64 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    let f: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<2}").parse().ok()?
    };
    let v = w.checked_mul(100)?.checked_add(f)?;
    Some(if neg { -v } else { v })
}

/// The offer body a console form describes; unparseable numbers become field errors.
fn offer_from_form(f: &HashMap<String, String>) -> (serde_json::Value, Vec<FieldError>) {
    let get = |k: &str| f.get(k).map(|s| s.trim().to_string()).unwrap_or_default();
    let mut errs = Vec::new();
    let mut o = serde_json::Map::new();
    for k in [
        "id",
        "product_id",
        "name_zh",
        "name_en",
        "category",
        "risk_level",
        "valid_from",
    ] {
        o.insert(k.into(), serde_json::Value::String(get(k)));
    }
    o.insert("eligibility".into(), get("eligibility").into());
    for (form, key) in [("value_yuan", "value_fen"), ("cost_yuan", "cost_fen")] {
        match parse_yuan(&get(form)) {
            Some(v) => {
                o.insert(key.into(), v.into());
            }
            None => errs.push(field(
                key,
                format!("'{}' is not an amount in yuan (e.g. 12.50)", get(form)),
            )),
        }
    }
    let valid_to = get("valid_to");
    if !valid_to.is_empty() {
        o.insert("valid_to".into(), valid_to.into());
    }
    let rate = get("rate_bp");
    if !rate.is_empty() {
        match rate.parse::<i64>() {
            Ok(v) => {
                o.insert("rate_bp".into(), v.into());
            }
            Err(_) => errs.push(field(
                "rate_bp",
                format!("'{rate}' is not a whole number of basis points (175 = 1.75%)"),
            )),
        }
    }
    let weight = get("strategic_weight");
    if !weight.is_empty() {
        match weight.parse::<f64>() {
            Ok(v) => {
                o.insert("strategic_weight".into(), v.into());
            }
            Err(_) => errs.push(field(
                "strategic_weight",
                format!("'{weight}' is not a number (1 is neutral)"),
            )),
        }
    }
    let mut treatments = Vec::new();
    for ch in CHANNELS {
        let c = ch.as_str();
        let (zh, en) = (
            get(&format!("{c}.template_zh")),
            get(&format!("{c}.template_en")),
        );
        let (tzh, ten) = (get(&format!("{c}.title_zh")), get(&format!("{c}.title_en")));
        if zh.is_empty() && en.is_empty() && tzh.is_empty() && ten.is_empty() {
            continue;
        }
        let mut t = serde_json::json!({"channel": c, "template_zh": zh, "template_en": en});
        if !tzh.is_empty() {
            t["title_zh"] = tzh.into();
        }
        if !ten.is_empty() {
            t["title_en"] = ten.into();
        }
        treatments.push(t);
    }
    o.insert("treatments".into(), treatments.into());
    (serde_json::Value::Object(o), errs)
}

#[allow(clippy::too_many_arguments)]
async fn render_offers(
    state: &AppState,
    locale: &Locale,
    me: &Principal,
    status: StatusCode,
    form: BTreeMap<String, String>,
    editing: Option<String>,
    errors: Vec<FieldError>,
    saved: Option<String>,
) -> Response {
    let offers = match state.store.offers(true).await {
        Ok(v) => v,
        Err(e) => {
            return crate::console::error_page(state, locale, &store_error(e), Some(me));
        }
    };
    let rows: Vec<Value> = offers
        .iter()
        .map(|o| {
            let channels: Vec<String> = o.body["treatments"]
                .as_array()
                .map(|ts| {
                    ts.iter()
                        .filter_map(|t| t["channel"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            context! {
                o => Value::from_serialize(OfferOut::from(o.clone())),
                channels => channels,
                retired => o.status == OfferStatus::Retired,
            }
        })
        .collect();
    let history: Vec<OfferVersionOut> = match &editing {
        Some(id) => state
            .store
            .offer_history(id)
            .await
            .map(|v| v.into_iter().rev().map(Into::into).collect())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let field_errors: BTreeMap<String, Vec<String>> =
        errors.iter().fold(BTreeMap::new(), |mut m, e| {
            let key = e.field.replace("treatments[", "").replace("].", ".");
            m.entry(key).or_default().push(e.message.clone());
            m
        });
    let mut res = crate::console::render_page(
        state,
        locale,
        me,
        "offers.html",
        "campaigns",
        context! {
            sub => "offers",
            offers => rows,
            form => form,
            editing => editing,
            errors => Value::from_serialize(&errors),
            field_errors => field_errors,
            history => Value::from_serialize(&history),
            saved => saved,
            can_write => can(me, Permission::OfferWrite),
            categories => zhiying_core::schema::PRODUCT_CATEGORIES,
            risk_levels => ["R1", "R2", "R3", "R4", "R5"],
            channels => CHANNELS.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            fields => zhiying_decision::catalog::TEMPLATE_FIELDS,
        },
    );
    *res.status_mut() = status;
    res
}

async fn offers_page(
    State(state): State<AppState>,
    locale: Locale,
    me: Principal,
    Query(q): Query<OffersQuery>,
) -> Response {
    let (form, editing) = match q.edit.as_deref().filter(|s| !s.is_empty()) {
        Some(id) => match state.store.offer(id).await {
            Ok(Some(o)) => (offer_form_values(&o.body, o.version), Some(id.to_string())),
            Ok(None) => {
                let e = ApiError::not_found(
                    "offer_not_found",
                    format!("no offer has id '{id}'"),
                    "Pick an offer from the catalogue.",
                );
                return crate::console::error_page(&state, &locale, &e, Some(&me));
            }
            Err(e) => {
                return crate::console::error_page(&state, &locale, &store_error(e), Some(&me));
            }
        },
        None => {
            let mut f = BTreeMap::new();
            f.insert("valid_from".into(), Utc::now().date_naive().to_string());
            f.insert("risk_level".into(), "R1".into());
            f.insert("strategic_weight".into(), "1".into());
            f.insert("expected_version".into(), "0".into());
            (f, None)
        }
    };
    render_offers(
        &state,
        &locale,
        &me,
        StatusCode::OK,
        form,
        editing,
        Vec::new(),
        q.saved,
    )
    .await
}

async fn offers_form(
    State(state): State<AppState>,
    locale: Locale,
    me: Principal,
    form: Result<axum::Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let f = match form {
        Ok(axum::Form(f)) => f,
        Err(e) => {
            let e = ApiError::bad_request(
                "invalid_form",
                format!("the form could not be read: {}", e.body_text()),
                "Reload the page and submit the form again.",
            );
            return crate::console::error_page(&state, &locale, &e, Some(&me));
        }
    };
    let expected: u64 = f
        .get("expected_version")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let (body, mut errs) = offer_from_form(&f);
    let id = body["id"].as_str().unwrap_or("").to_string();
    let result = if errs.is_empty() {
        let req = OfferWrite {
            offer: body,
            note: f.get("note").cloned().unwrap_or_default(),
            expected_version: Some(expected),
        };
        let path = (expected > 0).then_some(id.as_str());
        write_offer(&state, &me, path, req).await
    } else {
        Err(Failure::Fields {
            code: "invalid_offer",
            hint: OFFER_HINT,
            fields: Vec::new(),
        })
    };
    match result {
        Ok(o) => Redirect::to(&format!(
            "/console/offers?saved={}",
            crate::console::encode_segment(&o.offer_id)
        ))
        .into_response(),
        Err(fail) => {
            let status = fail.status();
            errs.extend(fail.field_list());
            if errs.is_empty() {
                errs.push(field("offer", fail.message()));
            }
            let mut values: BTreeMap<String, String> = f.into_iter().collect();
            values.insert("expected_version".into(), expected.to_string());
            let editing = (expected > 0).then_some(id);
            render_offers(&state, &locale, &me, status, values, editing, errs, None).await
        }
    }
}

async fn offers_retire_form(
    State(state): State<AppState>,
    locale: Locale,
    me: Principal,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let id = match path_id(id) {
        Ok(id) => id,
        Err(e) => return crate::console::error_page(&state, &locale, &e, Some(&me)),
    };
    match retire(&state, &me, &id, "retired in the console").await {
        Ok(_) => Redirect::to("/console/offers").into_response(),
        Err(e) => crate::console::error_page(&state, &locale, &e, Some(&me)),
    }
}

#[derive(Debug, Default, Deserialize)]
struct CampaignsQuery {
    created: Option<String>,
}

async fn render_campaigns(
    state: &AppState,
    locale: &Locale,
    me: &Principal,
    status: StatusCode,
    form: HashMap<String, String>,
    errors: Vec<FieldError>,
    notice: Option<String>,
) -> Response {
    let (campaigns, offers) = match (
        state.store.campaigns(None).await,
        state.store.offers(false).await,
    ) {
        (Ok(c), Ok(o)) => (c, o),
        (Err(e), _) | (_, Err(e)) => {
            return crate::console::error_page(state, locale, &store_error(e), Some(me));
        }
    };
    let saved = state.store.audiences().await.unwrap_or_default();
    let rows: Vec<CampaignOut> = campaigns.iter().map(Into::into).collect();
    let offer_rows: Vec<Value> = offers
        .iter()
        .map(|o| {
            context! {
                id => &o.offer_id,
                name_zh => o.body["name_zh"].as_str().unwrap_or(""),
                name_en => o.body["name_en"].as_str().unwrap_or(""),
                risk_level => o.body["risk_level"].as_str().unwrap_or(""),
                version => o.version,
            }
        })
        .collect();
    let picked_offers: Vec<String> = form
        .get("offers")
        .map(|s| s.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let picked_channels: Vec<String> = form
        .get("channels")
        .map(|s| s.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let mut res = crate::console::render_page(
        state,
        locale,
        me,
        "campaigns.html",
        "campaigns",
        context! {
            sub => "campaigns",
            campaigns => Value::from_serialize(&rows),
            offers => offer_rows,
            audiences => saved.iter().map(|a| context! { id => &a.id, name => &a.name, count => a.last_count }).collect::<Vec<_>>(),
            channels => CHANNELS.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            form => form,
            picked_offers => picked_offers,
            picked_channels => picked_channels,
            errors => Value::from_serialize(&errors),
            notice => notice,
            can_write => can(me, Permission::CampaignWrite),
            today => Utc::now().date_naive().to_string(),
        },
    );
    *res.status_mut() = status;
    res
}

async fn campaigns_page(
    State(state): State<AppState>,
    locale: Locale,
    me: Principal,
    Query(q): Query<CampaignsQuery>,
) -> Response {
    let created = q.created;
    render_campaigns(
        &state,
        &locale,
        &me,
        StatusCode::OK,
        HashMap::new(),
        Vec::new(),
        created,
    )
    .await
}

/// The form's repeated fields (`offers`, `channels`) arrive as several pairs.
fn read_pairs(
    form: Result<axum::Form<Vec<(String, String)>>, FormRejection>,
) -> Result<HashMap<String, String>, ApiError> {
    let axum::Form(pairs) = form.map_err(|e| {
        ApiError::bad_request(
            "invalid_form",
            format!("the form could not be read: {}", e.body_text()),
            "Reload the page and submit the form again.",
        )
    })?;
    let mut out: HashMap<String, String> = HashMap::new();
    for (k, v) in pairs {
        if k == "offers" || k == "channels" {
            let e = out.entry(k).or_default();
            if !e.is_empty() {
                e.push(',');
            }
            e.push_str(v.trim());
        } else {
            out.insert(k, v);
        }
    }
    Ok(out)
}

async fn campaigns_form(
    State(state): State<AppState>,
    locale: Locale,
    me: Principal,
    form: Result<axum::Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let f = match read_pairs(form) {
        Ok(f) => f,
        Err(e) => return crate::console::error_page(&state, &locale, &e, Some(&me)),
    };
    let get = |k: &str| f.get(k).map(|s| s.trim().to_string()).unwrap_or_default();
    let mut errs = Vec::new();
    let audience = match get("audience_id").as_str() {
        "" => get("audience_expr"),
        id => format!("audience:{id}"),
    };
    let list = |k: &str| -> Vec<String> {
        get(k)
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let budget = match get("budget_yuan") {
        b if b.is_empty() => "0".to_string(),
        b => b,
    };
    let budget_fen = match parse_yuan(&budget) {
        Some(v) => v,
        None => {
            errs.push(field(
                "budget_fen",
                format!("'{}' is not an amount in yuan", get("budget_yuan")),
            ));
            0
        }
    };
    let holdout_share = match get("holdout_pct").parse::<f64>() {
        Ok(p) => p / 100.0,
        Err(_) if get("holdout_pct").is_empty() => 0.0,
        Err(_) => {
            errs.push(field(
                "holdout_share",
                format!("'{}' is not a percentage", get("holdout_pct")),
            ));
            0.0
        }
    };
    let start = match get("start").parse::<NaiveDate>() {
        Ok(d) => d,
        Err(_) => {
            errs.push(field("schedule.start", "choose a start day (YYYY-MM-DD)"));
            Utc::now().date_naive()
        }
    };
    let end = match get("end").as_str() {
        "" => None,
        s => match s.parse::<NaiveDate>() {
            Ok(d) => Some(d),
            Err(_) => {
                errs.push(field(
                    "schedule.end",
                    format!("'{s}' is not a day (YYYY-MM-DD)"),
                ));
                None
            }
        },
    };
    let req = CampaignIn {
        name: get("name"),
        kind: Some("batch".into()),
        audience,
        offers: list("offers"),
        channels: list("channels"),
        schedule: Schedule { start, end },
        budget_fen,
        holdout_share,
        spec: serde_json::json!({}),
    };
    let result = if errs.is_empty() {
        create(&state, &me, req).await
    } else {
        Err(Failure::Fields {
            code: "invalid_campaign",
            hint: CAMPAIGN_HINT,
            fields: Vec::new(),
        })
    };
    match result {
        Ok(c) => Redirect::to(&format!(
            "/console/campaigns?created={}",
            crate::console::encode_segment(&c.campaign_id)
        ))
        .into_response(),
        Err(fail) => {
            let status = fail.status();
            errs.extend(fail.field_list());
            if errs.is_empty() {
                errs.push(field("campaign", fail.message()));
            }
            render_campaigns(&state, &locale, &me, status, f, errs, None).await
        }
    }
}

async fn campaigns_move_form(
    State(state): State<AppState>,
    locale: Locale,
    me: Principal,
    id: Result<Path<String>, PathRejection>,
    form: Result<axum::Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let run = async {
        let id = path_id(id)?;
        let f = read_pairs(form)?;
        let to: CampaignStatus = f
            .get("to")
            .map(String::as_str)
            .unwrap_or("")
            .parse()
            .map_err(|e: StoreError| {
                ApiError::bad_request("invalid_status", e.to_string(), "Use the page's buttons.")
            })?;
        if matches!(to, CampaignStatus::Approved | CampaignStatus::Rejected) {
            return Err(ApiError::bad_request(
                "use_the_approval_queue",
                "approving and rejecting happen in the approval queue",
                "Open /console/approvals.",
            ));
        }
        let note = f.get("note").cloned().unwrap_or_default();
        move_to(&state, &me, &id, to, &note).await
    };
    match run.await {
        Ok(_) => Redirect::to("/console/campaigns").into_response(),
        Err(e) => {
            let status = e.status;
            let errs = vec![field("campaign", format!("{} {}", e.message, e.hint))];
            render_campaigns(&state, &locale, &me, status, HashMap::new(), errs, None).await
        }
    }
}

async fn render_approvals(
    state: &AppState,
    locale: &Locale,
    me: &Principal,
    status: StatusCode,
    error: Option<ApiError>,
    notice: Option<String>,
) -> Response {
    let submitted = match state.store.campaigns(Some(CampaignStatus::Submitted)).await {
        Ok(v) => v,
        Err(e) => return crate::console::error_page(state, locale, &store_error(e), Some(me)),
    };
    let mut items = Vec::new();
    for c in &submitted {
        match review(state, c).await {
            Ok(r) => {
                let own = me.username == c.created_by
                    || c.submitted_by.as_deref() == Some(me.username.as_str());
                items.push(context! { r => Value::from_serialize(&r), own => own });
            }
            Err(e) => tracing::warn!(campaign = %c.campaign_id, "reviewing: {}", e.message),
        }
    }
    let mut res = crate::console::render_page(
        state,
        locale,
        me,
        "approvals.html",
        "campaigns",
        context! {
            sub => "approvals",
            items => items,
            can_approve => can(me, Permission::CampaignApprove),
            error => error.as_ref().map(|e| context! { message => &e.message, hint => &e.hint, code => e.code }),
            notice => notice,
        },
    );
    *res.status_mut() = status;
    res
}

#[derive(Debug, Default, Deserialize)]
struct ApprovalsQuery {
    done: Option<String>,
}

async fn approvals_page(
    State(state): State<AppState>,
    locale: Locale,
    me: Principal,
    Query(q): Query<ApprovalsQuery>,
) -> Response {
    let done = q.done;
    render_approvals(&state, &locale, &me, StatusCode::OK, None, done).await
}

async fn approvals_form(
    State(state): State<AppState>,
    locale: Locale,
    me: Principal,
    id: Result<Path<String>, PathRejection>,
    form: Result<axum::Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let run = async {
        let id = path_id(id)?;
        let f = read_pairs(form)?;
        let note = f.get("note").cloned().unwrap_or_default();
        match f.get("decision").map(String::as_str) {
            Some("approve") => {
                let req = ApproveRequest {
                    note,
                    override_violations: f
                        .get("override")
                        .is_some_and(|v| v == "on" || v == "true"),
                    reason: f.get("reason").cloned(),
                };
                approve(&state, &me, &id, req).await.map(|_| id)
            }
            Some("reject") => move_to(&state, &me, &id, CampaignStatus::Rejected, &note)
                .await
                .map(|_| id),
            _ => Err(ApiError::bad_request(
                "invalid_decision",
                "decision must be approve or reject",
                "Use the page's buttons.",
            )),
        }
    };
    match run.await {
        Ok(id) => Redirect::to(&format!(
            "/console/approvals?done={}",
            crate::console::encode_segment(&id)
        ))
        .into_response(),
        Err(e) => {
            let status = e.status;
            render_approvals(&state, &locale, &me, status, Some(e), None).await
        }
    }
}

#[cfg(test)]
mod tests;
