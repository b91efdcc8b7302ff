//! The one error type of the domain. Adapters translate their drivers' errors into it, so the
//! layers above never see a driver type.

use std::borrow::Cow;

use crate::flow::FlowState;

/// Where in a request a problem is, in the domain's own names:
/// `FieldPath::new("sources").index(0).field("alias")`. Each API version maps the names to its
/// wire names (`/sources/0/as` on `/v1`), so the domain never writes a version's JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath(Vec<PathSegment>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    /// A field of the domain's types, or a parameter the client named (a filter column).
    Field(Cow<'static, str>),
    Index(usize),
}

impl FieldPath {
    pub fn new(field: impl Into<Cow<'static, str>>) -> Self {
        Self(vec![PathSegment::Field(field.into())])
    }

    #[must_use]
    pub fn field(mut self, field: impl Into<Cow<'static, str>>) -> Self {
        self.0.push(PathSegment::Field(field.into()));
        self
    }

    #[must_use]
    pub fn index(mut self, index: usize) -> Self {
        self.0.push(PathSegment::Index(index));
        self
    }

    pub fn segments(&self) -> &[PathSegment] {
        &self.0
    }

    /// An RFC 6901 JSON pointer, each field renamed by `wire_name` where it gives a name (a
    /// version's wire name for a domain name) and kept otherwise.
    pub fn to_pointer(&self, wire_name: impl Fn(&str) -> Option<&'static str>) -> String {
        let mut pointer = String::new();
        for segment in &self.0 {
            pointer.push('/');
            match segment {
                PathSegment::Field(field) => {
                    let name = wire_name(field).unwrap_or(field);
                    pointer.push_str(&name.replace('~', "~0").replace('/', "~1"));
                }
                PathSegment::Index(index) => pointer.push_str(&index.to_string()),
            }
        }
        pointer
    }
}

/// The pointer in the domain's own names.
impl std::fmt::Display for FieldPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_pointer(|_| None))
    }
}

/// One invalid field of a request and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: FieldPath,
    pub message: String,
}

impl Violation {
    pub fn new(path: FieldPath, message: impl Into<String>) -> Self {
        Self {
            path,
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

    /// The resource changed since the caller read it (a change made from an older revision).
    #[error("{entity} {key} changed since it was read")]
    Stale { entity: &'static str, key: String },

    #[error("a flow cannot go from {from} to {to}")]
    IllegalTransition { from: FlowState, to: FlowState },

    /// A backing service (the state database) did not answer.
    #[error("a backing service is unavailable: {0}")]
    Unavailable(String),

    /// What the request needs is not set up on this server (a pipeline metadata source the
    /// settings do not name); the text says which setting names it.
    #[error("{0}")]
    NotConfigured(String),

    #[error("internal error: {0}")]
    Internal(String),
}

fn summarize(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.path, v.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Error {
    pub fn invalid(path: FieldPath, message: impl Into<String>) -> Self {
        Self::Invalid(vec![Violation::new(path, message)])
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
