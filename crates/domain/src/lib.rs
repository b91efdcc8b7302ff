//! Sluice's domain: the entities a data team works with (data stores, flow inputs, flows and their
//! outputs), the flow state machine, the ports that adapters implement and the services that hold
//! the business rules. It knows nothing of HTTP, SQL drivers or DataFusion.

pub mod api_key;
pub mod data_store;
pub mod described_input;
pub mod described_store;
pub mod error;
pub mod flow;
pub mod flow_input;
pub mod flow_list;
pub mod graph;
pub mod idempotency;
pub mod metadata;
pub mod names;
pub mod page;
pub mod plan;
pub mod ports;
pub mod services;
pub mod step;
/// In-memory ports, for tests of the services and of the layers above them.
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use error::{Error, FieldPath, Result, Violation};
