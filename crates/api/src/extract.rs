//! Extractor settings and body parsing that turn malformed requests into problems: malformed
//! JSON 400, wrong content type 415, too large 413, wrong shape 422 with a pointer.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::web;
use serde::de::DeserializeOwned;

use crate::{ApiError, MAX_BODY_BYTES};

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_BODY_BYTES)
        .error_handler(|err, _req| {
            match err {
                JsonPayloadError::ContentType => ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "/problems/unsupported-media-type",
                    "Unsupported media type",
                    "send the body as application/json",
                ),
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "/problems/payload-too-large",
                    "Payload too large",
                    format!("the body must be at most {MAX_BODY_BYTES} bytes"),
                ),
                JsonPayloadError::Deserialize(e) => {
                    ApiError::bad_request(format!("the body is not valid JSON: {e}"))
                }
                other => ApiError::bad_request(format!("the body could not be read: {other}")),
            }
            .into()
        })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let detail = match err {
            QueryPayloadError::Deserialize(e) => e.to_string(),
            other => other.to_string(),
        };
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "/problems/validation",
            "The request is invalid",
            format!("invalid query parameters: {detail}"),
        )
        .into()
    })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err: PathError, req| {
        ApiError::not_found(format!("there is nothing at {}: {err}", req.path())).into()
    })
}

/// Reads a JSON document into a request DTO; a field of the wrong shape is a 422 pointing at it.
///
/// # Errors
/// `ApiError` 422 with the JSON pointer of the offending field.
pub fn from_json<T: DeserializeOwned>(body: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(body).map_err(|err| {
        let pointer = pointer_of(err.path());
        ApiError::invalid_field(pointer, err.inner().to_string())
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
