//! Real-time events over HTTP: `POST /v1/events`, `GET /v1/customers/{id}/realtime` and
//! `GET /v1/events/status`, on top of [`zhiying_events::EventStore`].
//!
//! `POST /v1/events` answers 202 only after the group commit holding the events has been
//! fsynced, so an acknowledged event survives a crash. A batch is all or nothing: if any
//! item is invalid the answer is 400 with every item's field errors and nothing is written.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use zhiying_events::{Clock, EventError, EventStore, ItemError, RealtimeSnapshot, ValidateOptions};

use crate::AppState;
use crate::auth::Routes;
use crate::error::ApiError;
use zhiying_core::access::Permission;

pub fn routes() -> Routes {
    Routes::new()
        .post("/v1/events", Permission::EventsWrite, post_events)
        .get("/v1/events/status", Permission::DataRead, status)
        .get(
            "/v1/customers/{id}/realtime",
            Permission::CustomerRead,
            realtime,
        )
}

fn store(state: &AppState) -> Result<&Arc<EventStore>, ApiError> {
    state.events.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "events_unavailable",
            "this server has no event log open",
            "Start the server with `zhiying serve`, which opens DATA_DIR/events at start-up.",
        )
    })
}

/// The answer to an accepted append.
#[derive(Debug, Serialize)]
pub struct Accepted {
    /// Events newly written.
    pub accepted: usize,
    /// Events whose id had been accepted before: acknowledged again, not applied twice.
    pub duplicates: usize,
    /// Positions in the request of the duplicates.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub duplicate_indices: Vec<usize>,
    /// Always true: the response is sent after fsync.
    pub durable: bool,
}

#[derive(Debug, Serialize)]
struct Rejected {
    error: crate::error::ErrorDetail,
    items: Vec<ItemError>,
}

/// Appends one event object or an array of them (channel events and transactions).
#[utoipa::path(post, path = "/v1/events", tag = "events",
    request_body(content = Object, description = "One event or transaction object, or an array of them. Events: {kind: \"event\", event_id, customer_id, ts, channel, event_type, attributes?}. Transactions: {kind: \"transaction\", txn_id, customer_id, account_id?, ts, amount_fen, currency?, direction, channel, txn_type}.", content_type = "application/json"),
    responses(
        (status = 202, description = "Written and fsynced; duplicates acknowledged without being applied again", body = Object),
        (status = 400, description = "Nothing written: `items` lists every invalid item's field errors", body = Object),
        (status = 503, description = "The event log is closed or failed", body = crate::error::ErrorBody),
    ))]
pub async fn post_events(State(state): State<AppState>, body: Bytes) -> Response {
    let start = Instant::now();
    let store = match store(&state) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let now = zhiying_events::SystemClock.now_us();
    let records = match zhiying_events::parse_body(&body, ValidateOptions::at(now)) {
        Ok(r) if r.is_empty() => {
            return ApiError::bad_request(
                "empty_batch",
                "the array holds no events",
                "Send at least one event object.",
            )
            .into_response();
        }
        Ok(r) => r,
        Err(items) => {
            let bad = items.len();
            state.metrics.events_rejected.inc_by(bad as u64);
            let first = items
                .first()
                .and_then(|i| i.errors.first().map(|e| (i.index, e)))
                .map(|(i, e)| format!("; first: item {i}, {}: {}", e.field, e.message))
                .unwrap_or_default();
            return (
                StatusCode::BAD_REQUEST,
                Json(Rejected {
                    error: crate::error::ErrorDetail {
                        code: "invalid_events".into(),
                        message: format!("{bad} item(s) are invalid{first}"),
                        hint: "Nothing was written. Fix the fields listed in `items` (codes come from the canonical lists in /openapi.json and docs/events.md) and resend the whole batch; ids already accepted are not applied twice.".into(),
                    },
                    items,
                }),
            )
                .into_response();
        }
    };
    match store.append(records).await {
        Ok(out) => {
            let m = &state.metrics;
            m.events_accepted.inc_by(out.accepted as u64);
            m.events_duplicates.inc_by(out.duplicates.len() as u64);
            m.event_append_seconds
                .observe(start.elapsed().as_secs_f64());
            (
                StatusCode::ACCEPTED,
                Json(Accepted {
                    accepted: out.accepted,
                    duplicates: out.duplicates.len(),
                    duplicate_indices: out.duplicates,
                    durable: true,
                }),
            )
                .into_response()
        }
        Err(e @ (EventError::Closed | EventError::Failed(_))) => {
            tracing::error!("event append refused: {e}");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "events_unavailable",
                e.to_string(),
                "Nothing from this request was acknowledged; retry it (ids make retries safe).",
            )
            .into_response()
        }
        Err(e) => ApiError::internal("appending events", e).into_response(),
    }
}

