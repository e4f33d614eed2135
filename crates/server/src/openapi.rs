//! The OpenAPI document, generated from the handlers' annotations and the response types,
//! so it cannot drift from the code.

use std::sync::OnceLock;

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Zhiying API",
        description = "Zhiying (智营): intelligent marketing for retail banks. Every route but /healthz needs `Authorization: Bearer <token>` (create one with `zhiying token create`) or a console session; each route needs one permission (docs/security.md). Errors are JSON: {\"error\": {\"code\", \"message\", \"hint\"}}. Money is integer 分 (`*_fen`) with a formatted string beside it; times are RFC 3339 UTC.",
        license(name = "Apache-2.0")
    ),
    paths(
        crate::api::healthz,
        crate::api::metrics,
        crate::api::openapi,
        crate::api::customer,
        crate::api::data_tables,
        crate::events::post_events,
        crate::events::realtime,
        crate::events::status,
        crate::audiences::count,
        crate::audiences::sample,
        crate::audiences::save,
        crate::audiences::list,
        crate::audiences::snapshot,
        crate::audiences::export,
        crate::audiences::overlap,
        crate::audiences::tags,
        crate::auth::login::me,
        crate::audit::entries,
        crate::audit::verify,
        crate::compliance::check_copy,
        crate::tags::tags_api,
        crate::tags::customer_tags_api,
        crate::models::list_api,
        crate::models::customer_scores_api,
        crate::models::versions_api,
        crate::models::promote_api,
        crate::models::approve_api,
        crate::decisions::decide,
        crate::decisions::respond,
        crate::segments::api,
        crate::campaigns::list_offers,
        crate::campaigns::create_offer,
        crate::campaigns::get_offer,
        crate::campaigns::update_offer,
        crate::campaigns::retire_offer,
        crate::campaigns::offer_versions,
        crate::campaigns::offer_version,
        crate::campaigns::list_campaigns,
        crate::campaigns::create_campaign,
        crate::campaigns::get_campaign,
        crate::campaigns::update_campaign,
        crate::campaigns::campaign_transitions,
        crate::campaigns::review_campaign,
        crate::campaigns::submit_campaign,
        crate::campaigns::approve_campaign,
        crate::campaigns::reject_campaign,
        crate::campaigns::launch_campaign,
        crate::campaigns::pause_campaign,
        crate::campaigns::complete_campaign,
        crate::campaigns::cancel_campaign,
        crate::campaigns::reopen_campaign,
        crate::dsr::get_consents,
        crate::dsr::post_consent,
        crate::dsr::list_dnc,
        crate::dsr::add_dnc,
        crate::dsr::remove_dnc,
        crate::dsr::export,
        crate::dsr::erase,
        crate::privacy::unmask_fields,
        crate::reports::report_api,
        crate::reports::experiments_api,
        crate::triggers::list_rules,
        crate::triggers::put_rule,
        crate::triggers::delete_rule,
        crate::triggers::list_firings,
        crate::delivery::status,
    ),
    components(schemas(crate::error::ErrorBody, crate::models::TransitionBody)),
    tags(
        (name = "operations", description = "Health, metrics and this document"),
        (name = "customers", description = "Customer 360"),
        (name = "data", description = "Tables, quarantine and data quality"),
        (name = "events", description = "Real-time events, transactions and profiles"),
        (name = "audiences", description = "Audiences (人群圈选): boolean expressions over tags on roaring bitmaps"),
        (name = "auth", description = "The caller's identity and permissions"),
        (name = "audit", description = "The hash-chained audit log"),
        (name = "compliance", description = "Marketing-copy checker"),
        (name = "campaigns", description = "Offer catalogue (versioned), campaigns under maker-checker, the approval review with the copy check"),
        (name = "decisions", description = "Next-best-action: ranked offers with the full explanation, and responses"),
        (name = "models", description = "The bank's models: evaluation reports and customer scores with reasons"),
        (name = "tags", description = "Customer tags (客户画像): catalogue, distributions, values with explanations"),
        (name = "consent", description = "Consent ledger, do-not-contact list, data-subject access and erasure"),
        (name = "measurement", description = "Campaign reports (KPIs, effect against the holdout, Qini, verdict) and the experiments list with SRM and power"),
        (name = "triggers", description = "Triggered campaigns: event rules that fire a decision and a delivery, and their firings"),
        (name = "delivery", description = "The delivery outbox: per-channel counts, failures, throughput"),
    )
)]
pub struct ApiDoc;

/// The document as JSON, built once.
pub fn json() -> String {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_string();
        doc.to_pretty_json().unwrap_or_else(|e| {
            tracing::error!("cannot serialise the OpenAPI document: {e}");
            "{}".to_string()
        })
    })
    .clone()
}
