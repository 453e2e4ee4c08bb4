//! One folder per domain, each laid out the same way (docs/ADDING_A_DOMAIN.md): `mod.rs` the
//! model and the rules, `store.rs` the queries of the domain's own tables, `routes.rs` the
//! handlers. A domain calls another's public functions, never its tables.

pub mod accounts;
pub mod appointments;
pub mod billing;
pub mod consent;
pub mod devices;
pub mod lab;
pub mod notifications;
pub mod patients;
pub mod pharmacy;
pub mod portal;
pub mod records;
pub mod referrals;
pub mod telemedicine;

use utoipa_axum::router::OpenApiRouter;

use crate::kit::AppState;

/// Every domain's routes, mounted under `/api/v1`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(accounts::router())
        .merge(patients::router())
        .merge(notifications::router())
        .merge(appointments::router())
        .merge(records::router())
        .merge(consent::router())
        .merge(telemedicine::router())
        .merge(lab::router())
        .merge(referrals::router())
        .merge(pharmacy::router())
        .merge(billing::router())
        .merge(devices::router())
        .merge(portal::router())
}
