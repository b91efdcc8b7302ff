//! Every problem type Sluice answers with, in one table: its stable URI (the RFC 9457 `type`,
//! relative to the service), its title and its status. A type's URI and meaning never change
//! once published; docs/api.md lists the same table.

use actix_web::http::StatusCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProblemType {
    pub uri: &'static str,
    pub title: &'static str,
    pub status: StatusCode,
    /// What its page says (behind a reference: every error answer carries its type).
    pub page: &'static ProblemPage,
}

/// What a problem type's page says beside its title and status.
#[derive(Debug, PartialEq, Eq)]
pub struct ProblemPage {
    /// When Sluice answers with it.
    pub when: &'static str,
    /// What a client does about it.
    pub advice: &'static str,
}

impl ProblemType {
    /// The last segment of its URI: `/problems/{slug}` serves its page.
    pub fn slug(&self) -> &'static str {
        self.uri.trim_start_matches("/problems/")
    }

    /// The type whose page `slug` names.
    pub fn by_slug(slug: &str) -> Option<Self> {
        ALL.into_iter().find(|p| p.slug() == slug)
    }
}

const fn problem(
    uri: &'static str,
    title: &'static str,
    status: StatusCode,
    page: &'static ProblemPage,
) -> ProblemType {
    ProblemType {
        uri,
        title,
        status,
        page,
    }
}

