//! One folder per domain: its entities, routes and rules.

pub mod accounts;
pub mod appointments;
pub mod consent;
pub mod notifications;
pub mod patients;
pub mod records;
