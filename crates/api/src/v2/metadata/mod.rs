//! `/v2` pipeline metadata: snake_case keys, typed values (numbers as numbers, an empty source
//! string as `null`), repeatable filters on the issue log, and cursor pages as every `/v2` list
//! has them.

pub(super) mod collection;
pub(super) mod configuration;
mod export;
pub(super) mod issues;
pub(super) mod performance;
mod schemas;
pub(super) mod specification;
mod typed;

use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::wire::cursor::ListPage;
use export::ExportFormat;

/// What a `limit` that is not a number is told.
const LIMIT_RULE: &str = "must be a whole number from 1 to 1000";

/// A 200 with the page and, when another follows, its `Link`.
fn respond<T: Serialize>(req: &HttpRequest, page: ListPage<T>) -> HttpResponse {
    page.respond(req)
}

/// A strong tag for the answer to `req` while the files it is read from keep `version`: answers
/// differ by path, query and format, and by nothing else.
fn version_tag(req: &HttpRequest, version: &str, format: Option<ExportFormat>) -> String {
    let mut hash = Sha256::new();
    for part in [
        version,
        req.path(),
        req.query_string(),
        format.map_or("json", ExportFormat::extension),
    ] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    format!("\"v{}\"", hex::encode(&hash.finalize()[..16]))
}
