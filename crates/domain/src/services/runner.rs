//! The flow runner: picks READY flows, runs them on the engine a few at a time, and keeps each
//! flow's output current (state, progress, log and error lines).

use async_trait::async_trait;
use chrono::{SecondsFormat, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::data_store::DataStore;
use crate::flow::{Flow, FlowOutputId, FlowState};
use crate::graph::TransformGraph;
use crate::ports::{
    DataStoreRepository, FlowEngine, FlowInputRepository, FlowOutputRepository, FlowPlan,
    FlowRepository, PlannedOutput, PlannedSource, RunOutcome, SqlAnalyzer, Step, StepEvents,
};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy)]
pub struct RunnerSettings {
    /// How many flows run at once in this process.
    pub max_concurrent_flows: usize,
    /// How often the runner looks for READY flows when nothing wakes it.
    pub poll_interval: Duration,
    /// How often a running flow's state is read to notice a cancel.
    pub cancel_check_interval: Duration,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        Self {
            max_concurrent_flows: 4,
            poll_interval: Duration::from_millis(500),
            cancel_check_interval: Duration::from_millis(200),
        }
    }
}

pub struct FlowRunner {
    flows: Arc<dyn FlowRepository>,
    outputs: Arc<dyn FlowOutputRepository>,
    inputs: Arc<dyn FlowInputRepository>,
    stores: Arc<dyn DataStoreRepository>,
    analyzer: Arc<dyn SqlAnalyzer>,
    engine: Arc<dyn FlowEngine>,
    settings: RunnerSettings,
    wakeup: Arc<Notify>,
}

/// The line that settles a flow a previous process left unfinished.
pub const INTERRUPTED: &str = "interrupted: the Sluice process running this flow stopped before it finished; start the flow again to re-run it";

