//! Shared HTTP plumbing: errors, the JSON and query extractors, pagination, ETags.

pub mod contract;
pub mod error;
pub mod examples;
pub mod middleware;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub use error::{ApiError, FieldError, Problem};

use crate::kit::AppState;

/// A JSON body: 415 unless the content type is `application/json` (UTF-8), 413 past the body
/// limit (at once when `Content-Length` declares more), 400 when it is not JSON at all, 422
/// (naming the field) when it is JSON of the wrong shape, has unknown fields, or holds a
/// control character in a string.
pub struct AppJson<T>(pub T);

impl<T> FromRequest<AppState> for AppJson<T>
where
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        require_json(req.headers())?;
        require_declared_length(req.headers(), state.config.body_limit)?;
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    too_large("the body is larger than the limit")
                } else {
                    ApiError::bad_request("the body could not be read")
                }
            })?;
        parse_json(&bytes).map(AppJson)
    }
}

/// 415 unless the body is declared JSON: exactly `application/json` (any case), with no
/// parameter but an optional `charset=utf-8` (JSON is UTF-8; RFC 8259). Other `+json` types —
/// `application/problem+json` is what the server answers errors with, never a request — are
/// not accepted.
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_json_media_type);
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "the body must be application/json (UTF-8)",
        ))
    }
}

fn is_json_media_type(ct: &str) -> bool {
    let mut parts = ct.split(';');
    let mime = parts.next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("application/json") {
        return false;
    }
    parts.all(|param| {
        let param = param.trim();
        param.is_empty()
            || param.split_once('=').is_some_and(|(name, value)| {
                let value = value.trim();
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                name.trim().eq_ignore_ascii_case("charset") && value.eq_ignore_ascii_case("utf-8")
            })
    })
}

/// 413 at once when the request's `Content-Length` declares more than `limit` bytes, before
/// any of the body is read (otherwise the request would wait for a body that is never sent
/// until the request timeout, or read megabytes only to refuse them).
pub fn require_declared_length(headers: &HeaderMap, limit: usize) -> Result<(), ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(n) if n > limit as u64 => Err(too_large(&format!(
            "the body is larger than the limit of {limit} bytes"
        ))),
        _ => Ok(()),
    }
}

fn too_large(detail: &str) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", detail)
}

/// Parses a JSON body into `T`; every failure is a problem (see `AppJson`). A string (or an
/// object's key) anywhere in the body that holds a control character other than tab, line
/// feed and carriage return is a 422 naming its path: U+0000 cannot be stored in PostgreSQL
/// text at all, and the others are never part of a name, an address or a note — accepted,
/// they were stored as sent or silently trimmed away (U+0085 counts as whitespace).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if may_hold_control(bytes) {
        // Rare: only then is the body parsed a second time, to find where.
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
            let mut errors = Vec::new();
            find_controls(&value, &mut String::new(), &mut errors);
            if !errors.is_empty() {
                return Err(ApiError::validation(errors));
            }
        }
    }
    // serde builds a struct from a JSON array as well, its fields in order (`[null, null]` was
    // read as an empty change of a role): a body whose type is an object is refused as an
    // array (once it is JSON at all: `[1,2` is malformed, 400). A type that reads an empty
    // array is a list, and takes one.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[')
        && serde_json::from_slice::<T>(b"[]").is_err()
        && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
    {
        return Err(ApiError::validation(vec![FieldError {
            field: String::new(),
            message: "must be a JSON object, not an array".to_string(),
        }]));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut *de) {
        // Anything after the value (`{...} trailing`) makes the body not JSON.
        Ok(v) => de
            .end()
            .map(|()| v)
            .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}"))),
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            // serde stops at the first value of the wrong shape; a body that is not JSON at all
            // (`[1,2`, `{"a":}`) is malformed, anything else is a validation failure naming the
            // field (serde_json calls some shape errors, such as an array where an enum's name
            // belongs, syntax errors).
            if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_err() {
                return Err(ApiError::bad_request(format!("malformed JSON: {inner}")));
            }
            let msg = inner.to_string();
            let at_root = path == "." || path.is_empty();
            // serde names an unknown or missing field in its message; report it as the field.
            // For an unknown field the path already ends with its name.
            let (field, message) = if let Some(rest) = msg.strip_prefix("unknown field `") {
                let name = rest.split('`').next().unwrap_or("");
                let full = if at_root { name.to_string() } else { path };
                (full, "unknown field".to_string())
            } else if let Some(rest) = msg.strip_prefix("missing field `") {
                let name = rest.split('`').next().unwrap_or("");
                let full = if at_root {
                    name.to_string()
                } else {
                    format!("{path}.{name}")
                };
                (full, "is required".to_string())
            } else if inner.classify() == serde_json::error::Category::Syntax {
                (path, "has the wrong type".to_string())
            } else {
                let clean = msg.split(" at line ").next().unwrap_or(&msg).to_string();
                (if at_root { String::new() } else { path }, clean)
            };
            Err(ApiError::validation(vec![FieldError { field, message }]))
        }
    }
}

/// Whether the raw body may hold a control character in a string: JSON spells C0 characters
/// only as `\u00XX` escapes (raw ones are malformed JSON), DEL may be raw, and C1 characters
/// are raw UTF-8 (`C2 80`..`C2 9F`) or escapes. A body without any of these holds none.
fn may_hold_control(bytes: &[u8]) -> bool {
    bytes
        .windows(2)
        .any(|w| (w[0] == b'\\' && w[1] == b'u') || (w[0] == 0xC2 && (0x80..=0x9F).contains(&w[1])))
        || bytes.contains(&0x7F)
}

