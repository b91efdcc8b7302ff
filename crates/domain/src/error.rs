//! The one error type of the domain. Adapters translate their drivers' errors into it, so the
//! layers above never see a driver type.

use crate::flow::FlowState;

/// One invalid field of a request, located by a JSON pointer into the request as the client sent it
/// (`/transforms/1/sql`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub pointer: String,
    pub message: String,
}

impl Violation {
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `key` is what the client named it by: an id, a table name.
    #[error("{entity} {key} does not exist")]
    NotFound { entity: &'static str, key: String },

    #[error("the request is invalid: {}", summarize(.0))]
    Invalid(Vec<Violation>),

    #[error("{0}")]
    Conflict(String),

    #[error("a flow cannot go from {from} to {to}")]
    IllegalTransition { from: FlowState, to: FlowState },

    /// A backing service (the metadata store) did not answer.
    #[error("a backing service is unavailable: {0}")]
    Unavailable(String),

    #[error("internal error: {0}")]
    Internal(String),
}

fn summarize(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.pointer, v.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    pub fn invalid(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![Violation::new(pointer, message)])
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
