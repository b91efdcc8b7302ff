use std::sync::Arc;
use tokio::sync::Notify;

use crate::flow::{FlowId, FlowState, FlowView};
use crate::flow_input::FlowInputId;
use crate::page::Page;
use crate::ports::{FlowOutputRepository, FlowRepository};
use crate::{Error, Result};

/// Starts, reads and cancels flows. Running them is the [`super::FlowRunner`]'s job.
#[derive(Clone)]
pub struct FlowService {
    flows: Arc<dyn FlowRepository>,
    outputs: Arc<dyn FlowOutputRepository>,
    /// Wakes the runner when a flow is stored, so it does not wait for its next poll.
    runner_wakeup: Arc<Notify>,
}

impl FlowService {
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
            .create(flow_input_id)
            .await
            .map_err(|err| match err {
                Error::NotFound { .. } => Error::invalid(
                    "/flow_input_id",
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

    /// # Errors
    /// `Unavailable`.
    pub async fn list(&self, states: &[FlowState], page: Page) -> Result<Vec<FlowView>> {
        self.flows.list(states, page).await
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
