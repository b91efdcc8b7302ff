//! Announcing a version's end: when the operator sets its dates, every answer of the version
//! carries `Deprecation` (RFC 9745, a structured-field date such as `@1735689600`), `Sunset`
//! (RFC 8594, an HTTP date) and `Link: <…>; rel="successor-version"` to the same resource on the
//! version that replaces it.

use actix_web::Error;
use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, LINK};
use actix_web::middleware::Next;
use chrono::{DateTime, Utc};

/// When a version is deprecated and when it goes; neither set means it is current.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deprecation {
    pub deprecated_at: Option<DateTime<Utc>>,
    pub sunset_at: Option<DateTime<Utc>>,
}

impl Deprecation {
    pub fn is_announced(&self) -> bool {
        self.deprecated_at.is_some() || self.sunset_at.is_some()
    }
}

/// The middleware for `/v1`'s scope.
///
/// # Errors
/// What the wrapped service fails with.
pub async fn announce_v1_end(
    deprecation: Deprecation,
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let successor = v2_successor(req.path());
    let mut res = next.call(req).await?;
    if !deprecation.is_announced() {
        return Ok(res);
    }
    let headers = res.headers_mut();
    if let Some(at) = deprecation.deprecated_at
        && let Ok(value) = HeaderValue::from_str(&format!("@{}", at.timestamp()))
    {
        headers.insert(HeaderName::from_static("deprecation"), value);
    }
    if let Some(at) = deprecation.sunset_at
        && let Ok(value) =
            HeaderValue::from_str(&at.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
    {
        headers.insert(HeaderName::from_static("sunset"), value);
    }
    if let Ok(value) = HeaderValue::from_str(&format!("<{successor}>; rel=\"successor-version\"")) {
        headers.append(LINK, value);
    }
    Ok(res)
}

/// The `/v2` resource that replaces a `/v1` path: the same path where `/v2` has it (flows, flow
/// inputs, which keep their ids), else the `/v2` collection.
fn v2_successor(v1_path: &str) -> String {
    let rest = v1_path.strip_prefix("/v1").unwrap_or(v1_path);
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["flows", "cancel", id] => format!("/v2/flows/{id}/cancel"),
        ["flows", ..] | ["flow-inputs", _] => format!("/v2{rest}"),
        ["flow-inputs"] => "/v2/flow-inputs".into(),
        ["data-stores", ..] => "/v2/data-stores".into(),
        _ => "/v2/flows".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_v1_path_points_at_its_v2_successor() {
        assert_eq!(v2_successor("/v1/flows/12"), "/v2/flows/12");
        assert_eq!(v2_successor("/v1/flows/cancel/12"), "/v2/flows/12/cancel");
        assert_eq!(v2_successor("/v1/flow-inputs/3"), "/v2/flow-inputs/3");
        assert_eq!(v2_successor("/v1/data-stores/3"), "/v2/data-stores");
    }
}
