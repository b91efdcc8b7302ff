//! Every problem type Sluice answers with, in one table: its stable URI (the RFC 9457 `type`,
//! relative to the service), its title and its status. A type's URI and meaning never change
//! once published; docs/api.md lists the same table.

use actix_web::http::StatusCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProblemType {
    pub uri: &'static str,
    pub title: &'static str,
    pub status: StatusCode,
}

const fn problem(uri: &'static str, title: &'static str, status: StatusCode) -> ProblemType {
    ProblemType { uri, title, status }
}

pub const BAD_REQUEST: ProblemType = problem(
    "/problems/bad-request",
    "The request is malformed",
    StatusCode::BAD_REQUEST,
);
pub const UNAUTHENTICATED: ProblemType = problem(
    "/problems/unauthenticated",
    "An API key is needed",
    StatusCode::UNAUTHORIZED,
);
pub const FORBIDDEN: ProblemType = problem(
    "/problems/forbidden",
    "The API key may not do this",
    StatusCode::FORBIDDEN,
);
pub const NOT_FOUND: ProblemType =
    problem("/problems/not-found", "Not found", StatusCode::NOT_FOUND);
pub const METHOD_NOT_ALLOWED: ProblemType = problem(
    "/problems/method-not-allowed",
    "Method not allowed",
    StatusCode::METHOD_NOT_ALLOWED,
);
pub const REQUEST_TIMEOUT: ProblemType = problem(
    "/problems/request-timeout",
    "Request timeout",
    StatusCode::REQUEST_TIMEOUT,
);
pub const CONFLICT: ProblemType = problem("/problems/conflict", "Conflict", StatusCode::CONFLICT);
pub const ILLEGAL_TRANSITION: ProblemType = problem(
    "/problems/illegal-transition",
    "The flow cannot change that way",
    StatusCode::CONFLICT,
);
pub const IDEMPOTENCY_KEY_IN_USE: ProblemType = problem(
    "/problems/idempotency-key-in-use",
    "The first request with this key is still being answered",
    StatusCode::CONFLICT,
);
pub const PAYLOAD_TOO_LARGE: ProblemType = problem(
    "/problems/payload-too-large",
    "Payload too large",
    StatusCode::PAYLOAD_TOO_LARGE,
);
pub const UNSUPPORTED_MEDIA_TYPE: ProblemType = problem(
    "/problems/unsupported-media-type",
    "Unsupported media type",
    StatusCode::UNSUPPORTED_MEDIA_TYPE,
);
pub const VALIDATION: ProblemType = problem(
    "/problems/validation",
    "The request is invalid",
    StatusCode::UNPROCESSABLE_ENTITY,
);
pub const IDEMPOTENCY_KEY_REUSED: ProblemType = problem(
    "/problems/idempotency-key-reused",
    "This key was used for another request",
    StatusCode::UNPROCESSABLE_ENTITY,
);
pub const TOO_MANY_REQUESTS: ProblemType = problem(
    "/problems/too-many-requests",
    "Too many requests",
    StatusCode::TOO_MANY_REQUESTS,
);
pub const RATE_LIMITED: ProblemType = problem(
    "/problems/rate-limited",
    "Past the rate limit",
    StatusCode::TOO_MANY_REQUESTS,
);
pub const INTERNAL: ProblemType = problem(
    "/problems/internal",
    "Internal error",
    StatusCode::INTERNAL_SERVER_ERROR,
);
pub const UNAVAILABLE: ProblemType = problem(
    "/problems/unavailable",
    "Service unavailable",
    StatusCode::SERVICE_UNAVAILABLE,
);
pub const NOT_CONFIGURED: ProblemType = problem(
    "/problems/not-configured",
    "Not configured on this server",
    StatusCode::SERVICE_UNAVAILABLE,
);

/// The table, in status order.
pub const ALL: [ProblemType; 18] = [
    BAD_REQUEST,
    UNAUTHENTICATED,
    FORBIDDEN,
    NOT_FOUND,
    METHOD_NOT_ALLOWED,
    REQUEST_TIMEOUT,
    CONFLICT,
    ILLEGAL_TRANSITION,
    IDEMPOTENCY_KEY_IN_USE,
    PAYLOAD_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
    VALIDATION,
    IDEMPOTENCY_KEY_REUSED,
    TOO_MANY_REQUESTS,
    RATE_LIMITED,
    INTERNAL,
    UNAVAILABLE,
    NOT_CONFIGURED,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_its_own_uri() {
        let mut uris: Vec<&str> = ALL.iter().map(|p| p.uri).collect();
        uris.sort_unstable();
        uris.dedup();
        assert_eq!(uris.len(), ALL.len());
    }

    /// docs/api.md lists the same table a client reads.
    #[test]
    fn the_documentation_lists_every_type() {
        let doc = include_str!("../../../../docs/api.md");
        for problem in ALL {
            let row = format!(
                "| `{}` | {} | {} |",
                problem.uri,
                problem.status.as_u16(),
                problem.title
            );
            assert!(doc.contains(&row), "docs/api.md lacks the row {row}");
        }
    }
}
