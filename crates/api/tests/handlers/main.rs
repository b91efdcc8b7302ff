//! The handlers through actix-web's test server, on in-memory ports: status codes, headers and
//! problem documents.

mod contract;
mod flows;
mod metadata;
mod metadata_v2;
mod support;
