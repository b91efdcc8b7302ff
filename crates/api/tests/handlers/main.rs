//! The handlers through actix-web's test server, on in-memory ports: status codes, headers and
//! problem documents.

mod flows;
mod metadata;
mod metadata_v2;
mod openapi_document;
mod support;
