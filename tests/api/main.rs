//! The black-box suite in one binary (one link instead of one per file): each module starts the
//! real server and talks HTTP to it, on SQLite and on PostgreSQL.

#[macro_use]
mod common;
mod clinical;

mod accounts;
mod appointments;
mod audit;
mod auth;
mod bad_input;
mod billing;
mod care_team_joins;
mod command_line;
mod consent;
mod demo;
mod devices;
mod durability;
mod education;
mod fhir;
mod kit_defects;
mod lab;
mod login_throttle;
mod medical_records;
mod migrations;
mod notifications;
mod patients;
mod pharmacy;
mod portal;
mod referrals;
mod request_bodies;
mod route_table;
mod shutdown;
mod smoke;
mod surveys;
mod telemedicine;