impl FlowRunner {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        flows: Arc<dyn FlowRepository>,
        outputs: Arc<dyn FlowOutputRepository>,
        inputs: Arc<dyn FlowInputRepository>,
        stores: Arc<dyn DataStoreRepository>,
        analyzer: Arc<dyn SqlAnalyzer>,
        engine: Arc<dyn FlowEngine>,
        settings: RunnerSettings,
        wakeup: Arc<Notify>,
    ) -> Self {
        Self {
            flows,
            outputs,
            inputs,
            stores,
            analyzer,
            engine,
            settings,
            wakeup,
        }
    }

    /// Settles flows that a process which died left RUNNING or CANCELLING: they become FAILED (or
    /// CANCELLED, when a cancel was asked for) with an error line saying they were interrupted.
    /// They are not re-run: a flow's writes are atomic, so the target still holds what it held
    /// before, and re-running is the client's choice. Call it before [`Self::run_until`].
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn settle_interrupted(&self) -> Result<usize> {
        let mut settled = 0;
        loop {
            let stale = self
                .flows
                .in_states(&[FlowState::Running, FlowState::Cancelling], 100)
                .await?;
            if stale.is_empty() {
                return Ok(settled);
            }
            for flow in stale {
                let state = self.outputs.state(flow.flow_output_id).await?;
                let end = if state == FlowState::Cancelling {
                    FlowState::Cancelled
                } else {
                    FlowState::Failed
                };
                self.outputs
                    .append_error(flow.flow_output_id, stamped(INTERRUPTED))
                    .await?;
                if state.can_become(end)
                    && self
                        .outputs
                        .set_state(flow.flow_output_id, state, end)
                        .await?
                {
                    tracing::warn!(flow_id = %flow.id, "settled a flow interrupted by a previous process as {end}");
                    settled += 1;
                }
            }
        }
    }

    /// Runs READY flows until `shutdown` fires, at most `max_concurrent_flows` at once. On
    /// shutdown, flows still running are stopped and left for [`Self::settle_interrupted`].
    pub async fn run_until(self: Arc<Self>, shutdown: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.settings.max_concurrent_flows.max(1)));
        loop {
            let permit = tokio::select! {
                permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
                () = shutdown.cancelled() => return,
            };
            let claimed = match self.claim_next().await {
                Ok(claimed) => claimed,
                Err(err) => {
                    tracing::error!(error = %err, "could not look for READY flows");
                    None
                }
            };
            match claimed {
                Some(flow) => {
                    let runner = self.clone();
                    let stop = shutdown.child_token();
                    tokio::spawn(async move {
                        runner.run_claimed(flow, stop).await;
                        drop(permit);
                    });
                }
                None => {
                    drop(permit);
                    tokio::select! {
                        () = self.wakeup.notified() => {}
                        () = tokio::time::sleep(self.settings.poll_interval) => {}
                        () = shutdown.cancelled() => return,
                    }
                }
            }
        }
    }

    /// Takes the oldest READY flow by moving it to RUNNING; a flow another claimer (or a cancel)
    /// moved first is skipped.
    async fn claim_next(&self) -> Result<Option<Flow>> {
        for flow in self.flows.in_states(&[FlowState::Ready], 16).await? {
            if self
                .outputs
                .set_state(flow.flow_output_id, FlowState::Ready, FlowState::Running)
                .await?
            {
                return Ok(Some(flow));
            }
        }
        Ok(None)
    }

    async fn run_claimed(&self, flow: Flow, shutdown: CancellationToken) {
        let output = flow.flow_output_id;
        if let Err(err) = self.run_and_settle(&flow, shutdown).await {
            // The store failed under us: say so on the flow if it answers again.
            tracing::error!(flow_id = %flow.id, error = %err, "a flow could not be settled");
            let _ = self
                .outputs
                .append_error(output, stamped(&format!("internal error: {err}")))
                .await;
            for from in [FlowState::Running, FlowState::Cancelling] {
                let _ = self
                    .outputs
                    .set_state(output, from, FlowState::Failed)
                    .await;
            }
        }
    }

    async fn run_and_settle(&self, flow: &Flow, shutdown: CancellationToken) -> Result<()> {
        let output = flow.flow_output_id;
        let plan = match self.plan(flow).await {
            Ok(plan) => plan,
            Err(err) => {
                self.outputs
                    .append_error(
                        output,
                        stamped(&format!("the flow could not be planned: {err}")),
                    )
                    .await?;
                return self.finish(output, FlowState::Failed).await;
            }
        };
        let steps = plan.step_count();
        self.outputs
            .append_log(
                output,
                stamped(&format!("flow {} started: {steps} steps", flow.id)),
            )
            .await?;
        tracing::info!(flow_id = %flow.id, steps, "flow started");

        let cancel = CancellationToken::new();
        let watcher = self.watch_for_cancel(output, cancel.clone(), shutdown.clone());
        let events = OutputEvents {
            outputs: self.outputs.clone(),
            output,
            steps,
            finished: AtomicUsize::new(0),
        };
        let outcome = self.engine.run(plan, &events, cancel.clone()).await;
        watcher.abort();

        match outcome {
            RunOutcome::Completed => {
                self.outputs.raise_progress(output, 100).await?;
                self.outputs
                    .append_log(output, stamped("flow completed"))
                    .await?;
                self.finish(output, FlowState::Completed).await
            }
            RunOutcome::Cancelled if shutdown.is_cancelled() => {
                // Leave the flow RUNNING for the next start's settle_interrupted, like a crash.
                tracing::warn!(flow_id = %flow.id, "flow stopped by shutdown");
                Ok(())
            }
            RunOutcome::Cancelled => {
                self.outputs
                    .append_log(
                        output,
                        stamped("flow cancelled: the target was left unchanged"),
                    )
                    .await?;
                self.finish(output, FlowState::Cancelled).await
            }
            RunOutcome::Failed { step, message } => {
                tracing::warn!(flow_id = %flow.id, %step, error = %message, "flow failed");
                self.outputs
                    .append_error(output, stamped(&format!("step {step} failed: {message}")))
                    .await?;
                self.outputs
                    .append_log(
                        output,
                        stamped("flow failed: the target was left unchanged"),
                    )
                    .await?;
                self.finish(output, FlowState::Failed).await
            }
        }
    }

    /// Moves a running (or cancelling) flow to its end state through the state machine.
    async fn finish(&self, output: FlowOutputId, end: FlowState) -> Result<()> {
        loop {
            let current = self.outputs.state(output).await?;
            // A cancel that arrives after the work ended cannot undo it: the flow ends as it ended.
            let next = current.transition(end)?;
            if self.outputs.set_state(output, current, next).await? {
                return Ok(());
            }
        }
    }

    fn watch_for_cancel(
        &self,
        output: FlowOutputId,
        cancel: CancellationToken,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let outputs = self.outputs.clone();
        let every = self.settings.cancel_check_interval;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(every) => {}
                }
                match outputs.state(output).await {
                    Ok(FlowState::Cancelling) => break,
                    Ok(_) => {}
                    Err(err) => {
                        tracing::warn!(error = %err, "could not read a running flow's state")
                    }
                }
            }
            cancel.cancel();
        })
    }

    async fn plan(&self, flow: &Flow) -> Result<FlowPlan> {
        let input = self.inputs.get(flow.flow_input_id).await?;
        let mut sources = Vec::with_capacity(input.sources.len());
        for source in &input.sources {
            let store = self.stores.get(source.data_store_id).await?;
            sources.push(PlannedSource {
                alias: source.alias.clone(),
                store,
                read: source.read.clone(),
            });
        }
        let target: DataStore = self.stores.get(input.target_data_store_id).await?;
        let outputs = input
            .outputs
            .iter()
            .map(|output| PlannedOutput {
                output: output.clone(),
                target: target.clone(),
            })
            .collect();
        let aliases: Vec<_> = input.sources.iter().map(|s| s.alias.clone()).collect();
        let graph = TransformGraph::build(&aliases, &input.transforms, self.analyzer.as_ref())
            .map_err(Error::Invalid)?;
        Ok(FlowPlan {
            flow_id: flow.id,
            sources,
            transforms: input.transforms,
            graph,
            outputs,
        })
    }
}

/// Turns the engine's step events into log lines and progress on the flow's output.
struct OutputEvents {
    outputs: Arc<dyn FlowOutputRepository>,
    output: FlowOutputId,
    steps: usize,
    finished: AtomicUsize,
}

#[async_trait]
impl StepEvents for OutputEvents {
    async fn started(&self, step: &Step) {
        if let Err(err) = self
            .outputs
            .append_log(self.output, stamped(&format!("step {step} started")))
            .await
        {
            tracing::warn!(error = %err, "could not record a step start");
        }
    }

    async fn finished(&self, step: &Step, rows: u64, elapsed: Duration) {
        let line = format!(
            "step {step} finished: {rows} rows in {:.3} s",
            elapsed.as_secs_f64()
        );
        if let Err(err) = self.outputs.append_log(self.output, stamped(&line)).await {
            tracing::warn!(error = %err, "could not record a step end");
        }
        let done = self.finished.fetch_add(1, Ordering::SeqCst) + 1;
        // 100 is kept for the flow's completion: the last step's staged writes still have to commit.
        let percent = ((done * 100) / self.steps.max(1)).min(99) as u8;
        if let Err(err) = self.outputs.raise_progress(self.output, percent).await {
            tracing::warn!(error = %err, "could not record progress");
        }
    }
}

/// Prefixes a line with the current UTC time, so each line says when it happened.
fn stamped(line: &str) -> String {
    format!(
        "{} {line}",
        Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
    )
}
