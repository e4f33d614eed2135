//! `POST /v1/compliance/check-copy`: the marketing-copy checker over HTTP.

use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zhiying_core::access::Permission;

use crate::auth::Routes;
use crate::error::{ApiError, ErrorBody};

pub fn routes() -> Routes {
    Routes::new().post(
        "/v1/compliance/check-copy",
        Permission::ComplianceCheckCopy,
        check_copy,
    )
}

/// Longest copy accepted, in characters: a long wealth-product brochure fits easily.
const MAX_CHARS: usize = 100_000;

#[derive(Debug, Deserialize, ToSchema)]
pub struct CheckCopyRequest {
    /// The marketing copy, in Chinese, English or both.
    #[schema(example = "稳健理财，保本保收益，年化最高4.5%")]
    pub text: String,
}

/// One violation; see `zhiying_compliance::Violation`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CopyViolation {
    #[schema(example = "prohibited.guarantee")]
    pub rule_id: String,
    /// prohibited_claim, absolute_term, misleading_comparison, missing_disclosure or regulator_impersonation.
    pub category: String,
    /// low, medium, high or critical; high and critical block approval.
    pub severity: String,
    pub title_zh: String,
    pub title_en: String,
    pub message_zh: String,
    pub message_en: String,
    pub fix_zh: String,
    pub fix_en: String,
    pub matched: String,
    pub byte_start: usize,
    pub byte_end: usize,
    pub char_start: usize,
    pub char_end: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckCopyReport {
    pub violations: Vec<CopyViolation>,
    /// True when any violation is high or critical.
    pub blocking: bool,
    pub bytes: usize,
    pub chars: usize,
    pub rules_checked: usize,
}

/// Checks marketing copy for prohibited claims (保本, 零风险…), absolute terms, misleading
/// comparisons with deposits, missing risk disclosures and regulator impersonation.
#[utoipa::path(post, path = "/v1/compliance/check-copy", tag = "compliance",
    request_body = CheckCopyRequest,
    responses(
        (status = 200, description = "Violations with spans, rule ids, severities and suggested fixes", body = CheckCopyReport),
        (status = 400, description = "Empty or too long", body = ErrorBody),
        (status = 401, description = "No credentials", body = ErrorBody),
        (status = 403, description = "No compliance.check_copy permission", body = ErrorBody),
    ))]
pub async fn check_copy(
    body: Result<Json<CheckCopyRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<CheckCopyReport>, ApiError> {
    let Json(req) = body.map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!("the body is not a check-copy request: {}", e.body_text()),
            "Send JSON like {\"text\": \"…\"} with Content-Type: application/json.",
        )
    })?;
    let n = req.text.chars().count();
    if req.text.trim().is_empty() || n > MAX_CHARS {
        return Err(ApiError::bad_request(
            "invalid_text",
            format!("text has {n} characters; it must be non-empty and at most {MAX_CHARS}"),
            "Split long documents and check each part.",
        ));
    }
    let r = zhiying_compliance::check(&req.text);
    Ok(Json(CheckCopyReport {
        violations: r
            .violations
            .into_iter()
            .map(|v| CopyViolation {
                category: json_name(&v.category),
                severity: v.severity.as_str().to_string(),
                rule_id: v.rule_id,
                title_zh: v.title_zh,
                title_en: v.title_en,
                message_zh: v.message_zh,
                message_en: v.message_en,
                fix_zh: v.fix_zh,
                fix_en: v.fix_en,
                matched: v.matched,
                byte_start: v.byte_start,
                byte_end: v.byte_end,
                char_start: v.char_start,
                char_end: v.char_end,
            })
            .collect(),
        blocking: r.blocking,
        bytes: r.bytes,
        chars: r.chars,
        rules_checked: r.rules_checked,
    }))
}

/// The snake_case name serde gives a unit enum variant.
fn json_name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}
