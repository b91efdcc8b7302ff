//! The flow runner: picks READY flows, runs them on the engine a few at a time, and keeps each
//! flow's output current (state, progress, log and error lines).

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::data_store::DataStore;
use crate::flow::{Flow, FlowId, FlowOutputId, FlowState, RunnerId, Settlement};
use crate::flow_input::FlowInput;
use crate::graph::TransformGraph;
use crate::ports::{
    DataStoreRepository, FlowEngine, FlowInputRepository, FlowOutputRepository, FlowPlan,
    FlowRepository, PlannedOutput, PlannedSource, RunOutcome, SqlAnalyzer, Step, StepEvents,
};
use crate::step::{StepChange, StepKind, StepPlace, StepState};
use crate::{Error, Result};

#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// This process's name on the flows it claims; unique among the processes sharing a store.
    pub runner: RunnerId,
    /// How many flows run at once in this process.
    pub max_concurrent_flows: usize,
    /// How often the runner looks for READY flows when nothing wakes it.
    pub poll_interval: Duration,
    /// How often a running flow's state is read to notice a cancel (sent to any process).
    pub cancel_check_interval: Duration,
    /// How long a claim on a running flow lasts unless renewed. The runner renews it every third
    /// of this, and every half of this looks for flows whose lease ran out (their process died)
    /// and settles them: a dead process's flow is settled within 1.5 leases.
    pub lease: Duration,
    /// How long a failed attempt waits before the next, doubled after each (at most 10 min).
    pub retry_backoff: Duration,
    /// How many times the process running a flow may die before the flow is failed rather than
    /// run again: a flow that kills every process that runs it is not claimed forever.
    pub max_crashes: u32,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        Self {
            runner: RunnerId("sluice".into()),
            max_concurrent_flows: 4,
            poll_interval: Duration::from_millis(500),
            cancel_check_interval: Duration::from_millis(200),
            lease: Duration::from_secs(30),
            retry_backoff: Duration::from_secs(10),
            max_crashes: 2,
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
    /// The flows this process is running now. Their leases are renewed by this process, so
    /// its own sweep never settles them, even when a renewal came late (a busy process).
    running: Mutex<HashSet<FlowId>>,
}

/// The line in the log of a flow a stopping process gave back to the queue.
pub const HANDED_BACK: &str = "handed back: the Sluice process running this flow was stopping and the flow did not finish within its drain time; the next free runner runs it again from the start (nothing it wrote was kept)";

/// The line that settles a flow a previous process left unfinished.
pub const INTERRUPTED: &str = "interrupted: the Sluice process running this flow stopped before it finished; start the flow again to re-run it";

