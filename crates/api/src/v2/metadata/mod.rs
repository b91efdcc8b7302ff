//! `/v2` pipeline metadata: snake_case keys, typed values (numbers as numbers, an empty source
//! string as `null`), repeatable filters on the issue log, and cursor pages as every `/v2` list
//! has them.

pub(super) mod collection;
pub(super) mod configuration;
mod export;
pub(super) mod issues;
pub(super) mod performance;
pub(super) mod specification;
mod typed;

use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use crate::wire::cursor::ListPage;

/// What a `limit` that is not a number is told.
const LIMIT_RULE: &str = "must be a whole number from 1 to 1000";

/// A 200 with the page and, when another follows, its `Link`.
fn respond<T: Serialize>(req: &HttpRequest, page: ListPage<T>) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    if let Some(link) = page.link(req) {
        response.insert_header(("Link", link));
    }
    response.json(page)
}
