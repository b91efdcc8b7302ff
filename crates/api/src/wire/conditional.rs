//! Conditional reads: every successful `GET` answer carries a strong `ETag` (a hash of its body),
//! and a request whose `If-None-Match` names it gets `304 Not Modified` without the body, so a
//! client polling a flow or a page moves no bytes until something changed.
//!
//! A handler that knows the version of what its answer is read from tags the answer itself
//! ([`tagged`]) and answers [`not_modified`] before reading anything when the client's tag is
//! current ([`is_current`]); such answers (exports included, which are never hashed) pass
//! through the middleware as they are.

use actix_web::body::{BodySize, BoxBody, MessageBody, to_bytes};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{ETAG, HeaderValue, IF_NONE_MATCH};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse};
use sha2::{Digest, Sha256};

/// Bodies larger than this are sent as they are, without a tag: hashing them would mean holding
/// them whole.
const MAX_TAGGED_BYTES: u64 = 8 << 20;

/// The middleware (`App::wrap(from_fn(conditional_get))`).
///
/// # Errors
/// What the wrapped service fails with.
pub async fn conditional_get(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return next.call(req).await;
    }
    let wanted = req.headers().get(IF_NONE_MATCH).cloned();
    let res = next.call(req).await?;
    let sized = matches!(res.response().body().size(), BodySize::Sized(n) if n <= MAX_TAGGED_BYTES);
    if res.status() != StatusCode::OK || !sized || res.headers().contains_key(ETAG) {
        return Ok(res);
    }
    let (req, response) = res.into_parts();
    let (mut response, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body).await else {
        return Ok(ServiceResponse::new(
            req,
            response.set_body(BoxBody::new(())),
        ));
    };
    let tag = body_tag(&bytes);
    let Ok(value) = HeaderValue::from_str(&tag) else {
        return Ok(ServiceResponse::new(
            req,
            response.set_body(BoxBody::new(bytes)),
        ));
    };
    if wanted.as_ref().is_some_and(|wanted| matches(wanted, &tag)) {
        let mut not_modified = HttpResponse::NotModified().finish();
        not_modified.headers_mut().insert(ETAG, value);
        return Ok(ServiceResponse::new(req, not_modified));
    }
    response.headers_mut().insert(ETAG, value);
    Ok(ServiceResponse::new(
        req,
        response.set_body(BoxBody::new(bytes)),
    ))
}

/// Whether `req`'s `If-None-Match` names `tag`: the client holds the answer `tag` stands for.
pub(crate) fn is_current(req: &actix_web::HttpRequest, tag: &str) -> bool {
    req.headers()
        .get(IF_NONE_MATCH)
        .is_some_and(|wanted| matches(wanted, tag))
}

/// A `304 Not Modified` for the answer `tag` stands for.
pub(crate) fn not_modified(tag: &str) -> HttpResponse {
    HttpResponse::NotModified()
        .insert_header((ETAG, tag.to_owned()))
        .finish()
}

/// `response` with `tag` as its `ETag` (the middleware leaves a tagged answer as it is).
pub(crate) fn tagged(mut response: HttpResponse, tag: Option<&str>) -> HttpResponse {
    if let Some(value) = tag.and_then(|t| HeaderValue::from_str(t).ok()) {
        response.headers_mut().insert(ETAG, value);
    }
    response
}

/// The strong tag of an answer whose body is `bytes`, as every `GET` carries it.
pub(crate) fn body_tag(bytes: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(bytes)[..16]))
}

/// Whether an `If-Match` list names `tag` (or is `*`): by strong comparison, as RFC 9110 asks
/// for this header, so a weak tag never matches.
pub(crate) fn tag_matches(wanted: &str, tag: &str) -> bool {
    wanted
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == tag)
}

/// Whether an `If-None-Match` list names `tag` (or is `*`); weak tags compare by their value, as
/// RFC 9110 asks for this header.
fn matches(wanted: &HeaderValue, tag: &str) -> bool {
    wanted.to_str().is_ok_and(|list| {
        list.split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == tag)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_takes_lists_weak_tags_and_a_star() {
        let tag = "\"abc\"";
        for list in ["\"abc\"", "\"x\", \"abc\"", "W/\"abc\"", "*"] {
            assert!(matches(&HeaderValue::from_static(list), tag), "{list}");
        }
        assert!(!matches(&HeaderValue::from_static("\"abd\""), tag));
    }

    #[test]
    fn if_match_compares_strongly() {
        let tag = "\"abc\"";
        for list in ["\"abc\"", "\"x\", \"abc\"", "*"] {
            assert!(tag_matches(list, tag), "{list}");
        }
        assert!(!tag_matches("W/\"abc\"", tag));
    }
}
