//! The domain kit: the few shared pieces every domain is written with, so that a rule exists
//! once and a new domain cannot forget it (docs/ADDING_A_DOMAIN.md shows them in use).
//!
//! - access: every route states its permission (`routes::route`), enforced by `Ctx` before
//!   the handler; `Scope` (the patient compartment) answers reach for one object and filters
//!   list SQL;
//! - audit: a write runs in a `Tx` that carries its actor and records its entries with typed
//!   `Action`s and domain-declared `Resource`s; patient data leaves as `Audited<T>` through
//!   `Ctx::reveal`;
//! - versions: `IfMatch` (412) and the versioned update `update_versioned!` that every PATCH
//!   makes;
//! - errors: `Error`, mapped once to problem+json; unique violations named by their
//!   constraint (`UniqueExt`);
//! - types: id newtypes, `Timestamp` and `Date` parsed strictly at the edge, status enums with
//!   their state machines as data (`status`, `wire_enum!`).

pub mod backdate;
pub mod ctx;
pub mod error;
pub mod idempotency;
pub mod ids;
pub mod money;
pub mod routes;
pub mod state;
pub mod status;
pub mod time;
pub mod version;

pub use crate::audit::{Action, Resource};
pub use crate::auth::permissions::Perm;
pub use crate::auth::scope::{Condition, Level, Scope};
pub use ctx::{Actor, Audited, Ctx, MonitoringCtx, Tx, Visitor};
pub use error::{Error, FieldError, Result, UniqueExt, Validator};
pub use idempotency::{IdempotencyKey, Keyed};
pub use ids::{DoctorId, PatientId, UserId};
pub use money::Money;
pub use routes::{route, route_as, route_unaudited, Access};
pub use state::AppState;
pub use status::{Arrow, Machine, WireEnum};
pub use time::{Date, Timestamp};
pub use version::IfMatch;

/// For a PATCH field that may be cleared: absent → `None` (unchanged), `null` → `Some(None)`
/// (cleared), a value → `Some(Some(v))`. Use with `#[serde(default, deserialize_with =
/// "crate::kit::nullable")]`.
pub fn nullable<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}
