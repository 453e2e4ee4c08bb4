//! healthapi: a health-data HTTP API in one binary, on SQLite or PostgreSQL.

pub mod app;
pub mod audit;
pub mod auth;
pub mod blob;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod domains;
pub mod fhir;
pub mod http;
pub mod kit;
pub mod log_buffer;
pub mod ops;
pub mod realtime;
pub mod sys;
