//! The error every domain function returns, mapped once to problem+json (`http::ApiError`).
//! Database errors convert here too: a missing row is 404, a foreign key 409, and a unique
//! violation 409 — named by the constraint that failed (`UniqueExt`), never by counting first.

use axum::http::StatusCode;

use crate::db::sql::UniqueKey;
use crate::db::DbError;
use crate::http::ApiError;
pub use crate::http::FieldError;

#[derive(Debug)]
pub enum Error {
    /// 422: the input is well-formed but wrong; every field that is.
    Invalid(Vec<FieldError>),
    /// 401: the credentials (a token, a chat ticket) are missing, expired, used or revoked.
    Unauthorized,
    /// 403: the caller's role may not do this, or the object is visible to them but this
    /// change is not theirs.
    Forbidden(String),
    /// 404: absent, or outside the caller's reach (never reveal which).
    NotFound,
    /// 409 with a problem type of its own (`conflict`, `booking-clash`, `consent-required`,
    /// `illegal-transition`, ...).
    Conflict { kind: &'static str, detail: String },
    /// 412: `If-Match` names another version, or another change moved it first.
    Stale,
    /// 429: too many attempts; retry after this many seconds.
    Throttled(u64),
    /// 503: the database (or the audit trail) cannot take this now.
    Unavailable(String),
    /// 500: a bug. The detail is logged, never sent.
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn field(field: &str, message: impl Into<String>) -> Error {
        Error::Invalid(vec![FieldError {
            field: field.to_string(),
            message: message.into(),
        }])
    }
    pub fn forbidden(detail: impl Into<String>) -> Error {
        Error::Forbidden(detail.into())
    }
    pub fn conflict(detail: impl Into<String>) -> Error {
        Error::Conflict {
            kind: "conflict",
            detail: detail.into(),
        }
    }
    /// 409 of a problem type of its own, e.g. `booking-clash`.
    pub fn conflict_of(kind: &'static str, detail: impl Into<String>) -> Error {
        Error::Conflict {
            kind,
            detail: detail.into(),
        }
    }
    pub fn internal(detail: impl std::fmt::Display) -> Error {
        Error::Internal(detail.to_string())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Invalid(errors) => write!(f, "invalid: {} field(s)", errors.len()),
            Error::Unauthorized => write!(f, "unauthorized"),
            Error::Forbidden(d) => write!(f, "forbidden: {d}"),
            Error::NotFound => write!(f, "not found"),
            Error::Conflict { kind, detail } => write!(f, "{kind}: {detail}"),
            Error::Stale => write!(f, "stale version"),
            Error::Throttled(secs) => write!(f, "throttled for {secs} s"),
            Error::Unavailable(d) => write!(f, "unavailable: {d}"),
            Error::Internal(d) => write!(f, "internal: {d}"),
        }
    }
}

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Error {
        use diesel::result::{DatabaseErrorKind, Error as D};
        match e {
            D::NotFound => Error::NotFound,
            D::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                Error::conflict("a resource with the same unique value already exists")
            }
            D::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
                Error::conflict("a referenced resource does not exist")
            }
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<DbError> for Error {
    fn from(e: DbError) -> Error {
        match e {
            DbError::Unavailable(why) => Error::Unavailable(why),
            DbError::Failed(why) => Error::Internal(why),
        }
    }
}

impl From<Error> for ApiError {
    /// The one mapping of domain errors to problem+json.
    fn from(e: Error) -> ApiError {
        match e {
            Error::Invalid(errors) => ApiError::validation(errors),
            Error::Unauthorized => ApiError::unauthorized(),
            Error::Forbidden(detail) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", detail),
            Error::NotFound => ApiError::not_found(),
            Error::Conflict { kind, detail } => ApiError::new(StatusCode::CONFLICT, kind, detail),
            Error::Stale => ApiError::precondition_failed(),
            Error::Throttled(secs) => ApiError::too_many(secs),
            Error::Unavailable(why) => ApiError::unavailable(why),
            Error::Internal(why) => ApiError::internal(why),
        }
    }
}

/// Names the conflict of a write that violated a known unique key.
pub trait UniqueExt<T> {
    /// A violation of `key` becomes a 409 saying `detail`; other errors convert as usual.
    fn unique(self, key: UniqueKey, detail: &str) -> Result<T>;
}

impl<T> UniqueExt<T> for std::result::Result<T, diesel::result::Error> {
    fn unique(self, key: UniqueKey, detail: &str) -> Result<T> {
        self.map_err(|e| {
            if key.violated_by(&e) {
                Error::conflict(detail)
            } else {
                Error::from(e)
            }
        })
    }
}

/// Collects per-field validation errors, then fails once with all of them.
#[derive(Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    pub fn new() -> Validator {
        Validator::default()
    }
    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_string(),
            message: message.into(),
        });
    }
    pub fn check(&mut self, ok: bool, field: &str, message: &str) {
        if !ok {
            self.error(field, message);
        }
    }
    /// A required text field: trimmed length within bounds.
    pub fn text(&mut self, field: &str, value: &str, min: usize, max: usize) {
        let n = value.trim().chars().count();
        if n < min {
            self.error(
                field,
                if min <= 1 {
                    "must not be empty".to_string()
                } else {
                    format!("must be at least {min} characters")
                },
            );
        } else if value.chars().count() > max {
            self.error(field, format!("must be at most {max} characters"));
        }
    }
    pub fn opt_text(&mut self, field: &str, value: Option<&str>, max: usize) {
        if let Some(v) = value {
            if v.chars().count() > max {
                self.error(field, format!("must be at most {max} characters"));
            }
        }
    }
    pub fn email(&mut self, field: &str, value: &str) {
        let v = value.trim();
        let ok = v.len() <= 254
            && v.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !v.contains(char::is_whitespace)
            });
        if !ok {
            self.error(field, "must be a valid email address");
        }
    }
    pub fn one_of(&mut self, field: &str, value: &str, allowed: &[&str]) {
        if !allowed.contains(&value) {
            self.error(field, format!("must be one of: {}", allowed.join(", ")));
        }
    }
    /// Parses a query parameter or field with `parse`, recording its message on failure.
    pub fn parsed<T>(
        &mut self,
        field: &str,
        value: Option<&str>,
        parse: impl FnOnce(&str) -> std::result::Result<T, &'static str>,
    ) -> Option<T> {
        match parse(value?) {
            Ok(v) => Some(v),
            Err(why) => {
                self.error(field, why);
                None
            }
        }
    }
    pub fn finish(self) -> Result<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self.errors))
        }
    }
}
