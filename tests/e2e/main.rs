//! End-to-end tests: the built `sluice` binary over HTTP, on a temporary data folder.

mod support;

mod flows;
mod metadata;
mod operations;
mod postgres_source;
mod replicas;
mod secrets;
mod validation;
