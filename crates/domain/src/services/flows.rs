use std::sync::Arc;
use tokio::sync::Notify;

use crate::flow::{FlowId, FlowState, FlowView, LogLine};
use crate::flow_input::FlowInputId;
use crate::flow_list::{FlowFilter, FlowPage};
use crate::page::Page;
use crate::ports::{FlowOutputRepository, FlowRepository};
use crate::{Error, Result};

/// The most lines one page of a flow's lines holds, and how many when the client does not say.
pub const MAX_LINES: u64 = 1000;
pub const DEFAULT_LINES: u64 = 100;

/// Starts, reads and cancels flows. Running them is the [`super::FlowRunner`]'s job.
#[derive(Clone)]
pub struct FlowService {
    flows: Arc<dyn FlowRepository>,
    outputs: Arc<dyn FlowOutputRepository>,
    /// Wakes the runner when a flow is stored, so it does not wait for its next poll.
    runner_wakeup: Arc<Notify>,
}

impl FlowService {
    /// How many flows are in each state, every state named (0 when none is in it).
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn count_by_state(&self) -> Result<Vec<(FlowState, u64)>> {
        let counted = self.flows.count_by_state().await?;
        Ok(FlowState::ALL
            .iter()
            .map(|state| {
                let n = counted
                    .iter()
                    .find(|(s, _)| s == state)
                    .map_or(0, |(_, n)| *n);
                (*state, n)
            })
            .collect())
    }

    pub fn new(
        flows: Arc<dyn FlowRepository>,
        outputs: Arc<dyn FlowOutputRepository>,
        runner_wakeup: Arc<Notify>,
    ) -> Self {
        Self {
            flows,
            outputs,
            runner_wakeup,
        }
    }

    /// Stores a READY flow for the input; the runner picks it up.
    ///
    /// # Errors
    /// `Invalid` at `/flow_input_id` when the input does not exist; `Unavailable`.
    pub async fn start(&self, flow_input_id: FlowInputId) -> Result<FlowView> {
        let view = self
            .flows
            .create(flow_input_id, None)
            .await
            .map_err(|err| match err {
                Error::NotFound { .. } => Error::invalid(
                    crate::FieldPath::new("flow_input_id"),
                    format!("flow input {flow_input_id} does not exist"),
                ),
                other => other,
            })?;
        self.runner_wakeup.notify_one();
        Ok(view)
    }

    /// # Errors
    /// `NotFound`; `Unavailable`.
    pub async fn get(&self, id: FlowId) -> Result<FlowView> {
        self.flows.get(id).await
    }

    /// The flow's log and error lines after line `after`, oldest first, at most `limit`
    /// (1..=[`MAX_LINES`], [`DEFAULT_LINES`] when the client does not say): how a client reads a long log, a page at a time.
    ///
    /// # Errors
    /// `Invalid` for a limit out of range; `NotFound`; `Unavailable`.
    pub async fn lines(&self, id: FlowId, after: Option<i64>, limit: u64) -> Result<Vec<LogLine>> {
        if limit == 0 || limit > MAX_LINES {
            return Err(Error::invalid(
                crate::FieldPath::new("limit"),
                format!("must be between 1 and {MAX_LINES}"),
            ));
        }
        self.flows.lines(id, after, limit).await
    }

    /// The flow's lines on a keyset `page` (its limit already checked when it was made).
    ///
    /// # Errors
    /// `NotFound`; `Unavailable`.
    pub async fn lines_page(&self, id: FlowId, page: Page) -> Result<Vec<LogLine>> {
        self.flows.lines(id, page.after(), page.limit()).await
    }

    /// A page of the flows `filter` admits.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn list(&self, filter: &FlowFilter, page: FlowPage) -> Result<Vec<FlowView>> {
        self.flows.list(filter, page).await
    }

    /// How many flows `filter` admits.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn count(&self, filter: &FlowFilter) -> Result<u64> {
        self.flows.count(filter).await
    }

    /// Starts a new flow of the version the flow `id` ran, linked to it as its rerun.
    ///
    /// # Errors
    /// `Conflict` while the flow has not ended (a rerun beside the run it repeats would race it
    /// for the same outputs); `NotFound`; `Unavailable`.
    pub async fn rerun(&self, id: FlowId) -> Result<FlowView> {
        let original = self.flows.get(id).await?;
        if !original.output.state.is_finished() {
            return Err(Error::Conflict(format!(
                "flow {id} is {}: a flow is rerun once it has ended (cancel it first to stop it)",
                original.output.state
            )));
        }
        let view = self
            .flows
            .create(original.flow.flow_input_id, Some(id))
            .await?;
        self.runner_wakeup.notify_one();
        Ok(view)
    }

    /// Cancels a flow: one that has not started is CANCELLED at once; a running one becomes
    /// CANCELLING and its runner stops the work.
    ///
    /// # Errors
    /// `IllegalTransition` when the flow has finished; `NotFound`; `Unavailable`.
    pub async fn cancel(&self, id: FlowId) -> Result<FlowView> {
        // A runner may move the flow between our read and our write; the compare-and-set notices,
        // and the next read sees the new state. A flow moves at most three times, so this ends.
        loop {
            let view = self.flows.get(id).await?;
            let current = view.output.state;
            let next = current.on_cancel()?;
            if next == current
                || self
                    .outputs
                    .set_state(view.output.id, current, next)
                    .await?
            {
                return self.flows.get(id).await;
            }
        }
    }
}
