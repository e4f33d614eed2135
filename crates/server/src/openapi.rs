//! The OpenAPI document, generated from the handlers' annotations and the response types,
//! so it cannot drift from the code.

use std::sync::OnceLock;

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Zhiying API",
        description = "Zhiying (智营): intelligent marketing for retail banks. Errors are JSON: {\"error\": {\"code\", \"message\", \"hint\"}}. Money is integer 分 (`*_fen`) with a formatted string beside it; times are RFC 3339 UTC.",
        license(name = "Apache-2.0")
    ),
    paths(
        crate::api::healthz,
        crate::api::metrics,
        crate::api::openapi,
        crate::api::customer,
        crate::api::data_tables,
        crate::tags::tags_api,
        crate::tags::customer_tags_api,
    ),
    components(schemas(crate::error::ErrorBody)),
    tags(
        (name = "operations", description = "Health, metrics and this document"),
        (name = "customers", description = "Customer 360"),
        (name = "data", description = "Tables, quarantine and data quality"),
        (name = "tags", description = "Customer tags (客户画像): catalogue, distributions, values with explanations"),
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