/// At most this many control-character faults are listed.
const MAX_CONTROL_FAULTS: usize = 20;

fn bad_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

fn control_message(s: &str) -> String {
    if s.contains('\0') {
        "must not contain a NUL character (U+0000)".to_string()
    } else {
        let c = s.chars().find(|c| bad_control(*c)).unwrap_or_default();
        format!(
            "must not contain control characters (U+{:04X}); only tab and line breaks are allowed",
            c as u32
        )
    }
}

/// Appends a fault for each string under `value` that holds a control character, named by its
/// path as serde names fields (`questions[2].text`).
fn find_controls(value: &serde_json::Value, path: &mut String, out: &mut Vec<FieldError>) {
    use serde_json::Value;
    if out.len() >= MAX_CONTROL_FAULTS {
        return;
    }
    match value {
        Value::String(s) if s.chars().any(bad_control) => out.push(FieldError {
            field: path.clone(),
            message: control_message(s),
        }),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                let _ = std::fmt::Write::write_fmt(path, format_args!("[{i}]"));
                find_controls(item, path, out);
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                if key.chars().any(bad_control) {
                    // The key itself, with its control characters spelled out.
                    for c in key.chars() {
                        if bad_control(c) {
                            path.extend(c.escape_unicode());
                        } else {
                            path.push(c);
                        }
                    }
                    out.push(FieldError {
                        field: path.clone(),
                        message: control_message(key),
                    });
                } else {
                    path.push_str(key);
                    find_controls(item, path, out);
                }
                path.truncate(len);
                if out.len() >= MAX_CONTROL_FAULTS {
                    return;
                }
            }
        }
        _ => {}
    }
}

/// Query parameters; a bad one is a 422 naming it.
pub struct AppQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for AppQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(AppQuery)
            .map_err(|e| {
                let field = e.path().to_string();
                ApiError::field(
                    &field,
                    format!("invalid query parameter: {}", e.into_inner()),
                )
            })
    }
}

/// Path parameters, as `axum::extract::Path` reads them, except that a segment that does not
/// parse (an id that is not a UUID) is 404 problem+json: the URL names no object, as a UUID
/// that names none is 404 too. (axum's own rejection is a bare 400.)
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(_) => Err(ApiError::not_found()),
        }
    }
}

/// `limit` and `cursor`, shared by every list.
#[derive(Debug, Clone, Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1–500, default 50; larger values are clamped to 500.
    #[param(minimum = 1)]
    pub limit: Option<i64>,
    /// Opaque cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

#[derive(Debug, Clone)]
pub struct Page {
    pub limit: i64,
    /// The sort key of the last item of the previous page.
    pub after: Option<String>,
}

impl PageParams {
    pub fn page(&self) -> Result<Page, ApiError> {
        let limit = match self.limit {
            None => DEFAULT_LIMIT,
            Some(n) if n < 1 => return Err(ApiError::field("limit", "must be at least 1")),
            Some(n) => n.min(MAX_LIMIT),
        };
        let after = match &self.cursor {
            None => None,
            Some(c) if c.is_empty() => None,
            Some(c) => Some(decode_cursor(c)?),
        };
        Ok(Page { limit, after })
    }
}

pub fn encode_cursor(key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.as_bytes())
}

pub fn decode_cursor(c: &str) -> Result<String, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c.as_bytes())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| ApiError::field("cursor", "is not a cursor this server issued"))
}

/// `{"items": [...], "next_cursor": ...}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListResponse<T: ToSchema> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T: ToSchema> ListResponse<T> {
    /// Builds a page from up to `limit + 1` rows fetched in key order: the extra row only tells
    /// that another page exists.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> String) -> Self {
        let more = rows.len() as i64 > limit;
        if more {
            rows.truncate(limit as usize);
        }
        let next_cursor = if more {
            rows.last().map(|r| encode_cursor(&key(r)))
        } else {
            None
        };
        ListResponse {
            items: rows,
            next_cursor,
        }
    }
}

impl<T: ToSchema + Serialize> IntoResponse for ListResponse<T> {
    fn into_response(self) -> Response {
        axum::Json(self).into_response()
    }
}

fn etag(version: i32) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("digits are a valid header")
}

/// A single object with its ETag.
pub struct Tagged<T>(pub i32, pub T);

impl<T: Serialize> IntoResponse for Tagged<T> {
    fn into_response(self) -> Response {
        let mut resp = axum::Json(self.1).into_response();
        resp.headers_mut().insert(header::ETAG, etag(self.0));
        resp
    }
}

/// 201 with `Location` and, when the object is versioned, its ETag.
pub struct Created<T> {
    pub location: String,
    pub version: Option<i32>,
    pub body: T,
}

impl<T: Serialize> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        let mut resp = (StatusCode::CREATED, axum::Json(self.body)).into_response();
        if let Ok(v) = HeaderValue::from_str(&self.location) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        if let Some(v) = self.version {
            resp.headers_mut().insert(header::ETAG, etag(v));
        }
        resp
    }
}

/// Raw bytes in a request or response body (an image upload or download): in OpenAPI a string
/// of format `binary`, so that clients and Swagger UI send and save files.
pub struct Binary;

impl utoipa::PartialSchema for Binary {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Binary,
            )))
            .into()
    }
}

impl utoipa::ToSchema for Binary {}
