//! A flow input as a client describes it, before anything is checked: stores named by id
//! (`/v1`) or by name (`/v2`), names as text, the optional fields left out. The one constructor of
//! a [`NewFlowInput`] ([`crate::services::FlowInputService::describe`]) reads it: every name
//! parsed, every store resolved once, the defaults below filled in, every problem reported at
//! once in the domain's own field names. Each API version only fills this in.

use crate::data_store::DataStoreId;
use crate::flow_input::{ExecutionEngine, FlowInputName, WriteMode};

/// An output's `mode` when the client gives none.
pub const DEFAULT_MODE: WriteMode = WriteMode::Replace;
/// How many times a flow may run when the client does not say: once, no retry.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 1;
/// What runs the transforms when the client does not say.
pub const DEFAULT_ENGINE: ExecutionEngine = ExecutionEngine::Local;

/// A data store as a request names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreRef {
    Id(DataStoreId),
    Name(String),
}

#[derive(Debug, Clone)]
pub struct DescribedSource {
    pub store: StoreRef,
    pub table: Option<String>,
    pub query: Option<String>,
    pub alias: String,
}

#[derive(Debug, Clone)]
pub struct DescribedTransform {
    pub name: String,
    pub sql: String,
}

#[derive(Debug, Clone)]
pub struct DescribedOutput {
    pub transform: String,
    pub table: Option<String>,
    /// `replace` or `append`; [`DEFAULT_MODE`] when left out.
    pub mode: Option<String>,
}

#[derive(Debug, Clone)]
pub struct DescribedFlowInput {
    /// `None` for an input named after its id (made on `/v1`).
    pub name: Option<FlowInputName>,
    /// The stores the sources read, when the client lists them itself (`/v1`); otherwise those
    /// its sources name, in order, each once.
    pub source_stores: Option<Vec<StoreRef>>,
    pub sources: Vec<DescribedSource>,
    pub transforms: Vec<DescribedTransform>,
    pub outputs: Vec<DescribedOutput>,
    pub target: StoreRef,
    /// 1 to [`crate::flow_input::MAX_ATTEMPTS`]; [`DEFAULT_MAX_ATTEMPTS`] when left out.
    pub max_attempts: Option<u32>,
    pub engine: Option<ExecutionEngine>,
}
