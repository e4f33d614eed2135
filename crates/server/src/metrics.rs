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
        Metrics {
            registry,
            requests,
            latency,
            table_rows,
            quarantined_rows,
            data_staleness_hours,
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
