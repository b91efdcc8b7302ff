//! End-to-end tests: the built `sluice` binary over HTTP, on a temporary data folder.

mod auth;
mod ballista;
mod concurrent_appends;
mod databases;
mod drain;
mod support;

mod decimals;
mod deep_transforms;
mod flows;
mod generated_client;
mod handoff;
mod matrix;
mod memory_cap;
mod metadata;
mod mysql;
mod openapi_conformance;
mod operations;
mod path_spellings;
mod postgres_source;
mod postgres_target;
mod pushdown;
mod pushdown_numbers;
mod read_only_sources;
mod replicas;
mod rolling_deploy;
mod s3_stores;
mod secrets;
mod security;
mod starts_anywhere;
mod v2;
mod validation;
