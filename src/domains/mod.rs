//! One folder per domain: its entities, routes and rules.

pub mod accounts;
pub mod notifications;
pub mod patients;
