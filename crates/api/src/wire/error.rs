//! One error type for every handler, rendered as RFC 9457 `application/problem+json`. Driver and
//! internal text never reaches a client: it goes to the log, and the client gets a generic detail.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use sluice_domain::{Error, Violation};
use std::fmt;

use crate::wire::problems::{self, ProblemType};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field, located by a JSON pointer into the request as the client sent it.
#[derive(Debug, Clone, Serialize)]
pub struct FieldProblem {
    pub pointer: String,
    pub message: String,
}

impl FieldProblem {
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

/// Where an invalid field is: already in a version's wire names (a DTO or extractor found it), or
/// in the domain's names, which the version that answers maps to its own ([`ApiError::render`]).
#[derive(Debug)]
enum Located {
    Wire(FieldProblem),
    Domain(Violation),
}

/// A version's wire name for a domain field name; `None` keeps the domain's name.
pub type WireNames = fn(&str) -> Option<&'static str>;

#[derive(Debug)]
pub struct ApiError {
    problem: ProblemType,
    detail: String,
    errors: Vec<Located>,
    /// Seconds after which a retry may succeed, sent as `Retry-After`.
    retry_after: Option<u32>,
}

/// How long a client should wait before retrying when a backing service is unavailable: long
/// enough for a pooler restart or a failover to finish.
pub const RETRY_AFTER_SECS: u32 = 5;

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [FieldProblem],
}

impl ApiError {
    pub fn new(problem: ProblemType, detail: impl Into<String>) -> Self {
        Self {
            problem,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// Says that a retry after `secs` seconds may succeed.
    #[must_use]
    pub fn retry_after(mut self, secs: u32) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(problems::BAD_REQUEST, detail)
    }

    /// A required query parameter is absent: 400, with the parameter's pointer.
    pub fn missing_parameter(name: &str) -> Self {
        let mut error = Self::bad_request(format!("the {name} parameter is required"));
        error.errors.push(Located::Wire(FieldProblem {
            pointer: format!("/{name}"),
            message: "is required".into(),
        }));
        error
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(problems::NOT_FOUND, detail)
    }

    fn validation() -> Self {
        Self::new(problems::VALIDATION, "see errors for each invalid field")
    }

    /// Invalid fields the domain found, in its own names.
    pub fn invalid(violations: Vec<Violation>) -> Self {
        let mut error = Self::validation();
        error.errors = violations.into_iter().map(Located::Domain).collect();
        error
    }

    /// Invalid fields found on the wire, already located in the version's names.
    pub fn invalid_fields(problems: Vec<FieldProblem>) -> Self {
        let mut error = Self::validation();
        error.errors = problems.into_iter().map(Located::Wire).collect();
        error
    }

    pub fn invalid_field(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid_fields(vec![FieldProblem {
            pointer: pointer.into(),
            message: message.into(),
        }])
    }

    /// Moves every wire pointer under `prefix`, for a document parsed out of a larger one.
    pub fn under(mut self, prefix: &str) -> Self {
        for error in &mut self.errors {
            if let Located::Wire(problem) = error {
                problem.pointer = format!("{prefix}{}", problem.pointer);
            }
        }
        self
    }

    /// Whether some field is located in the domain's names, which a version renames.
    pub fn names_domain_fields(&self) -> bool {
        self.errors.iter().any(|e| matches!(e, Located::Domain(_)))
    }

    /// The problem document, domain field names mapped by `names`.
    pub fn render(&self, names: WireNames) -> HttpResponse {
        let errors: Vec<FieldProblem> = self
            .errors
            .iter()
            .map(|located| match located {
                Located::Wire(problem) => problem.clone(),
                Located::Domain(violation) => FieldProblem {
                    pointer: violation.path.to_pointer(names),
                    message: violation.message.clone(),
                },
            })
            .collect();
        let body = ProblemBody {
            kind: self.problem.uri,
            title: self.problem.title,
            status: self.problem.status.as_u16(),
            detail: &self.detail,
            errors: &errors,
        };
        let mut response = HttpResponse::build(self.problem.status);
        if let Some(secs) = self.retry_after {
            response.insert_header(("Retry-After", secs.to_string()));
        }
        response.content_type(PROBLEM_JSON).json(body)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.problem.status.as_u16(),
            self.problem.title,
            self.detail
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.problem.status
    }

    /// In the domain's names; each version's scope renames them (`wire::naming`).
    fn error_response(&self) -> HttpResponse {
        self.render(|_| None)
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        match err {
            Error::NotFound { entity, key } => {
                Self::not_found(format!("{entity} {key} does not exist"))
            }
            Error::Invalid(violations) => Self::invalid(violations),
            Error::Conflict(detail) => Self::new(problems::CONFLICT, detail),
            Error::Stale { entity, key } => Self::new(
                problems::PRECONDITION_FAILED,
                format!("{entity} {key} changed since it was read: read it again"),
            ),
            Error::IllegalTransition { from, to } => Self::new(
                problems::ILLEGAL_TRANSITION,
                format!("the flow is {from} and cannot become {to}"),
            ),
            Error::Unavailable(detail) => {
                tracing::error!(error = %detail, "a backing service is unavailable");
                Self::new(
                    problems::UNAVAILABLE,
                    "a backing service does not answer; try again later",
                )
                .retry_after(RETRY_AFTER_SECS)
            }
            // Not a fault, nor a passing one: no error logged, no Retry-After.
            Error::NotConfigured(detail) => Self::new(problems::NOT_CONFIGURED, detail),
            Error::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                Self::new(
                    problems::INTERNAL,
                    "something went wrong on our side; it has been logged",
                )
            }
        }
    }
}

pub async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found(format!(
        "there is nothing at {} {}",
        req.method(),
        req.path()
    )))
}