pub const BAD_REQUEST: ProblemType = problem(
    "/problems/bad-request",
    "The request is malformed",
    StatusCode::BAD_REQUEST,
    &ProblemPage {
        when: "The body is not JSON or gives a key twice, or a header (an Idempotency-Key) is malformed.",
        advice: "Fix the request as the detail says and send it again.",
    },
);
pub const UNAUTHENTICATED: ProblemType = problem(
    "/problems/unauthenticated",
    "An API key is needed",
    StatusCode::UNAUTHORIZED,
    &ProblemPage {
        when: "The request has no API key where one is needed, one that is not valid, or more than one.",
        advice: "Send one key, as `Authorization: Bearer <key>` or `X-API-Key: <key>`.",
    },
);
pub const FORBIDDEN: ProblemType = problem(
    "/problems/forbidden",
    "The API key may not do this",
    StatusCode::FORBIDDEN,
    &ProblemPage {
        when: "The key lacks the scope the operation needs; the detail names it.",
        advice: "Use a key with that scope (an admin creates one with `POST /v2/keys`).",
    },
);
pub const NOT_FOUND: ProblemType = problem(
    "/problems/not-found",
    "Not found",
    StatusCode::NOT_FOUND,
    &ProblemPage {
        when: "There is no resource with that id or name, or no such path.",
        advice: "Check the id or name; list the resources to find it.",
    },
);
pub const METHOD_NOT_ALLOWED: ProblemType = problem(
    "/problems/method-not-allowed",
    "Method not allowed",
    StatusCode::METHOD_NOT_ALLOWED,
    &ProblemPage {
        when: "The path does not take this method.",
        advice: "Use one of the methods the `Allow` header lists.",
    },
);
pub const REQUEST_TIMEOUT: ProblemType = problem(
    "/problems/request-timeout",
    "Request timeout",
    StatusCode::REQUEST_TIMEOUT,
    &ProblemPage {
        when: "The body did not arrive within `server.body_read_timeout_secs`.",
        advice: "Send the request again, its body at once.",
    },
);
pub const CONFLICT: ProblemType = problem(
    "/problems/conflict",
    "Conflict",
    StatusCode::CONFLICT,
    &ProblemPage {
        when: "The name is taken, the store is used by a flow input (on delete), or the flow has not ended (on rerun).",
        advice: "Choose another name, or do what the detail says first.",
    },
);
pub const ILLEGAL_TRANSITION: ProblemType = problem(
    "/problems/illegal-transition",
    "The flow cannot change that way",
    StatusCode::CONFLICT,
    &ProblemPage {
        when: "The flow's state machine refuses the change: cancelling a flow that has ended.",
        advice: "Read the flow: its state says what it can still do.",
    },
);
pub const IDEMPOTENCY_KEY_IN_USE: ProblemType = problem(
    "/problems/idempotency-key-in-use",
    "The first request with this key is still being answered",
    StatusCode::CONFLICT,
    &ProblemPage {
        when: "A request with the same Idempotency-Key is still in progress.",
        advice: "Wait a moment and send it again with the same key: it gets the first answer.",
    },
);
pub const PRECONDITION_FAILED: ProblemType = problem(
    "/problems/precondition-failed",
    "The resource changed since it was read",
    StatusCode::PRECONDITION_FAILED,
    &ProblemPage {
        when: "An `If-Match` names an `ETag` the resource no longer has: someone changed it since.",
        advice: "Read it again, apply your change to what it is now, and send that with its new `ETag`.",
    },
);
pub const PAYLOAD_TOO_LARGE: ProblemType = problem(
    "/problems/payload-too-large",
    "Payload too large",
    StatusCode::PAYLOAD_TOO_LARGE,
    &ProblemPage {
        when: "The body is over 1 MiB.",
        advice: "Send a smaller body.",
    },
);
pub const UNSUPPORTED_MEDIA_TYPE: ProblemType = problem(
    "/problems/unsupported-media-type",
    "Unsupported media type",
    StatusCode::UNSUPPORTED_MEDIA_TYPE,
    &ProblemPage {
        when: "The body is not in a media type the operation takes.",
        advice: "Send it with the `Content-Type` the operation documents (`application/json`).",
    },
);
pub const VALIDATION: ProblemType = problem(
    "/problems/validation",
    "The request is invalid",
    StatusCode::UNPROCESSABLE_ENTITY,
    &ProblemPage {
        when: "A field or query parameter is missing, of the wrong type, out of range or invalid.",
        advice: "Fix each field `errors[].pointer` names, as its message says.",
    },
);
pub const IDEMPOTENCY_KEY_REUSED: ProblemType = problem(
    "/problems/idempotency-key-reused",
    "This key was used for another request",
    StatusCode::UNPROCESSABLE_ENTITY,
    &ProblemPage {
        when: "The Idempotency-Key was sent before with another request.",
        advice: "Use a new key for a new request.",
    },
);
pub const TOO_MANY_REQUESTS: ProblemType = problem(
    "/problems/too-many-requests",
    "Too many requests",
    StatusCode::TOO_MANY_REQUESTS,
    &ProblemPage {
        when: "The client has `server.max_requests_per_client` requests in progress, or is past `api.rate_limit_per_second`; the detail says which.",
        advice: "Wait the seconds `Retry-After` gives, then send it again.",
    },
);
pub const INTERNAL: ProblemType = problem(
    "/problems/internal",
    "Internal error",
    StatusCode::INTERNAL_SERVER_ERROR,
    &ProblemPage {
        when: "Something went wrong inside Sluice; the log has the whole story under the request id.",
        advice: "Send it again later; if it persists, give an operator the `request_id`.",
    },
);
pub const UNAVAILABLE: ProblemType = problem(
    "/problems/unavailable",
    "Service unavailable",
    StatusCode::SERVICE_UNAVAILABLE,
    &ProblemPage {
        when: "The state database (or a source) does not answer.",
        advice: "Send it again after the seconds `Retry-After` gives.",
    },
);
pub const NOT_CONFIGURED: ProblemType = problem(
    "/problems/not-configured",
    "Not configured on this server",
    StatusCode::SERVICE_UNAVAILABLE,
    &ProblemPage {
        when: "A pipeline metadata endpoint whose source this server has none of; the detail names the setting.",
        advice: "Ask an operator to set it; `/readyz` lists the sources configured.",
    },
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
    PRECONDITION_FAILED,
    PAYLOAD_TOO_LARGE,
    UNSUPPORTED_MEDIA_TYPE,
    VALIDATION,
    IDEMPOTENCY_KEY_REUSED,
    TOO_MANY_REQUESTS,
    INTERNAL,
    UNAVAILABLE,
    NOT_CONFIGURED,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_is_found_by_its_slug() {
        for problem in ALL {
            assert_eq!(ProblemType::by_slug(problem.slug()), Some(problem));
            assert!(problem.uri.starts_with("/problems/"));
        }
        assert_eq!(ProblemType::by_slug("nothing"), None);
    }

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
