//! Templates, translations, CSS, JavaScript and ECharts, embedded in the binary so the
//! console works offline and from a single file.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use crate::auth::{Access, Routes};
use crate::error::ApiError;

#[derive(RustEmbed)]
#[folder = "assets/"]
pub struct Assets;

/// Folders of `assets/` a browser may fetch; templates and translations stay private.
const PUBLIC: &[&str] = &["static/", "vendor/"];

/// Public: the login page needs its CSS, and nothing here is private.
pub fn routes() -> Routes {
    Routes::new()
        .get("/assets/{*path}", Access::Public, asset)
        .get("/favicon.ico", Access::Public, || async {
            axum::response::Redirect::permanent("/assets/static/favicon.svg")
        })
}

/// Serves an embedded file with its content hash as ETag, so browsers revalidate cheaply.
async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    let Some(file) = PUBLIC
        .iter()
        .any(|p| path.starts_with(p))
        .then(|| Assets::get(&path))
        .flatten()
    else {
        return ApiError::not_found(
            "asset_not_found",
            format!("no asset '{path}'"),
            "Assets are embedded at build time from crates/server/assets/static and assets/vendor.",
        )
        .into_response();
    };
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..16]));
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let mime = mime_guess::from_path(&path).first_or_octet_stream();
    let mut res = file.data.into_owned().into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(mime.as_ref()) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    res
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An embedded text file (template or translation table).
pub fn text(path: &str) -> Option<String> {
    Assets::get(path).and_then(|f| String::from_utf8(f.data.into_owned()).ok())
}
