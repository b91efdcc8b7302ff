//! Each version's OpenAPI 3.1 document, generated from the handlers and DTOs
//! (`#[utoipa::path]` beside each handler, `ToSchema` on each DTO), served at
//! `/v1/openapi.json` and `/v2/openapi.json`, and `/docs`, Swagger UI over both, its assets
//! inside the binary.
//!
//! What every operation shares (keys and scopes, problem answers, conditional reads,
//! idempotency keys) is added here from the same rules the middleware applies, so the documents
//! cannot forget it.

mod docs;
mod shared;
pub mod words;

use actix_web::HttpResponse;
use actix_web::http::Method;
use std::sync::LazyLock;
use utoipa::OpenApi;

use crate::wire::endpoint::{Operation, Routes};

pub use docs::{docs_page, docs_root};

/// A version of the API, as its path prefix names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

impl Version {
    pub const ALL: [Version; 2] = [Version::V1, Version::V2];

    pub fn prefix(self) -> &'static str {
        match self {
            Version::V1 => "/v1",
            Version::V2 => "/v2",
        }
    }

    /// The document, built once.
    pub fn document(self) -> &'static utoipa::openapi::OpenApi {
        static V1: LazyLock<utoipa::openapi::OpenApi> =
            LazyLock::new(|| shared::finish(crate::v1::Document::openapi(), Version::V1));
        static V2: LazyLock<utoipa::openapi::OpenApi> =
            LazyLock::new(|| shared::finish(crate::v2::Document::openapi(), Version::V2));
        match self {
            Version::V1 => &V1,
            Version::V2 => &V2,
        }
    }

    /// The document as it is served and committed under `docs/openapi/`, written once.
    pub fn document_json(self) -> &'static str {
        fn written(version: Version) -> String {
            let mut json = serde_json::to_string_pretty(version.document())
                .expect("an OpenAPI document serializes");
            json.push('\n');
            json
        }
        static V1: LazyLock<String> = LazyLock::new(|| written(Version::V1));
        static V2: LazyLock<String> = LazyLock::new(|| written(Version::V2));
        match self {
            Version::V1 => &V1,
            Version::V2 => &V2,
        }
    }

    /// Every operation the version serves, with its full path and what it needs (`HEAD` left
    /// out: every `GET` answers it, with the same needs).
    pub fn served(self) -> Vec<Operation> {
        let mut served = Vec::new();
        actix_web::App::new().configure(|cfg| {
            let mut routes = Routes::new(cfg);
            match self {
                Version::V1 => crate::v1::routes(&mut routes),
                Version::V2 => crate::v2::routes(&mut routes),
            }
            served = routes
                .mounted()
                .iter()
                .filter(|operation| operation.method != Method::HEAD)
                .map(|operation| Operation {
                    path: format!("{}{}", self.prefix(), operation.path),
                    ..operation.clone()
                })
                .collect();
        });
        served
    }

    /// Every path and method the version serves.
    pub fn served_operations(self) -> Vec<(String, Method)> {
        (self.served().into_iter())
            .map(|operation| (operation.path, operation.method))
            .collect()
    }

    /// Every path and method the document describes.
    pub fn documented_operations(self) -> Vec<(String, Method)> {
        let mut documented = Vec::new();
        for (path, item) in &self.document().paths.paths {
            for (method, operation) in shared::operations(item) {
                if operation.is_some() {
                    documented.push((path.clone(), method));
                }
            }
        }
        documented
    }
}

/// The version's document (`GET /v1/openapi.json`, `GET /v2/openapi.json`).
pub fn serve(version: Version) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(version.document_json())
}
