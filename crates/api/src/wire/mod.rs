//! What every API version shares on the wire: how routes answer methods they do not take, how
//! JSON bodies and query strings are read, the problem answers errors become, and the limits
//! every request is held to.

pub mod auth;
pub mod conditional;
pub mod connection_view;
pub mod cursor;
pub mod deprecation;
pub mod endpoint;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod limits;
pub mod metrics;
pub mod naming;
pub mod problem_instance;
pub mod problems;
pub mod rate_limit;
pub mod request_id;
pub mod serde_words;
pub mod strict_json;
