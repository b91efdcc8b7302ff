//! Ports: what the domain needs from the outside world. Adapters implement them; the composition
//! root wires them. Every method says in `# Errors` what it can fail with.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::Result;
use crate::api_key::{ApiKey, ApiKeyName, NewApiKey, StoredApiKey};
use crate::data_store::{Connection, DataPath, DataStore, DataStoreId, NewDataStore};
use crate::flow::{Flow, FlowId, FlowOutputId, FlowState, FlowView, LogLine, RunnerId, Settlement};
use crate::flow_input::{
    FlowInput, FlowInputId, FlowInputName, FlowInputRef, FlowInputSummary, FlowInputVersion,
    NewFlowInput,
};
use crate::flow_list::{FlowFilter, FlowPage};
use crate::idempotency::{Claim, IdempotencyKey, NewClaim, StoredResponse};
use crate::names::DataStoreName;
use crate::page::Page;
pub use crate::plan::{FileOutput, FlowPlan, PlannedSource, PlannedWrites, TableOutput};
pub use crate::step::{Step, StepKind, StepPlace};
use crate::step::{StepChange, StepState};

#[async_trait]
pub trait DataStoreRepository: Send + Sync {
    /// # Errors
    /// `Conflict` when the name is taken; `Unavailable` when the store does not answer.
    async fn create(&self, new: NewDataStore) -> Result<DataStore>;

    /// # Errors
    /// `NotFound` for an unknown id; `Unavailable`.
    async fn get(&self, id: DataStoreId) -> Result<DataStore>;

    /// # Errors
    /// `NotFound` for an unknown name; `Unavailable`.
    async fn get_by_name(&self, name: &DataStoreName) -> Result<DataStore>;

    /// Data stores by id, oldest first (newest first when the page says so).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn list(&self, page: Page) -> Result<Vec<DataStore>>;

    /// How many data stores there are.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn count(&self) -> Result<u64>;

    /// Replaces the connection (a new password, host or path) of the store with this id, made
    /// from its revision `from`, in one statement that also moves it to the next revision;
    /// flows already running keep the connection they started with.
    ///
    /// # Errors
    /// `Stale` when the store is no longer at revision `from`; `NotFound`; `Unavailable`.
    async fn replace_connection(
        &self,
        id: DataStoreId,
        from: u64,
        connection: Connection,
    ) -> Result<DataStore>;

    /// Removes the store with this id.
    ///
    /// # Errors
    /// `Conflict` naming a flow input that uses the store (then nothing is removed); `NotFound`;
    /// `Unavailable`.
    async fn delete(&self, id: DataStoreId) -> Result<()>;
}

#[async_trait]
pub trait FlowInputRepository: Send + Sync {
    /// Stores version 1 of `new.name`, or of an input named after its new id when it has none,
    /// with the stores it uses.
    ///
    /// # Errors
    /// `Conflict` when the name is taken; `Unavailable`.
    async fn create(&self, new: NewFlowInput) -> Result<FlowInput>;

    /// Stores the next version of the input `name`.
    ///
    /// # Errors
    /// `NotFound` when there is no input of that name; `Conflict` when another version was
    /// added at the same moment; `Unavailable`.
    async fn add_version(&self, name: &FlowInputName, new: NewFlowInput) -> Result<FlowInput>;

    /// # Errors
    /// `NotFound` for an unknown id; `Unavailable`.
    async fn get(&self, id: FlowInputId) -> Result<FlowInput>;

    /// The version `reference` names, its latest when it names none.
    ///
    /// # Errors
    /// `NotFound` for an unknown name or version; `Unavailable`.
    async fn find(&self, reference: &FlowInputRef) -> Result<FlowInput>;

    /// Every version of `name`, oldest first; empty when there is no such input.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn versions(&self, name: &FlowInputName) -> Result<Vec<FlowInputVersion>>;

    /// The flow inputs whose names start with `name_prefix` (all when it is empty), in the order
    /// their names were first used (by [`FlowInputSummary::first_id`], the newest first when the
    /// page says so), `page.limit()` of them after `page.after()`.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn list(&self, name_prefix: &str, page: Page) -> Result<Vec<FlowInputSummary>>;

    /// How many flow inputs have names that start with `name_prefix`.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn count(&self, name_prefix: &str) -> Result<u64>;
}

