//! A minimal axum server exposing only `POST /v1/events` over an [`EventStore`], with the same
//! validate → append (group commit, fsync) → 202 path as `zhiying serve`'s handler, but
//! without the analytics engine. It lets the event path be load-tested from this crate alone
//! (a build without DataFusion); `scripts/bench/events.sh` measures the real `zhiying serve`.
//!
//! `cargo run --example http_harness -p zhiying-events -- DIR PORT`

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use zhiying_events::{Clock, EventConfig, EventStore, SystemClock, ValidateOptions, parse_body};

async fn post_events(State(store): State<Arc<EventStore>>, body: Bytes) -> (StatusCode, String) {
    let now = SystemClock.now_us();
    match parse_body(&body, ValidateOptions::at(now)) {
        Ok(records) => match store.append(records).await {
            Ok(out) => (
                StatusCode::ACCEPTED,
                format!(
                    r#"{{"accepted":{},"duplicates":{},"durable":true}}"#,
                    out.accepted,
                    out.duplicates.len()
                ),
            ),
            Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        },
        Err(items) => (
            StatusCode::BAD_REQUEST,
            serde_json::to_string(&items).unwrap_or_default(),
        ),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .unwrap_or_else(|| "/tmp/zhiying-events-harness".into());
    let port: u16 = args.next().map(|p| p.parse()).transpose()?.unwrap_or(18732);
    let store = Arc::new(EventStore::open(&dir, EventConfig::default())?);
    let app = axum::Router::new()
        .route("/v1/events", post(post_events))
        .with_state(store.clone());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("listening on 127.0.0.1:{port}, log in {dir}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    store.close()?;
    Ok(())
}