/// Real-time counters (today, 7d, 30d, 90d), recency per type and channel, rule tags and
/// audience memberships, evaluated now.
#[utoipa::path(get, path = "/v1/customers/{id}/realtime", tag = "events",
    params(("id" = String, Path, description = "Customer id, e.g. C00000001")),
    responses(
        (status = 200, description = "The customer's real-time profile", body = Object),
        (status = 404, description = "No event or transaction has arrived for this customer", body = crate::error::ErrorBody),
    ))]
pub async fn realtime(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<RealtimeSnapshot>, ApiError> {
    let Path(id) = id.map_err(crate::api::path_error)?;
    let store = store(&state)?;
    store.realtime(&id).map(Json).ok_or_else(|| {
        ApiError::not_found(
            "no_realtime_profile",
            format!("no real-time event or transaction has arrived for customer '{id}'"),
            "POST events for the customer to /v1/events; historical data is in GET /v1/customers/{id}.",
        )
    })
}

/// Log position, checkpoint, recovery and counters since start.
#[utoipa::path(get, path = "/v1/events/status", tag = "events",
    responses((status = 200, description = "Event log status", body = Object)))]
pub async fn status(
    State(state): State<AppState>,
) -> Result<Json<zhiying_events::EventStats>, ApiError> {
    Ok(Json(store(&state)?.stats()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use serde_json::{Value, json};
    use tower::ServiceExt;
    use zhiying_core::DataDir;

    /// The router, with a bearer token for a user holding every role.
    struct TestApp {
        router: axum::Router,
        token: String,
    }

    async fn app(dir: &std::path::Path) -> (TestApp, Arc<EventStore>) {
        let dd = DataDir::new(dir);
        let engine = zhiying_engine::DataFusionEngine::open(&dd).await.unwrap();
        let store = Arc::new(
            EventStore::open(dir.join("events"), zhiying_events::EventConfig::default()).unwrap(),
        );
        let sql = Arc::new(
            zhiying_store::SqlStore::open_with(&zhiying_store::StoreOptions::default(), &dd)
                .await
                .unwrap(),
        );
        let token =
            crate::tests::user_with_token(&sql, "root", &zhiying_core::domain::Role::ALL).await;
        let state = AppState::new(dd, Arc::new(engine), sql).with_events(store.clone());
        (
            TestApp {
                router: crate::router(state),
                token,
            },
            store,
        )
    }

    async fn call(app: &TestApp, method: &str, uri: &str, body: &str) -> (u16, Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {}", app.token))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let res = app.router.clone().oneshot(req).await.unwrap();
        let status = res.status().as_u16();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        let v = serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, v)
    }

    fn now_rfc3339() -> String {
        zhiying_core::time::format_timestamp(zhiying_events::SystemClock.now_us())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn post_then_read_realtime_and_metrics() {
        let tmp = tempfile::tempdir().unwrap();
        let (app, _store) = app(tmp.path()).await;
        let ts = now_rfc3339();
        let batch = json!([
            {"kind": "event", "event_id": "E1", "customer_id": "C1", "ts": ts, "channel": "mobile_app", "event_type": "login"},
            {"kind": "transaction", "txn_id": "T1", "customer_id": "C1", "ts": ts, "amount_fen": 6_000_000,
             "direction": "credit", "channel": "online", "txn_type": "transfer_in"}
        ]);
        let (s, v) = call(&app, "POST", "/v1/events", &batch.to_string()).await;
        assert_eq!(s, 202, "{v}");
        assert_eq!(v["accepted"], 2);
        assert_eq!(v["durable"], true);
        let (s, v) = call(&app, "POST", "/v1/events", &batch[0].to_string()).await;
        assert_eq!(
            (s, v["accepted"].clone(), v["duplicates"].clone()),
            (202, json!(0), json!(1))
        );

        let (s, v) = call(&app, "GET", "/v1/customers/C1/realtime", "").await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["windows"]["today"]["events"], 1);
        assert_eq!(v["windows"]["today"]["credit_fen"], 6_000_000);
        let tags: Vec<&str> = v["tags"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t.as_str())
            .collect();
        assert!(
            tags.contains(&"large_inflow_today") && tags.contains(&"active_7d"),
            "{tags:?}"
        );
        assert_eq!(
            v["recency"]["event_channel"]["mobile_app"]
                .as_str()
                .unwrap()
                .len(),
            ts.len()
        );

        let (s, v) = call(&app, "GET", "/v1/customers/NOBODY/realtime", "").await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (404, Some("no_realtime_profile"))
        );

        let (_, v) = call(&app, "GET", "/metrics", "").await;
        let text = v.as_str().unwrap();
        assert!(text.contains("zhiying_events_accepted_total 2"), "{text}");
        assert!(text.contains("zhiying_events_duplicates_total 1"));
        assert!(text.contains("zhiying_event_append_duration_seconds_count 2"));

        let (s, v) = call(&app, "GET", "/v1/events/status", "").await;
        assert_eq!(
            (s, v["records_appended"].clone(), v["customers"].clone()),
            (200, json!(2), json!(1))
        );
    }

    /// The app over a 500-customer audience fixture, with a saved audience `expr` watched
    /// live and a subscription to its changes.
    struct Watched {
        app: TestApp,
        index: zhiying_audience::AudienceIndex,
        changes: tokio::sync::broadcast::Receiver<zhiying_events::AudienceChange>,
        audience_id: String,
    }

    async fn watch_saved_audience(dir: &std::path::Path, name: &str, expr: &str) -> Watched {
        let dd = DataDir::new(dir);
        let spec = zhiying_audience::fixture::FixtureSpec {
            customers: 500,
            ..Default::default()
        };
        zhiying_audience::fixture::write_fixture(&dd, &spec).unwrap();
        let (index, _) = zhiying_audience::load_index(&dd).unwrap();
        let (app, store) = app(dir).await;
        let changes = store.subscribe();
        let (s, v) = call(
            &app,
            "POST",
            "/v1/audiences",
            &json!({"name": name, "expr": expr}).to_string(),
        )
        .await;
        assert_eq!(s, 201, "{v}");
        Watched {
            audience_id: v["id"].as_str().unwrap().to_string(),
            app,
            index,
            changes,
        }
    }

    /// Posts one live event of `event_type` for `customer`, now.
    async fn post_event(app: &TestApp, event_id: &str, customer: &str, event_type: &str) {
        let channel = if event_type == "complaint" {
            "call_center"
        } else {
            "mobile_app"
        };
        let e = json!({"kind": "event", "event_id": event_id, "customer_id": customer,
            "ts": now_rfc3339(), "channel": channel, "event_type": event_type});
        let (s, v) = call(app, "POST", "/v1/events", &e.to_string()).await;
        assert_eq!(s, 202, "{v}");
    }

    async fn next_change(w: &mut Watched) -> zhiying_events::AudienceChange {
        tokio::time::timeout(std::time::Duration::from_secs(1), w.changes.recv())
            .await
            .expect("an audience change within 1 s")
            .unwrap()
    }

    /// A saved audience is watched in real time: the event that puts a customer in it
    /// produces an `entered` change, published once durable; batch members don't "enter".
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn saved_audiences_emit_entered_changes_for_live_events() {
        let tmp = tempfile::tempdir().unwrap();
        let expr = r#"did("complaint", 1d) and age >= 18"#;
        let mut w = watch_saved_audience(tmp.path(), "complained today", expr).await;
        let batch_members = w.index.members(expr).unwrap();
        let adults = w.index.members("age >= 18").unwrap();
        let outsider = adults
            .iter()
            .find(|c| !batch_members.contains(*c))
            .and_then(|c| w.index.customer_id(c))
            .unwrap()
            .to_string();

        // A login does not qualify; a complaint does.
        post_event(&w.app, "L1", &outsider, "login").await;
        post_event(&w.app, "K1", &outsider, "complaint").await;
        let change = next_change(&mut w).await;
        assert_eq!(change.audience_id, w.audience_id);
        assert_eq!(change.customer_id, outsider);
        assert_eq!(change.change, zhiying_events::input::Change::Entered);
        assert_eq!(change.cause.as_deref(), Some("K1"));
        assert!(w.changes.try_recv().is_err(), "exactly one change");
    }

    /// A batch member whose live event takes them out of a saved audience produces a
    /// `left` change (batch membership is the starting state), and only one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batch_members_leaving_live_emit_left_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let expr = r#"not did("complaint", 30d) and age >= 18"#;
        let mut w = watch_saved_audience(tmp.path(), "no recent complaint", expr).await;
        let member = w
            .index
            .members(expr)
            .unwrap()
            .iter()
            .next()
            .and_then(|c| w.index.customer_id(c))
            .expect("a batch member")
            .to_string();

        post_event(&w.app, "L1", &member, "login").await;
        post_event(&w.app, "K1", &member, "complaint").await;
        let change = next_change(&mut w).await;
        assert_eq!(
            (
                change.audience_id.as_str(),
                change.customer_id.as_str(),
                change.change
            ),
            (
                w.audience_id.as_str(),
                member.as_str(),
                zhiying_events::input::Change::Left
            )
        );
        assert_eq!(change.cause.as_deref(), Some("K1"));
        // Still out: another event changes nothing.
        post_event(&w.app, "L2", &member, "login").await;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(w.changes.try_recv().is_err(), "exactly one change");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_bad_batch_is_rejected_whole_with_per_item_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let (app, store) = app(tmp.path()).await;
        let ts = now_rfc3339();
        let batch = json!([
            {"event_id": "E1", "customer_id": "C1", "ts": ts, "channel": "web", "event_type": "login"},
            {"event_id": "E2", "customer_id": "C1", "ts": ts, "channel": "fax", "event_type": "login"},
            {"kind": "transaction", "txn_id": "T9", "customer_id": "C1", "ts": ts, "amount_fen": "100",
             "direction": "credit", "channel": "online", "txn_type": "salary"}
        ]);
        let (s, v) = call(&app, "POST", "/v1/events", &batch.to_string()).await;
        assert_eq!(s, 400, "{v}");
        assert_eq!(v["error"]["code"], "invalid_events");
        assert_eq!(v["items"][0]["index"], 1);
        assert_eq!(v["items"][0]["errors"][0]["field"], "channel");
        assert_eq!(v["items"][0]["errors"][0]["value"], "fax");
        assert_eq!(v["items"][1]["index"], 2);
        assert_eq!(v["items"][1]["errors"][0]["field"], "amount_fen");
        assert!(
            store.realtime("C1").is_none(),
            "nothing from a bad batch is applied"
        );
        let (s, v) = call(&app, "POST", "/v1/events", "{not json").await;
        assert_eq!(s, 400, "{v}");
        let (s, _) = call(&app, "POST", "/v1/events", "[]").await;
        assert_eq!(s, 400);
        let (_, v) = call(&app, "GET", "/metrics", "").await;
        assert!(
            v.as_str()
                .unwrap()
                .contains("zhiying_events_rejected_total 3")
        );
    }
}