#[async_trait]
pub trait FlowRepository: Send + Sync {
    /// Stores a flow and its output, READY at 0 %, in one transaction; `rerun_of` names the flow
    /// it runs again, when it is a rerun.
    ///
    /// # Errors
    /// `NotFound` when the flow input does not exist; `Unavailable`.
    async fn create(
        &self,
        flow_input_id: FlowInputId,
        rerun_of: Option<FlowId>,
    ) -> Result<FlowView>;

    /// # Errors
    /// `NotFound` for an unknown id; `Unavailable`.
    async fn get(&self, id: FlowId) -> Result<FlowView>;

    /// The flows `filter` admits, a page of them in the page's order (see
    /// [`crate::flow_list`] for where flows without a time go).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn list(&self, filter: &FlowFilter, page: FlowPage) -> Result<Vec<FlowView>>;

    /// How many flows `filter` admits.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn count(&self, filter: &FlowFilter) -> Result<u64>;

    /// Takes the oldest READY flow for `runner`: moves it to RUNNING with a lease of `lease`, in
    /// one statement, so that of any number of claimers (in this process or others on the same
    /// store) exactly one gets each flow. `None` when no flow is READY.
    ///
    /// Every lease time is the store's own clock, never a process's: processes whose clocks
    /// disagree still agree on whether a lease ran out.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn claim_ready(&self, runner: &RunnerId, lease: Duration) -> Result<Option<Flow>>;

    /// Up to `limit` RUNNING or CANCELLING flows whose lease ran out, by the store's clock: the
    /// process running them stopped renewing it, so it is gone.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn expired_leases(&self, limit: u64) -> Result<Vec<Flow>>;

    /// The flow's log and error lines after line `after` (from the first when `None`), oldest
    /// first, at most `limit`.
    ///
    /// # Errors
    /// `NotFound` for an unknown flow; `Unavailable`.
    async fn lines(&self, id: FlowId, after: Option<i64>, limit: u64) -> Result<Vec<LogLine>>;

    /// How many flows are in each state (states with none left out).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn count_by_state(&self) -> Result<Vec<(FlowState, u64)>>;
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

    /// Extends the lease of `runner` on a running flow to `lease` from now, by the store's clock.
    /// Returns false when the flow is no longer this runner's to run (its lease ran out and
    /// another process settled it, or it ended): the runner must then stop the work.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn renew_lease(
        &self,
        id: FlowOutputId,
        runner: &RunnerId,
        lease: Duration,
    ) -> Result<bool>;

    /// Moves a flow whose lease ran out (by the store's clock) from `from` to `to`, only if its
    /// lease is still out (its runner did not renew it meanwhile), and in the same transaction
    /// appends the settlement's error line and closes its steps. Returns whether it moved.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn settle_expired(
        &self,
        id: FlowOutputId,
        from: FlowState,
        to: FlowState,
        settlement: &Settlement,
    ) -> Result<bool>;

    /// Takes over a RUNNING flow whose lease ran out (its process died) to run it again, when
    /// fewer than `max_crashes` deaths would then be counted: counts this death, and gives the
    /// flow's lease to `runner` for `lease`, so that it alone removes what the dead run left and
    /// then hands the flow back ([`Self::hand_back`]). Returns whether it took the flow over
    /// (not when the lease was renewed or taken meanwhile, nor at the bound: then the flow is
    /// settled with [`Self::settle_expired`]).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn take_over_expired(
        &self,
        id: FlowOutputId,
        runner: &RunnerId,
        lease: Duration,
        max_crashes: u32,
    ) -> Result<bool>;

    /// Gives a RUNNING flow that `runner` holds back to the queue, as if it had never started:
    /// READY, without runner or lease, progress 0, no steps, with `line` in its log; all in one
    /// transaction, and only while `runner` still holds it. Returns whether it moved (not when a
    /// cancel made it CANCELLING meanwhile, or another process settled it).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn hand_back(&self, id: FlowOutputId, runner: &RunnerId, line: String) -> Result<bool>;

    /// Puts a RUNNING flow that `runner` holds back in the queue for its next attempt, not to be
    /// claimed before `after` from now (by the store's clock): READY, attempt one more, without
    /// runner, lease, progress or steps, with `line` in its log; in one transaction, only while
    /// `runner` holds it. Returns whether it moved.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn retry(
        &self,
        id: FlowOutputId,
        runner: &RunnerId,
        line: String,
        after: Duration,
    ) -> Result<bool>;

    /// Records the steps a flow will run, all PENDING, in order.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn plan_steps(&self, id: FlowOutputId, steps: &[Step]) -> Result<()>;

    /// Applies `change` to a step; a step that was not planned (a commit, say) is added after the
    /// planned ones.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn change_step(&self, id: FlowOutputId, step: &Step, change: StepChange) -> Result<()>;

    /// Ends the steps the flow ended around: running ones become `running_end` (with `error`,
    /// if given), pending ones SKIPPED; finished steps keep their result.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn close_steps(
        &self,
        id: FlowOutputId,
        running_end: StepState,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()>;
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

