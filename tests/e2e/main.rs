//! End-to-end tests: the built `sluice` binary over HTTP, on a temporary data folder.

mod auth;
mod ballista;
mod contract;
mod databases;
mod drain;
mod support;

mod decimals;
mod flows;
mod handoff;
mod matrix;
mod memory_cap;
mod metadata;
mod mysql;
mod operations;
mod postgres_source;
mod postgres_target;
mod pushdown;
mod replicas;
mod rolling_deploy;
mod s3_stores;
mod secrets;
mod security;
mod v2;
mod validation;
