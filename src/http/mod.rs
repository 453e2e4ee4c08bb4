//! Shared HTTP plumbing: errors, the JSON and query extractors, pagination, ETags.

pub mod contract;
pub mod error;
pub mod middleware;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub use error::{ApiError, FieldError, Problem};

/// A JSON body: 415 unless the content type is JSON, 413 past the body limit, 400 when it is not
/// JSON at all, 422 (naming the field) when it is JSON of the wrong shape or has unknown fields.
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|ct| {
                let mime = ct
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                mime == "application/json"
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "the body must be application/json",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload-too-large",
                        "the body is larger than the limit",
                    )
                } else {
                    ApiError::bad_request("the body could not be read")
                }
            })?;
        parse_json(&bytes).map(AppJson)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
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

fn decode_cursor(c: &str) -> Result<String, ApiError> {
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
