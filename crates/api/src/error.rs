//! One error type for every handler, rendered as RFC 9457 `application/problem+json`. Driver and
//! internal text never reaches a client: it goes to the log, and the client gets a generic detail.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use sluice_domain::{Error, Violation};
use std::fmt;

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, Serialize)]
pub struct FieldProblem {
    pub pointer: String,
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    title: &'static str,
    detail: String,
    errors: Vec<FieldProblem>,
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
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            kind,
            title,
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
        Self::new(
            StatusCode::BAD_REQUEST,
            "/problems/bad-request",
            "The request is malformed",
            detail,
        )
    }

    /// A required query parameter is absent: 400, with the parameter's pointer.
    pub fn missing_parameter(name: &str) -> Self {
        let mut error = Self::bad_request(format!("the {name} parameter is required"));
        error.errors.push(FieldProblem {
            pointer: format!("/{name}"),
            message: "is required".into(),
        });
        error
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "/problems/not-found",
            "Not found",
            detail,
        )
    }

    pub fn invalid(violations: Vec<Violation>) -> Self {
        let mut error = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "/problems/validation",
            "The request is invalid",
            "see errors for each invalid field",
        );
        error.errors = violations
            .into_iter()
            .map(|v| FieldProblem {
                pointer: v.pointer,
                message: v.message,
            })
            .collect();
        error
    }

    /// Moves every field pointer under `prefix`, for a document parsed out of a larger one.
    pub fn under(mut self, prefix: &str) -> Self {
        for error in &mut self.errors {
            error.pointer = format!("{prefix}{}", error.pointer);
        }
        self
    }

    pub fn invalid_field(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid(vec![Violation::new(pointer, message)])
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.title,
            self.detail
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let body = ProblemBody {
            kind: self.kind,
            title: self.title,
            status: self.status.as_u16(),
            detail: &self.detail,
            errors: &self.errors,
        };
        let mut response = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            response.insert_header(("Retry-After", secs.to_string()));
        }
        response.content_type(PROBLEM_JSON).json(body)
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        match err {
            Error::NotFound { entity, key } => {
                Self::not_found(format!("{entity} {key} does not exist"))
            }
            Error::Invalid(violations) => Self::invalid(violations),
            Error::Conflict(detail) => Self::new(
                StatusCode::CONFLICT,
                "/problems/conflict",
                "Conflict",
                detail,
            ),
            Error::IllegalTransition { from, to } => Self::new(
                StatusCode::CONFLICT,
                "/problems/illegal-transition",
                "The flow cannot change that way",
                format!("the flow is {from} and cannot become {to}"),
            ),
            Error::Unavailable(detail) => {
                tracing::error!(error = %detail, "a backing service is unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "/problems/unavailable",
                    "Service unavailable",
                    "a backing service does not answer; try again later",
                )
                .retry_after(RETRY_AFTER_SECS)
            }
            Error::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "/problems/internal",
                    "Internal error",
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
