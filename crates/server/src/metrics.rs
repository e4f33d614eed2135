//! Prometheus metrics: request counts and latency per route and status, plus data gauges
//! (rows and quarantined rows per table) refreshed on every scrape.
//!
//! The `route` label is the matched route template (`/v1/customers/{id}`), never the raw
//! path, so label cardinality stays bounded whatever clients send.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TableLabels {
    pub table: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InfoLabels {
    pub version: String,
}

type HistogramFamily = Family<RequestLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
    pub table_rows: Family<TableLabels, Gauge>,
    pub quarantined_rows: Family<TableLabels, Gauge>,
    pub data_staleness_hours: Family<TableLabels, Gauge<f64, AtomicU64>>,
    /// `POST /v1/events`: records written, duplicates acknowledged, items rejected, and the
    /// time from request to fsynced acknowledgement.
    pub events_accepted: Counter,
    pub events_duplicates: Counter,
    pub events_rejected: Counter,
    pub event_append_seconds: Histogram,
}

fn latency_histogram() -> Histogram {
    // 1 ms … ~16 s: console pages over large facts can take seconds.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("zhiying");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let table_rows = Family::<TableLabels, Gauge>::default();
        let quarantined_rows = Family::<TableLabels, Gauge>::default();
        let data_staleness_hours = Family::<TableLabels, Gauge<f64, AtomicU64>>::default();
        let info = Family::<InfoLabels, Gauge>::default();
        info.get_or_create(&InfoLabels {
            version: env!("CARGO_PKG_VERSION").to_string(),
        })
        .set(1);

        registry.register(
            "http_requests",
            "HTTP requests by method, route template and status",
            requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "HTTP request latency by method, route template and status",
            Unit::Seconds,
            latency.clone(),
        );
        registry.register(
            "table_rows",
            "Rows stored per canonical fact table",
            table_rows.clone(),
        );
        registry.register(
            "quarantined_rows",
            "Rows rejected into quarantine per table",
            quarantined_rows.clone(),
        );
        registry.register(
            "data_staleness_hours",
            "Hours between the newest row and the quality report, per table",
            data_staleness_hours.clone(),
        );
        registry.register("build_info", "Zhiying version (always 1)", info);
        let events_accepted = Counter::default();
        let events_duplicates = Counter::default();
        let events_rejected = Counter::default();
        // 0.25 ms … ~8 s: a group commit waits for one fdatasync.
        let event_append_seconds = Histogram::new(exponential_buckets(0.00025, 2.0, 16));
        registry.register(
            "events_accepted",
            "Events and transactions written to the event log",
            events_accepted.clone(),
        );
        registry.register(
            "events_duplicates",
            "Events acknowledged again without being applied (id seen before)",
            events_duplicates.clone(),
        );
        registry.register(
            "events_rejected",
            "Event items rejected by validation",
            events_rejected.clone(),
        );
        registry.register_with_unit(
            "event_append_duration",
            "Time from receiving POST /v1/events to the fsynced acknowledgement",
            Unit::Seconds,
            event_append_seconds.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            table_rows,
            quarantined_rows,
            data_staleness_hours,
            events_accepted,
            events_duplicates,
            events_rejected,
            event_append_seconds,
        }
    }

    pub fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let labels = RequestLabels {
            method: method.to_string(),
            route: route.to_string(),
            status,
        };
        self.requests.get_or_create(&labels).inc();
        self.latency.get_or_create(&labels).observe(seconds);
    }

    /// OpenMetrics text, which Prometheus scrapes as its text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Middleware recording every request, including 404s (route `unmatched`).
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string());
    let res = next.run(req).await;
    let route = route.unwrap_or_else(|| "unmatched".to_string());
    metrics.observe(
        &method,
        &route,
        res.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    res
}
