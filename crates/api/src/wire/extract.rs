//! Extractor settings and body parsing that turn malformed requests into problems: malformed
//! JSON 400, wrong content type 415, too large 413, wrong shape 422 with a pointer.

use crate::wire::problems;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::web;
use serde::de::DeserializeOwned;

use sluice_domain::page::{MAX_KEYSET_LIMIT, MAX_LIMIT, MAX_OFFSET};

use crate::wire::limits::is_body_timeout;
use crate::wire::strict_json::ObjectsForStructs;
use crate::{ApiError, MAX_BODY_BYTES};

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_BODY_BYTES)
        .error_handler(|err, _req| {
            match err {
                JsonPayloadError::ContentType => ApiError::new(
                    problems::UNSUPPORTED_MEDIA_TYPE,
                    "send the body as application/json",
                ),
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => ApiError::new(
                    problems::PAYLOAD_TOO_LARGE,
                    format!("the body must be at most {MAX_BODY_BYTES} bytes"),
                ),
                JsonPayloadError::Deserialize(e) => {
                    ApiError::bad_request(format!("the body is not valid JSON: {e}"))
                }
                JsonPayloadError::Payload(e) if is_body_timeout(&e) => ApiError::new(
                    problems::REQUEST_TIMEOUT,
                    "the body did not arrive in time; send it again",
                ),
                other => ApiError::bad_request(format!("the body could not be read: {other}")),
            }
            .into()
        })
}

/// The numeric query parameters and the rule each follows, said when a value is not a number
/// (the parser would only say "invalid digit found in string").
fn numeric_rules(path: &str) -> [(&'static str, String); 3] {
    // `/v2` pages (keyset or metadata) take up to 1000 rows, `/v1` pages up to 100.
    let max_limit = if path.starts_with("/v2") {
        MAX_KEYSET_LIMIT
    } else {
        MAX_LIMIT
    };
    [
        (
            "limit",
            format!("must be a whole number from 1 to {max_limit}"),
        ),
        (
            "offset",
            format!("must be a whole number from 0 to {MAX_OFFSET}"),
        ),
        (
            "after",
            "must be a whole number (a log line's id)".to_owned(),
        ),
    ]
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, req| {
        let given: Vec<(String, String)> =
            serde_urlencoded_pairs(req.query_string()).unwrap_or_default();
        // The route's pattern, not the path's text: `/v%32/flows` is routed as `/v2/flows`.
        let routed = req.match_pattern().unwrap_or_else(|| req.path().to_owned());
        for (name, rule) in numeric_rules(&routed) {
            let bad = given
                .iter()
                .any(|(key, value)| key == name && value.parse::<i64>().map_or(true, |n| n < 0));
            if bad {
                return ApiError::invalid_field(format!("/{name}"), rule).into();
            }
        }
        let detail = match err {
            QueryPayloadError::Deserialize(e) => crate::wire::serde_words::plain(&e.to_string()),
            _ => "the query string could not be read".to_owned(),
        };
        ApiError::new(
            problems::VALIDATION,
            format!("invalid query parameters: {detail}"),
        )
        .into()
    })
}

/// Reads a query string whose filters may repeat (`dataset=a&dataset=b` into a `Vec`), as the
/// `/v2` metadata lists take them. A `limit` that is not a number says its rule
/// (`limit_rule`), not the parser's words; an unknown parameter is named.
///
/// # Errors
/// `ApiError` 422 naming the parameter at fault.
pub fn from_repeated_query<T: DeserializeOwned>(
    query: &str,
    limit_rule: &str,
) -> Result<T, ApiError> {
    serde_html_form::from_str(query).map_err(|err| {
        let given = serde_urlencoded_pairs(query).unwrap_or_default();
        if given
            .iter()
            .any(|(key, value)| key == "limit" && value.parse::<u64>().is_err())
        {
            return ApiError::invalid_field("/limit", limit_rule);
        }
        ApiError::new(
            problems::VALIDATION,
            format!(
                "invalid query parameters: {}",
                crate::wire::serde_words::plain(&err.to_string())
            ),
        )
    })
}

/// Checks the body of an operation that takes none: nothing, or `{}`. Anything else would be
/// a request the client believes says something (`{"flow_input": …}` on a rerun) that is not
/// heard.
///
/// # Errors
/// 400 for a body that is not JSON, 422 for one that holds anything.
pub fn no_body(body: &[u8]) -> Result<(), ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(fields)) if fields.is_empty() => Ok(()),
        Ok(_) => Err(ApiError::new(
            problems::VALIDATION,
            "this operation takes no body: send none, or {}",
        )),
        Err(e) => Err(ApiError::bad_request(format!(
            "the body is not valid JSON: {e}"
        ))),
    }
}

/// The query string's name and value pairs, decoded.
fn serde_urlencoded_pairs(query: &str) -> Option<Vec<(String, String)>> {
    web::Query::<Vec<(String, String)>>::from_query(query)
        .ok()
        .map(web::Query::into_inner)
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_err: PathError, req| {
        // The parser's words ("can not parse \"abc\" to a i64") say nothing a client needs.
        ApiError::not_found(format!(
            "there is nothing at {}: ids are whole numbers",
            req.path()
        ))
        .into()
    })
}

/// Reads a JSON document into a request DTO; a field of the wrong shape is a 422 pointing at it.
///
/// # Errors
/// `ApiError` 422 with the JSON pointer of the offending field.
pub fn from_json<T: DeserializeOwned>(body: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(ObjectsForStructs(body)).map_err(|err| {
        let pointer = pointer_of(err.path());
        ApiError::invalid_field(
            pointer,
            crate::wire::serde_words::plain(&err.inner().to_string()),
        )
    })
}

fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => pointer.push_str(&format!("/{index}")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                pointer.push('/');
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
            }
            Segment::Unknown => {}
        }
    }
    pointer
}
