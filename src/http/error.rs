//! Every error leaves the server as RFC 9457 problem+json. No SQL, path or trace ever does.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// A field that failed validation, as `errors` of a 422 problem lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

pub const PROBLEM_BASE: &str = "https://healthapi.dev/problems/";

/// The problem+json body.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(examples(crate::http::examples::problem))]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// The last segment of the problem `type` URI, e.g. `validation`, `consent-required`.
    pub kind: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Extra headers (e.g. Retry-After on 429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }
    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, "malformed", detail)
    }
    pub fn unauthorized() -> ApiError {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing, expired or revoked credentials",
        )
    }
    pub fn forbidden() -> ApiError {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "your role may not perform this action",
        )
    }
    pub fn not_found() -> ApiError {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "no such resource, or it is outside your reach",
        )
    }
    pub fn conflict(detail: impl Into<String>) -> ApiError {
        Self::new(StatusCode::CONFLICT, "conflict", detail)
    }
    pub fn precondition_failed() -> ApiError {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition-failed",
            "If-Match does not match the current version",
        )
    }
    pub fn validation(errors: Vec<FieldError>) -> ApiError {
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "the request failed validation: `errors` names each field (of the body or the query) and why",
        );
        e.errors = errors;
        e
    }
    pub fn field(field: &str, message: impl Into<String>) -> ApiError {
        Self::validation(vec![FieldError {
            field: field.to_string(),
            message: message.into(),
        }])
    }
    pub fn too_many(retry_after: u64) -> ApiError {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "too many attempts; try again later",
        );
        e.retry_after = Some(retry_after);
        e
    }
    pub fn internal(log_detail: impl std::fmt::Display) -> ApiError {
        // The cause is logged, never sent: it may name SQL, paths or data.
        tracing::error!(error = %log_detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an internal error occurred",
        )
    }
    pub fn unavailable(log_detail: impl std::fmt::Display) -> ApiError {
        tracing::warn!(error = %log_detail, "service unavailable");
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the service cannot take this request right now; retry shortly",
        );
        e.retry_after = Some(1);
        e
    }
    pub fn problem(&self) -> Problem {
        Problem {
            type_: format!("{PROBLEM_BASE}{}", self.kind),
            title: self
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_string(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            errors: self.errors.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.kind, self.detail)
    }
}

pub fn problem_response(status: StatusCode, body: &Problem, retry_after: Option<u64>) -> Response {
    let mut resp = (status, axum::Json(body)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    // RFC 9110: a 401 names the scheme that would authenticate (RFC 6750's Bearer).
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"healthapi\""),
        );
    }
    if let Some(secs) = retry_after {
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = problem_response(self.status, &self.problem(), self.retry_after);
        // Lets the audit middleware see denials without re-parsing the body.
        resp.extensions_mut().insert(ErrorKind(self.kind));
        resp
    }
}

#[derive(Clone, Copy, Debug)]
pub struct ErrorKind(pub &'static str);
