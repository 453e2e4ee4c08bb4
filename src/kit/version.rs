//! Versions: every single object carries `version` (its ETag); a `PATCH` names the one it read
//! in `If-Match` (`IfMatch`, 412 when stale), locks the row, and makes the versioned update
//! `db::sql::update_versioned!` (`WHERE id = ? AND version = ?`), which also answers 412 when
//! another change won the race — so exactly one of several concurrent changes of one version
//! wins, on both backends.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::http::ApiError;

/// The version an `If-Match` header names, if one was sent (`*` is none): `PATCH` compares it
/// with the object's (`check`), and the versioned update makes that hold under concurrency
/// (`db::sql::update_versioned!`). A header that names no version of ours is 412.
#[derive(Debug, Clone, Copy, Default)]
pub struct IfMatch(pub Option<i32>);

impl IfMatch {
    /// 412 unless the header (when sent) names `current`.
    pub fn check(self, current: i32) -> super::Result<()> {
        match self.0 {
            Some(v) if v != current => Err(super::Error::Stale),
            _ => Ok(()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let Some(raw) = parts.headers.get(header::IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        let s = raw
            .to_str()
            .map_err(|_| ApiError::precondition_failed())?
            .trim();
        if s == "*" {
            return Ok(IfMatch(None));
        }
        let s = s.strip_prefix("W/").unwrap_or(s).trim_matches('"');
        s.parse::<i32>()
            .map(|v| IfMatch(Some(v)))
            .map_err(|_| ApiError::precondition_failed())
    }
}
