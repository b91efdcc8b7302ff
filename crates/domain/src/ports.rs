//! Ports: what the domain needs from the outside world. Adapters implement them; the composition
//! root wires them. Every method says in `# Errors` what it can fail with.

use async_trait::async_trait;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::Result;
use crate::data_store::{DataPath, DataStore, DataStoreId, NewDataStore};
use crate::flow::{Flow, FlowId, FlowOutputId, FlowState, FlowView};
use crate::flow_input::{FlowInput, FlowInputId, NewFlowInput, Output, SourceRead, Transform};
use crate::graph::TransformGraph;
use crate::names::TableName;
use crate::page::Page;

#[async_trait]
pub trait DataStoreRepository: Send + Sync {
    /// # Errors
    /// `Conflict` when the name is taken; `Unavailable` when the store does not answer.
    async fn create(&self, new: NewDataStore) -> Result<DataStore>;

    /// # Errors
    /// `NotFound` for an unknown id; `Unavailable`.
    async fn get(&self, id: DataStoreId) -> Result<DataStore>;

    /// Data stores by id, oldest first.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn list(&self, page: Page) -> Result<Vec<DataStore>>;
}

#[async_trait]
pub trait FlowInputRepository: Send + Sync {
    /// # Errors
    /// `Unavailable`.
    async fn create(&self, new: NewFlowInput) -> Result<FlowInput>;

    /// # Errors
    /// `NotFound` for an unknown id; `Unavailable`.
    async fn get(&self, id: FlowInputId) -> Result<FlowInput>;
}

#[async_trait]
pub trait FlowRepository: Send + Sync {
    /// Stores a flow and its output, READY at 0 %, in one transaction.
    ///
    /// # Errors
    /// `NotFound` when the flow input does not exist; `Unavailable`.
    async fn create(&self, flow_input_id: FlowInputId) -> Result<FlowView>;

    /// # Errors
    /// `NotFound` for an unknown id; `Unavailable`.
    async fn get(&self, id: FlowId) -> Result<FlowView>;

    /// Flows by id, oldest first, in any of `states` (all flows when `states` is empty).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn list(&self, states: &[FlowState], page: Page) -> Result<Vec<FlowView>>;

    /// Up to `limit` flows in any of `states`, oldest first.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn in_states(&self, states: &[FlowState], limit: u64) -> Result<Vec<Flow>>;
}

#[async_trait]
pub trait FlowOutputRepository: Send + Sync {
    /// # Errors
    /// `NotFound` for an unknown id; `Unavailable`.
    async fn state(&self, id: FlowOutputId) -> Result<FlowState>;

    /// Moves the output from `from` to `to` only if it is still in `from` (compare and set), so
    /// that a runner and a cancel racing each other cannot both win. Returns whether it moved.
    /// The caller checks the edge against the state machine.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn set_state(&self, id: FlowOutputId, from: FlowState, to: FlowState) -> Result<bool>;

    /// Raises the progress to `percent`; never lowers it, so concurrent steps reporting out of
    /// order keep it monotonic.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn raise_progress(&self, id: FlowOutputId, percent: u8) -> Result<()>;

    /// # Errors
    /// `Unavailable`.
    async fn append_log(&self, id: FlowOutputId, line: String) -> Result<()>;

    /// # Errors
    /// `Unavailable`.
    async fn append_error(&self, id: FlowOutputId, line: String) -> Result<()>;
}

/// Reads SQL without running it.
pub trait SqlAnalyzer: Send + Sync {
    /// The tables a single SQL query reads, as the names it would resolve (folded to lower case
    /// unless quoted), without the names of its own common table expressions.
    ///
    /// # Errors
    /// A message saying why the text is not one query that can be read (a syntax error, a
    /// statement that is not a query, a qualified table name).
    fn tables_read(&self, sql: &str) -> std::result::Result<Vec<String>, String>;
}

/// Decides which data paths a data store may use: a data store must never be a way to read the
/// server's own files.
pub trait LocationPolicy: Send + Sync {
    /// # Errors
    /// A message saying why the path is refused (it escapes the data folder).
    fn check(&self, path: &DataPath) -> std::result::Result<(), String>;
}

/// A source as the engine needs it: the store resolved.
#[derive(Debug, Clone)]
pub struct PlannedSource {
    pub alias: TableName,
    pub store: DataStore,
    pub read: SourceRead,
}

#[derive(Debug, Clone)]
pub struct PlannedOutput {
    pub output: Output,
    pub target: DataStore,
}

/// Everything the engine needs to run a flow.
#[derive(Debug, Clone)]
pub struct FlowPlan {
    pub flow_id: FlowId,
    pub sources: Vec<PlannedSource>,
    pub transforms: Vec<Transform>,
    pub graph: TransformGraph,
    pub outputs: Vec<PlannedOutput>,
}

impl FlowPlan {
    /// One step per source ingested, per transform and per output written.
    pub fn step_count(&self) -> usize {
        self.sources.len() + self.transforms.len() + self.outputs.len()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    Ingest,
    Transform,
    Output,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Transform => "transform",
            Self::Output => "output",
        }
    }
}

/// A step of a running flow, named as the flow input names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub kind: StepKind,
    pub name: String,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} '{}'", self.kind.as_str(), self.name)
    }
}

/// How the engine tells the runner what it is doing.
#[async_trait]
pub trait StepEvents: Send + Sync {
    async fn started(&self, step: &Step);
    async fn finished(&self, step: &Step, rows: u64, elapsed: Duration);
}

/// How a run ended, as far as the engine knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    Completed,
    /// The cancel token fired; every write in progress was rolled back.
    Cancelled,
    /// A step failed; every write in progress was rolled back.
    Failed {
        step: Step,
        message: String,
    },
}

#[async_trait]
pub trait FlowEngine: Send + Sync {
    /// Runs the plan to its end, or until `cancel` fires. Outputs are staged and only made visible
    /// together at the end, so an outcome other than `Completed` leaves the target as it was.
    async fn run(
        &self,
        plan: FlowPlan,
        events: &dyn StepEvents,
        cancel: CancellationToken,
    ) -> RunOutcome;
}

/// Whether the service can do its work: the metadata store answers.
#[async_trait]
pub trait Readiness: Send + Sync {
    /// # Errors
    /// `Unavailable` saying what does not answer.
    async fn check(&self) -> Result<()>;
}