/// The line of a flow whose process died, put back in the queue to run again.
pub const RUNS_AGAIN: &str = "interrupted: the Sluice process running this flow stopped before it finished; the flow runs again from the start (nothing it wrote was kept)";

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
            running: Mutex::default(),
        }
    }

    /// Settles the flows whose runner stopped renewing its lease (the process died). A RUNNING
    /// one runs again from the start (its writes are atomic, so the target holds what it held
    /// before), once what the dead run staged is removed, until `max_crashes` processes have
    /// died running it: then it becomes FAILED saying so, and is never claimed again, so a flow
    /// that kills its process cannot kill every replica in turn. A CANCELLING one becomes
    /// CANCELLED. [`Self::run_until`] calls it every half lease; returns how many flows it
    /// settled or put back.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn settle_expired(&self) -> Result<usize> {
        let mut settled = Vec::new();
        let mut put_back = 0;
        loop {
            let expired = self.flows.expired_leases(100).await?;
            let mut moved = 0;
            for flow in &expired {
                if self.is_running_here(flow.id) {
                    continue;
                }
                let output = flow.flow_output_id;
                let state = self.outputs.state(output).await?;
                if state == FlowState::Running && self.run_again(flow).await? {
                    moved += 1;
                    put_back += 1;
                    continue;
                }
                let (end, step_end) = interrupted_ends(state);
                let settlement = Settlement {
                    error_line: stamped(&self.interrupted_for_good()),
                    running_steps: step_end,
                    step_error: "interrupted".into(),
                };
                if state.can_become(end)
                    && self
                        .outputs
                        .settle_expired(output, state, end, &settlement)
                        .await?
                {
                    tracing::warn!(flow_id = %flow.id, "settled a flow whose runner stopped as {end}");
                    moved += 1;
                    settled.push(flow.clone());
                }
            }
            // A flow that did not move was renewed or settled by someone else meanwhile.
            if expired.len() < 100 || moved == 0 {
                break;
            }
        }
        // Only once every expired flow is settled: a target slow to answer (a connect waits up
        // to its timeout) must not hold back the settling of other flows.
        for flow in &settled {
            self.discard_leftovers(flow).await;
        }
        Ok(settled.len() + put_back)
    }

    /// Puts a RUNNING flow whose process died back in the queue, unless that would make
    /// `max_crashes` deaths: this process takes its lease over, removes what the dead run
    /// staged (no other run can have started), then hands it back. Returns whether it did.
    async fn run_again(&self, flow: &Flow) -> Result<bool> {
        let output = flow.flow_output_id;
        let runner = &self.settings.runner;
        let (lease, bound) = (self.settings.lease, self.settings.max_crashes);
        if !self
            .outputs
            .take_over_expired(output, runner, lease, bound)
            .await?
        {
            return Ok(false);
        }
        self.discard_leftovers(flow).await;
        if self
            .outputs
            .hand_back(output, runner, stamped(RUNS_AGAIN))
            .await?
        {
            tracing::warn!(flow_id = %flow.id, "a flow whose process stopped runs again");
            self.wakeup.notify_one();
        }
        // Not handed back: a cancel came meanwhile, and the flow is settled CANCELLED once the
        // lease taken over runs out.
        Ok(true)
    }

    /// The error line of a flow whose process died and that is not run again.
    fn interrupted_for_good(&self) -> String {
        match self.settings.max_crashes {
            0 | 1 => INTERRUPTED.to_owned(),
            bound => format!(
                "interrupted: the Sluice process running this flow stopped before it finished, \
                 and processes running it have now stopped {bound} times (runner.max_crashes); \
                 it is not run again: find why in the log before you start it again"
            ),
        }
    }

    fn is_running_here(&self, flow: FlowId) -> bool {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&flow)
    }

    /// Runs READY flows until `shutdown` fires, at most `max_concurrent_flows` at once (none when
    /// it is 0), and settles flows that other processes left behind.
    ///
    /// On shutdown it drains: it claims no more flows and lets the running ones finish until
    /// `drain_over` fires, then stops those still running and hands them back to the queue
    /// (READY, to be run from the start by another process; outputs are atomic, so nothing
    /// half-written stays). Returns when every flow it ran is settled or handed back.
    pub async fn run_until(
        self: Arc<Self>,
        shutdown: CancellationToken,
        drain_over: CancellationToken,
    ) {
        let sweeper = tokio::spawn(self.clone().sweep_until(shutdown.clone()));
        if self.settings.max_concurrent_flows == 0 {
            // A process that only serves the API: it runs no flow, but still settles those of
            // processes that died.
            shutdown.cancelled().await;
            sweeper.abort();
            return;
        }
        let slots = self.settings.max_concurrent_flows;
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("sluice_runner_slots").set(slots as f64);
        let permits = Arc::new(Semaphore::new(slots));
        // Fired when the drain is over: the flows still running stop and go back to the queue.
        let hand_back = CancellationToken::new();
        loop {
            let permit = tokio::select! {
                // A stopping runner claims nothing more, even with a slot free.
                biased;
                () = shutdown.cancelled() => break,
                permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
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
                    let stop = hand_back.child_token();
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
                        () = shutdown.cancelled() => break,
                    }
                }
            }
        }
        sweeper.abort();
        // Every flow task holds a permit until it has settled its flow.
        let all = u32::try_from(slots).unwrap_or(u32::MAX);
        let running = slots - permits.available_permits();
        if running > 0 {
            tracing::info!(running, "draining: the running flows may finish");
        }
        let drained = tokio::select! {
            all = permits.acquire_many(all) => all.is_ok(),
            () = drain_over.cancelled() => false,
        };
        if !drained {
            hand_back.cancel();
            // Stopping and handing back takes moments; past a lease, another process settles
            // what is left.
            let _ = tokio::time::timeout(self.settings.lease, permits.acquire_many(all)).await;
        }
    }

    async fn sweep_until(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            match self.settle_expired().await {
                Ok(0) => {}
                Ok(settled) => tracing::info!(settled, "settled flows whose runner stopped"),
                Err(err) => tracing::error!(error = %err, "could not look for expired leases"),
            }
            tokio::select! {
                () = tokio::time::sleep(self.settings.lease / 2) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// Takes the oldest READY flow with a fresh lease; claimers in other processes on the same
    /// store never get the same flow.
    async fn claim_next(&self) -> Result<Option<Flow>> {
        self.flows
            .claim_ready(&self.settings.runner, self.settings.lease)
            .await
    }

    /// Runs a claimed flow to its end; `hand_back` stops it and gives it back to the queue.
    async fn run_claimed(&self, flow: Flow, hand_back: CancellationToken) {
        let output = flow.flow_output_id;
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(flow.id);
        let running = metrics::gauge!("sluice_runner_flows_running");
        running.increment(1.0);
        let started = std::time::Instant::now();
        let settled = self.run_and_settle(&flow, hand_back).await;
        running.decrement(1.0);
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&flow.id);
        if let Err(err) = settled {
            // The store failed under us: say so on the flow if it answers again, in words a
            // reader can act on (the driver's text goes to the log only).
            tracing::error!(flow_id = %flow.id, error = %err, "a flow could not be settled");
            let line = match err {
                Error::Unavailable(_) => {
                    "the state database stopped answering while this flow ran, so it was stopped; start it again to re-run it"
                }
                _ => {
                    "Sluice could not record this flow's progress, so it was stopped; the cause is in Sluice's log"
                }
            };
            let _ = self.outputs.append_error(output, stamped(line)).await;
            for from in [FlowState::Running, FlowState::Cancelling] {
                let _ = self
                    .outputs
                    .set_state(output, from, FlowState::Failed)
                    .await;
            }
        }
        // How it ended (READY: handed back), for the flows counted by end state.
        if let Ok(end) = self.outputs.state(output).await {
            metrics::counter!("sluice_flows_finished_total", "state" => end.as_str()).increment(1);
            metrics::histogram!("sluice_flow_duration_seconds", "state" => end.as_str())
                .record(started.elapsed().as_secs_f64());
        }
    }

    async fn run_and_settle(&self, flow: &Flow, hand_back: CancellationToken) -> Result<()> {
        let output = flow.flow_output_id;
        // The lease is renewed from the claim on, not from the start of the run: planning and
        // recording wait out a state database that stops answering for up to PATIENCE, longer
        // than a lease, and the flow must not be settled as interrupted meanwhile.
        let cancel = CancellationToken::new();
        let lease_lost = Arc::new(AtomicBool::new(false));
        let heartbeat = AbortOnDropHandle::new(self.heartbeat(
            output,
            cancel.clone(),
            hand_back.clone(),
            lease_lost.clone(),
        ));
        // The input is read once: for the plan and for how many attempts it allows.
        let planned = patiently("planning the flow", || async {
            let input = self.inputs.get(flow.flow_input_id).await?;
            let max_attempts = input.max_attempts;
            Ok((self.plan_of(flow, input).await?, max_attempts))
        })
        .await;
        let (plan, max_attempts) = match planned {
            Ok(planned) => planned,
            Err(err) => {
                patiently("recording the flow", || {
                    self.outputs.append_error(
                        output,
                        stamped(&format!("the flow could not be planned: {}", plain(&err))),
                    )
                })
                .await?;
                return self.finish(output, FlowState::Failed).await;
            }
        };
        let steps = plan.steps();
        patiently("recording the flow", || {
            self.outputs.plan_steps(output, &steps)
        })
        .await?;
        // Only an input that allows retries has an attempt worth reading.
        let attempt = if max_attempts > 1 {
            patiently("reading the flow", || self.flows.get(flow.id))
                .await?
                .output
                .attempt
        } else {
            1
        };
        let attempts = (attempt, max_attempts);
        let runner = &self.settings.runner;
        let of = if attempts.1 > 1 {
            format!(" (attempt {} of {})", attempts.0, attempts.1)
        } else {
            String::new()
        };
        patiently("recording the flow", || {
            self.outputs.append_log(
                output,
                stamped(&format!(
                    "flow {} started on runner {runner}{of}: {} steps",
                    flow.id,
                    steps.len()
                )),
            )
        })
        .await?;
        tracing::info!(flow_id = %flow.id, steps = steps.len(), "flow started");

        let events = Arc::new(OutputEvents {
            outputs: self.outputs.clone(),
            output,
            steps: steps.len(),
            finished: AtomicUsize::new(0),
            in_order: tokio::sync::Mutex::new(()),
            runner: self.settings.runner.clone(),
            lease: self.settings.lease,
        });
        let outcome = self.engine.run(plan, events, cancel.clone()).await;
        heartbeat.abort();

        if lease_lost.load(Ordering::SeqCst) {
            // Another process found the lease out and settled the flow; what it wrote stands.
            tracing::warn!(flow_id = %flow.id, "stopped a flow whose lease this runner lost");
            return Ok(());
        }
        let now = Utc::now();
        match outcome {
            RunOutcome::Completed => {
                patiently("recording the flow", || {
                    self.outputs.raise_progress(output, 100)
                })
                .await?;
                patiently("recording the flow", || {
                    self.outputs.append_log(output, stamped("flow completed"))
                })
                .await?;
                self.finish(output, FlowState::Completed).await
            }
            RunOutcome::Cancelled if hand_back.is_cancelled() => {
                let runner = &self.settings.runner;
                let handed = patiently("handing the flow back", || {
                    self.outputs.hand_back(output, runner, stamped(HANDED_BACK))
                })
                .await?;
                if handed {
                    tracing::warn!(flow_id = %flow.id, "handed a flow back to the queue: it did not finish within the drain");
                    self.wakeup.notify_one();
                    return Ok(());
                }
                // A cancel came first (CANCELLING): the flow ends cancelled, as asked.
                self.settle_cancelled(output, now).await
            }
            RunOutcome::Cancelled => self.settle_cancelled(output, now).await,
            RunOutcome::Failed { step, message } => {
                tracing::warn!(flow_id = %flow.id, %step, error = %message, "flow failed");
                let (attempt, max_attempts) = attempts;
                if attempt < max_attempts {
                    let after = self.backoff(attempt);
                    let line = format!(
                        "attempt {attempt} failed: step {step} failed: {message}; the target was left unchanged; attempt {} of {max_attempts} starts in {:.1} s",
                        attempt + 1,
                        after.as_secs_f64()
                    );
                    let queued = patiently("retrying the flow", || {
                        self.outputs.retry(output, runner, stamped(&line), after)
                    })
                    .await?;
                    if queued {
                        tracing::info!(flow_id = %flow.id, attempt = attempt + 1, "a failed flow will be tried again");
                        return Ok(());
                    }
                    // A cancel came first: the flow ends as this attempt did.
                }
                patiently("recording the flow", || {
                    self.outputs.change_step(
                        output,
                        &step,
                        StepChange::Failed {
                            error: message.clone(),
                            at: now,
                        },
                    )
                })
                .await?;
                // Steps running beside the failed one were stopped with it.
                patiently("recording the flow", || {
                    self.outputs
                        .close_steps(output, StepState::Cancelled, None, now)
                })
                .await?;
                patiently("recording the flow", || {
                    self.outputs
                        .append_error(output, stamped(&format!("step {step} failed: {message}")))
                })
                .await?;
                patiently("recording the flow", || {
                    self.outputs.append_log(
                        output,
                        stamped("flow failed: the target was left unchanged"),
                    )
                })
                .await?;
                self.finish(output, FlowState::Failed).await
            }
        }
    }

    /// How long after failed attempt `attempt` the next one starts: the backoff, doubled after
    /// each attempt, at most ten minutes.
    fn backoff(&self, attempt: u32) -> Duration {
        let doubled = self
            .settings
            .retry_backoff
            .saturating_mul(1 << attempt.saturating_sub(1).min(16));
        doubled.min(Duration::from_secs(600))
    }

    async fn settle_cancelled(&self, output: FlowOutputId, now: DateTime<Utc>) -> Result<()> {
        patiently("recording the flow", || {
            self.outputs
                .close_steps(output, StepState::Cancelled, None, now)
        })
        .await?;
        patiently("recording the flow", || {
            self.outputs.append_log(
                output,
                stamped("flow cancelled: the target was left unchanged"),
            )
        })
        .await?;
        self.finish(output, FlowState::Cancelled).await
    }

    /// Moves a running (or cancelling) flow to its end state through the state machine.
    async fn finish(&self, output: FlowOutputId, end: FlowState) -> Result<()> {
        loop {
            let current = patiently("recording the flow", || self.outputs.state(output)).await?;
            // Already so: a write retried after its answer was lost had gone through.
            if current == end {
                return Ok(());
            }
            // A cancel that arrives after the work ended cannot undo it: the flow ends as it ended.
            let next = current.transition(end)?;
            if patiently("recording the flow", || {
                self.outputs.set_state(output, current, next)
            })
            .await?
            {
                return Ok(());
            }
        }
    }

    /// While a flow runs: renews its lease, and fires `cancel` when a cancel was asked for
    /// (through any process: the state is read from the store) or the lease was lost.
    fn heartbeat(
        &self,
        output: FlowOutputId,
        cancel: CancellationToken,
        stop: CancellationToken,
        lease_lost: Arc<AtomicBool>,
    ) -> tokio::task::JoinHandle<()> {
        let outputs = self.outputs.clone();
        let runner = self.settings.runner.clone();
        let every = self.settings.cancel_check_interval;
        let renew_every = self.settings.lease / 3;
        let lease = self.settings.lease;
        tokio::spawn(async move {
            let mut renewed = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(every) => {}
                }
                if renewed.elapsed() >= renew_every {
                    match outputs.renew_lease(output, &runner, lease).await {
                        Ok(true) => renewed = tokio::time::Instant::now(),
                        Ok(false) => {
                            lease_lost.store(true, Ordering::SeqCst);
                            break;
                        }
                        Err(err) => tracing::warn!(error = %err, "could not renew a flow's lease"),
                    }
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

    /// Removes what the dead runner of `flow` left staged in its targets. Settling does not wait
    /// on it or fail with it: a target that does not answer keeps its leftovers, and says so in
    /// the log.
    async fn discard_leftovers(&self, flow: &Flow) {
        let discarded = match self.plan(flow).await {
            Ok(plan) => self.engine.discard_leftovers(&plan).await,
            Err(error) => Err(error),
        };
        if let Err(error) = discarded {
            tracing::warn!(flow_id = %flow.id, %error, "what the flow staged in its target could not be removed");
        }
    }

    async fn plan(&self, flow: &Flow) -> Result<FlowPlan> {
        let input = self.inputs.get(flow.flow_input_id).await?;
        self.plan_of(flow, input).await
    }

    async fn plan_of(&self, flow: &Flow, input: FlowInput) -> Result<FlowPlan> {
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
            engine: input.engine,
        })
    }
}

/// Turns the engine's step events into log lines and progress on the flow's output.
struct OutputEvents {
    outputs: Arc<dyn FlowOutputRepository>,
    output: FlowOutputId,
    steps: usize,
    finished: AtomicUsize,
    /// Held while a step's change is stamped and written: steps report from tasks of their own,
    /// and a line stamped first but written second would read out of order in the log.
    in_order: tokio::sync::Mutex<()>,
    runner: RunnerId,
    lease: Duration,
}

impl OutputEvents {
    /// Raises the flow's progress by one finished step.
    async fn step_done(&self) {
        let done = self.finished.fetch_add(1, Ordering::SeqCst) + 1;
        // 100 is kept for the flow's completion: the last step's staged writes still have to commit.
        let percent = ((done * 100) / self.steps.max(1)).min(99) as u8;
        if let Err(err) = self.outputs.raise_progress(self.output, percent).await {
            tracing::warn!(error = %err, "could not record progress");
        }
    }
}

#[async_trait]
impl StepEvents for OutputEvents {
    async fn started(&self, step: &Step, place: &StepPlace) {
        let _in_order = self.in_order.lock().await;
        let change = StepChange::Started {
            at: Utc::now(),
            ran_in: place.to_string(),
        };
        if let Err(err) = self.outputs.change_step(self.output, step, change).await {
            tracing::warn!(error = %err, "could not record a step start");
        }
        let line = match place {
            StepPlace::Sluice => format!("step {step} started"),
            StepPlace::Store { .. } | StepPlace::Ballista => {
                format!("step {step} started, {place}")
            }
        };
        if let Err(err) = self.outputs.append_log(self.output, stamped(&line)).await {
            tracing::warn!(error = %err, "could not record a step start");
        }
    }

    async fn pushed_down(&self, step: &Step, place: &StepPlace) {
        let _in_order = self.in_order.lock().await;
        let change = StepChange::PushedDown {
            ran_in: place.to_string(),
            at: Utc::now(),
        };
        if let Err(err) = self.outputs.change_step(self.output, step, change).await {
            tracing::warn!(error = %err, "could not record a step pushed down");
        }
        let done_there = match step.kind {
            StepKind::Ingest => "read there by the transforms that read it",
            _ => "run there as part of the transforms that read it",
        };
        let line = format!("step {step} {place}: {done_there}");
        if let Err(err) = self.outputs.append_log(self.output, stamped(&line)).await {
            tracing::warn!(error = %err, "could not record a step pushed down");
        }
        self.step_done().await;
    }

    async fn note(&self, step: &Step, line: &str) {
        let _in_order = self.in_order.lock().await;
        let line = format!("step {step}: {line}");
        if let Err(err) = self.outputs.append_log(self.output, stamped(&line)).await {
            tracing::warn!(error = %err, "could not record a step's note");
        }
    }

    async fn finished(&self, step: &Step, rows: u64, elapsed: Duration) {
        let kind = step.kind.as_str();
        metrics::histogram!("sluice_step_duration_seconds", "kind" => kind)
            .record(elapsed.as_secs_f64());
        match step.kind {
            StepKind::Ingest => metrics::counter!("sluice_rows_read_total").increment(rows),
            StepKind::Output => metrics::counter!("sluice_rows_written_total").increment(rows),
            StepKind::Transform => {}
        }
        let _in_order = self.in_order.lock().await;
        let change = StepChange::Completed {
            rows,
            at: Utc::now(),
        };
        if let Err(err) = self.outputs.change_step(self.output, step, change).await {
            tracing::warn!(error = %err, "could not record a step end");
        }
        let line = format!(
            "step {step} finished: {rows} rows in {:.3} s",
            elapsed.as_secs_f64()
        );
        if let Err(err) = self.outputs.append_log(self.output, stamped(&line)).await {
            tracing::warn!(error = %err, "could not record a step end");
        }
        self.step_done().await;
    }

    async fn may_commit(&self) -> bool {
        // Renewing the lease is the fence: it succeeds only while the flow is still this
        // runner's, and then no other process can settle it for a whole lease.
        let renewed = patiently("renewing a lease before a commit", || {
            self.outputs
                .renew_lease(self.output, &self.runner, self.lease)
        })
        .await;
        match renewed {
            Ok(ours) => ours,
            Err(err) => {
                tracing::warn!(error = %err, "could not renew a flow's lease before its commit");
                false
            }
        }
    }
}

/// How an interrupted flow ends, and its running steps with it: CANCELLED if a cancel was asked
/// for, else FAILED.
fn interrupted_ends(state: FlowState) -> (FlowState, StepState) {
    if state == FlowState::Cancelling {
        (FlowState::Cancelled, StepState::Cancelled)
    } else {
        (FlowState::Failed, StepState::Failed)
    }
}

/// How long the runner keeps retrying a write to a state database that does not answer (a
/// PostgreSQL restart, a failover, a pooler that dropped its sessions) before it gives up.
const PATIENCE: Duration = Duration::from_secs(30);

/// Runs `work` again while it fails with `Unavailable`, backing off, for up to [`PATIENCE`].
async fn patiently<T, F, Fut>(what: &str, mut work: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let started = tokio::time::Instant::now();
    let mut delay = Duration::from_millis(50);
    loop {
        match work().await {
            Err(Error::Unavailable(detail)) if started.elapsed() < PATIENCE => {
                tracing::warn!(error = %detail, "the state database did not answer {what}; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            other => return other,
        }
    }
}

/// An error in words for a flow's error line: a state database that did not answer is said so,
/// without the driver's text (which goes to the log).
fn plain(err: &Error) -> String {
    match err {
        Error::Unavailable(_) => "the state database did not answer".to_owned(),
        other => other.to_string(),
    }
}

/// Prefixes a line with the current UTC time, so each line says when it happened.
fn stamped(line: &str) -> String {
    format!(
        "{} {line}",
        Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
    )
}
