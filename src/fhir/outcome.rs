//! Errors as FHIR `OperationOutcome`s. The handlers and the kit fail as everywhere else (an
//! `ApiError`, problem+json); one layer turns each problem into an outcome with the same status
//! and headers (`WWW-Authenticate`, `Retry-After`), so the facade's errors and the JSON API's
//! cannot drift apart.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::{Fhir, FHIR_JSON};

/// The largest problem body the layer reads back (they are a few hundred bytes).
const PROBLEM_LIMIT: usize = 64 * 1024;

/// The issue `code` (FHIR's IssueType) of an HTTP status.
fn issue_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 422 => "invalid",
        401 => "login",
        403 => "forbidden",
        404 | 410 => "not-found",
        405 | 406 | 415 => "not-supported",
        409 | 412 => "conflict",
        413 => "too-costly",
        408 | 503 | 504 => "transient",
        429 => "throttled",
        _ => "exception",
    }
}

/// An outcome of one error issue.
pub fn outcome(status: StatusCode, diagnostics: &str) -> Value {
    json!({
        "resourceType": "OperationOutcome",
        "issue": [{
            "severity": "error",
            "code": issue_code(status),
            "diagnostics": diagnostics,
        }],
    })
}

/// The layer: a problem+json answer (or an empty error, as axum's own 405) becomes an
/// `OperationOutcome` with the same status and headers.
pub async fn problems_as_outcomes(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/problem+json"));
    let (mut parts, body) = res.into_parts();
    let problem: Value = if is_problem {
        match axum::body::to_bytes(body, PROBLEM_LIMIT).await {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    } else {
        Value::Null
    };
    let detail = problem["detail"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| match status {
            StatusCode::METHOD_NOT_ALLOWED => {
                format!("{method} is not supported here: this FHIR endpoint is read-only")
            }
            s => s.canonical_reason().unwrap_or("error").to_string(),
        });
    // Every interaction here is a read: a parameter that fails validation makes the search
    // unprocessable, which FHIR answers with 400 (422 is for resources sent to the server).
    if status == StatusCode::UNPROCESSABLE_ENTITY {
        parts.status = StatusCode::BAD_REQUEST;
    }
    let mut body = outcome(parts.status, &detail);
    // A 422's fields, each as an issue of its own with the parameter as its expression.
    for e in problem["errors"].as_array().into_iter().flatten() {
        body["issue"].as_array_mut().expect("issue").push(json!({
            "severity": "error",
            "code": "invalid",
            "diagnostics": format!("{}: {}", e["field"].as_str().unwrap_or("?"), e["message"].as_str().unwrap_or("")),
            "expression": [e["field"].as_str().unwrap_or("?")],
        }));
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    let text = if method == Method::HEAD {
        String::new()
    } else {
        body.to_string()
    };
    Response::from_parts(parts, Body::from(text))
}

/// Any path under the facade that names nothing it serves.
pub async fn unknown_path(req: Request) -> Response {
    let path = req.uri().path().to_string();
    Fhir {
        status: StatusCode::NOT_FOUND,
        headers: Default::default(),
        body: outcome(
            StatusCode::NOT_FOUND,
            &format!(
                "{path}: not a resource type or operation this server supports (see {}/metadata)",
                super::BASE_PATH
            ),
        ),
    }
    .into_response()
}