/// How the engine tells the runner what it is doing.
#[async_trait]
pub trait StepEvents: Send + Sync {
    async fn started(&self, step: &Step, place: &StepPlace);
    async fn finished(&self, step: &Step, rows: u64, elapsed: Duration);

    /// A step Sluice did not run: a source every transform reading it ran in its database, or a
    /// source or transform the Ballista cluster ran as part of the transforms reading it.
    async fn pushed_down(&self, step: &Step, place: &StepPlace);

    /// A line about a step for the flow's log: how a transform ran, and why not elsewhere.
    async fn note(&self, step: &Step, line: &str);

    /// Asked once every output is staged, right before they are made visible: whether this
    /// process may still commit the flow. A yes holds for a whole lease from the moment it is
    /// given, so no other process settles the flow while its outputs are being committed; a no
    /// (the lease was lost, the flow settled elsewhere) leaves the targets unchanged.
    async fn may_commit(&self) -> bool;
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
    ///
    /// `events` is shared, not borrowed, so that a run can be handed to threads of its own.
    async fn run(
        &self,
        plan: FlowPlan,
        events: Arc<dyn StepEvents>,
        cancel: CancellationToken,
    ) -> RunOutcome;

    /// Removes what a run of the plan may have staged in its targets and left there because its
    /// process died before it could commit or roll back (a database that commits DDL at once
    /// keeps its staging tables). The runner calls it once it has settled such a flow.
    ///
    /// # Errors
    /// `Unavailable` when a target cannot be reached; what it holds then stays.
    async fn discard_leftovers(&self, plan: &FlowPlan) -> Result<()>;
}

/// Whether the service can do its work: the state database answers.
#[async_trait]
pub trait Readiness: Send + Sync {
    /// # Errors
    /// `Unavailable` saying what does not answer.
    async fn check(&self) -> Result<()>;
}

/// The API keys, kept hashed.
#[async_trait]
pub trait ApiKeyRepository: Send + Sync {
    /// # Errors
    /// `Conflict` when the name is taken; `Unavailable`.
    async fn create(&self, new: NewApiKey) -> Result<ApiKey>;

    /// Every key, by name.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn list(&self) -> Result<Vec<ApiKey>>;

    /// Every key with its hash, for a process to check presented keys against in memory.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn all_stored(&self) -> Result<Vec<StoredApiKey>>;

    /// Removes the key named `name`; its holders are refused from then on.
    ///
    /// # Errors
    /// `NotFound` for an unknown name; `Unavailable`.
    async fn delete(&self, name: &ApiKeyName) -> Result<()>;
}

/// The requests answered under an `Idempotency-Key`, shared by every process.
#[async_trait]
pub trait IdempotencyRepository: Send + Sync {
    /// Claims the key for a request, atomically across processes: exactly one of several
    /// concurrent claims of a new key gets [`Claim::Claimed`].
    ///
    /// # Errors
    /// `Unavailable`.
    async fn claim(&self, claim: NewClaim) -> Result<Claim>;

    /// Keeps the answer of the request that claimed `key`, to replay.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn complete(&self, key: &IdempotencyKey, response: StoredResponse) -> Result<()>;

    /// Gives up a claim whose request got no answer worth replaying (a server error, a client
    /// that went away), so that a retry runs afresh.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn release(&self, key: &IdempotencyKey) -> Result<()>;

    /// Removes records made before `before`; how many.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64>;
}
