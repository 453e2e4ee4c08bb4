//! Request-wide middleware: metrics, a structured access log without PHI, and turning bare
//! error responses from lower layers (timeouts, unknown routes) into problem+json.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::RwLock;

use super::error::ApiError;

/// Latency histogram bounds in seconds (Prometheus `le`).
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
struct Series {
    count: AtomicU64,
    sum_micros: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
}

type SeriesKey = (String, String, u16);

/// Request counts and latency histograms by method, route template and status.
#[derive(Default)]
pub struct Metrics {
    series: RwLock<HashMap<SeriesKey, Arc<Series>>>,
}

impl Metrics {
    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let key = (method.to_string(), route.to_string(), status);
        let existing = self.series.read().get(&key).cloned();
        let series = match existing {
            Some(s) => s,
            None => self.series.write().entry(key).or_default().clone(),
        };
        series.count.fetch_add(1, Ordering::Relaxed);
        series
            .sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                series.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP healthapi_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE healthapi_http_requests_total counter\n");
        let series = self.series.read();
        let mut keys: Vec<_> = series.keys().cloned().collect();
        keys.sort();
        for k in &keys {
            let s = &series[k];
            let _ = writeln!(
                out,
                "healthapi_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{}\"}} {}",
                k.0,
                k.1,
                k.2,
                s.count.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP healthapi_http_request_duration_seconds HTTP request latency.\n");
        out.push_str("# TYPE healthapi_http_request_duration_seconds histogram\n");
        for k in &keys {
            let s = &series[k];
            let labels = format!("method=\"{}\",route=\"{}\",status=\"{}\"", k.0, k.1, k.2);
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "healthapi_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                    s.buckets[i].load(Ordering::Relaxed)
                );
            }
            let count = s.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "healthapi_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "healthapi_http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "healthapi_http_request_duration_seconds_count{{{labels}}} {count}"
            );
        }
        out
    }
}

/// Records metrics and one log line per request. Logs the route template, never the raw URI
/// (a query such as `?q=Smith` is PHI), and never headers (tokens).
pub async fn observe(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let resp = next.run(req).await;
    let elapsed = start.elapsed().as_secs_f64();
    let status = resp.status().as_u16();
    metrics.observe(&method, &route, status, elapsed);
    tracing::info!(
        target: "healthapi::access",
        method = %method,
        route = %route,
        status,
        latency_ms = elapsed * 1000.0,
        request_id = %request_id,
    );
    resp
}

/// Gives bare error responses produced outside our handlers (timeouts, 404/405 from routing,
/// body-limit rejections) a problem+json body.
pub async fn problemize(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_problem = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/problem+json"));
    if is_problem {
        return resp;
    }
    let (kind, detail) = match status {
        StatusCode::NOT_FOUND => ("not-found", "no such route or resource"),
        StatusCode::METHOD_NOT_ALLOWED => ("method-not-allowed", "this method is not allowed here"),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload-too-large", "the body is larger than the limit"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ("unsupported-media-type", "unsupported content type")
        }
        StatusCode::BAD_REQUEST => ("malformed", "the request could not be understood"),
        s if s.is_server_error() => ("internal", "an internal error occurred"),
        _ => ("error", "the request failed"),
    };
    let mut new_resp = ApiError::new(status, kind, detail).into_response();
    for name in [
        header::ALLOW,
        header::HeaderName::from_static("x-request-id"),
    ] {
        if let Some(v) = resp.headers().get(&name) {
            new_resp.headers_mut().insert(name, v.clone());
        }
    }
    new_resp
}
