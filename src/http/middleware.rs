//! Request-wide middleware (`edge`): request ids, metrics, a structured access log without PHI,
//! security headers, and turning bare error responses from lower layers (timeouts, unknown
//! routes) into problem+json.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
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

/// Request counts and latency histograms by route template, method and status. Keyed by route
/// first so that a request finds its series without allocating: a handful of (method, status)
/// pairs per route are scanned.
#[derive(Default)]
pub struct Metrics {
    series: RwLock<HashMap<Box<str>, RouteSeries>>,
}

/// The series of one route, by method and status.
type RouteSeries = Vec<(Method, u16, Arc<Series>)>;

impl Metrics {
    fn series(&self, method: &Method, route: &str, status: u16) -> Arc<Series> {
        let find = |list: &RouteSeries| {
            list.iter()
                .find(|(m, s, _)| m == method && *s == status)
                .map(|(_, _, series)| series.clone())
        };
        if let Some(series) = self.series.read().get(route).and_then(find) {
            return series;
        }
        let mut map = self.series.write();
        let list = map.entry(route.into()).or_default();
        match find(list) {
            Some(series) => series,
            None => {
                let series = Arc::new(Series::default());
                list.push((method.clone(), status, series.clone()));
                series
            }
        }
    }

    fn observe(&self, method: &Method, route: &str, status: u16, seconds: f64) {
        let series = self.series(method, route, status);
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
        let map = self.series.read();
        let mut all: Vec<(&str, &str, u16, &Series)> = map
            .iter()
            .flat_map(|(route, list)| {
                list.iter()
                    .map(move |(m, status, s)| (m.as_str(), &**route, *status, &**s))
            })
            .collect();
        all.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        for (method, route, status, s) in &all {
            let _ = writeln!(
                out,
                "healthapi_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {}",
                s.count.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP healthapi_http_request_duration_seconds HTTP request latency.\n");
        out.push_str("# TYPE healthapi_http_request_duration_seconds histogram\n");
        for (method, route, status, s) in &all {
            let labels = format!("method=\"{method}\",route=\"{route}\",status=\"{status}\"");
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

/// Everything done once per request around the routes, in one layer (it was six: each a boxed
/// service cloned per request, about a tenth of the server's CPU on the patient-read benchmark):
///
/// - the request id: a caller's `x-request-id` is kept only if it is one short id of plain
///   characters (it goes into audit entries and logs), else a fresh UUID replaces it; it is
///   echoed on the response;
/// - a request target or header section past its bound is refused before routing, 414 or 431
///   problem+json (`oversized`);
/// - bare error responses from lower layers become problem+json (`problemize`);
/// - metrics and one access-log line, with the route template, never the raw URI (a query such
///   as `?q=Smith` is PHI), and never headers (tokens);
/// - `x-content-type-options: nosniff`, and `cache-control: no-store` unless a handler set one.
pub async fn edge(State(metrics): State<Arc<Metrics>>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let request_id = fit_request_id(req.headers()).unwrap_or_else(|| {
        HeaderValue::try_from(uuid::Uuid::new_v4().to_string())
            .expect("a UUID is a valid header value")
    });
    req.headers_mut().insert(REQUEST_ID, request_id.clone());
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);

    let mut resp = if has_nul(req.uri()) {
        nul_refused()
    } else {
        match oversized(&req) {
            Some(refusal) => refusal.into_response(),
            None => problemize(next.run(req).await),
        }
    };

    let elapsed = start.elapsed();
    let status = resp.status().as_u16();
    metrics.observe(&method, route, status, elapsed.as_secs_f64());
    tracing::info!(
        target: "healthapi::access",
        method = %method,
        route = %route,
        status,
        latency_ms = millis(elapsed),
        request_id = %request_id.to_str().unwrap_or(""),
    );
    let h = resp.headers_mut();
    h.insert(REQUEST_ID, request_id);
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}

/// Does the path or query spell a NUL character (`%00`)? No id, name or search holds one, and
/// PostgreSQL cannot take one in text: passed on, it made queries fail (500) and, in the id of
/// a refusal's audit entry, stopped the audit sealer.
fn has_nul(uri: &axum::http::Uri) -> bool {
    uri.path_and_query()
        .is_some_and(|pq| pq.as_str().contains("%00"))
}

fn nul_refused() -> Response {
    ApiError::bad_request("the request's path and query must not contain a NUL character (%00)")
        .into_response()
}

/// The longest request target (path and query) served; longer ones are 414. hyper itself
/// refuses targets past 64 KiB, with a bare 414 (docs/DECISIONS.md, "HTTP and logs").
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// The largest header section served, counted as HTTP/1.1 sends it (`name: value\r\n` per
/// field); larger ones are 431. hyper itself refuses a head past its read buffer (about
/// 400 KiB) or with more than 100 fields, with a bare 431.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// 414 for a request target past `MAX_URI_BYTES`, 431 for a header section past
/// `MAX_HEADER_BYTES`: refused before routing, as problem+json, with nothing of the request read
/// further (a single 100 KB header was served before).
fn oversized(req: &Request) -> Option<ApiError> {
    let target = req
        .uri()
        .path_and_query()
        .map_or(req.uri().path().len(), |pq| pq.as_str().len());
    if target > MAX_URI_BYTES {
        return Some(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri-too-long",
            format!("the request target is longer than {MAX_URI_BYTES} bytes"),
        ));
    }
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers > MAX_HEADER_BYTES {
        return Some(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers-too-large",
            format!("the request's headers are larger than {MAX_HEADER_BYTES} bytes"),
        ));
    }
    None
}

/// A duration in milliseconds, to whole microseconds: logged as a number that prints `0.205`,
/// not the float's full digits (`0.20543499999999998`).
fn millis(d: std::time::Duration) -> f64 {
    d.as_micros() as f64 / 1000.0
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The caller's request id, if there is exactly one and it is short and plain.
fn fit_request_id(headers: &HeaderMap) -> Option<HeaderValue> {
    let mut ids = headers.get_all(REQUEST_ID).iter();
    let id = ids.next()?;
    let b = id.as_bytes();
    let fit = ids.next().is_none()
        && !b.is_empty()
        && b.len() <= 128
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.:/+=".contains(c));
    fit.then(|| id.clone())
}

/// Gives bare error responses produced outside our handlers (timeouts, 404/405 from routing,
/// body-limit rejections) a problem+json body. An error that already is one, or a FHIR
/// `OperationOutcome` (the FHIR facade's errors), is left as it is.
fn problemize(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_formed = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.starts_with("application/problem+json") || ct.starts_with("application/fhir+json")
        });
    if is_formed {
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
    if let Some(allow) = resp.headers().get(header::ALLOW) {
        new_resp.headers_mut().insert(header::ALLOW, allow.clone());
    }
    new_resp
}

#[cfg(test)]
mod tests {
    use super::millis;
    use std::time::Duration;

    #[test]
    fn millis_print_three_decimals_at_most() {
        assert_eq!(millis(Duration::from_micros(205)).to_string(), "0.205");
        assert_eq!(millis(Duration::from_micros(7)).to_string(), "0.007");
        assert_eq!(
            millis(Duration::from_nanos(12_345_678_999)).to_string(),
            "12345.678"
        );
    }
}
