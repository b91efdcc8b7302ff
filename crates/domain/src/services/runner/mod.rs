//! The flow runner: picks READY flows, runs them on the engine a few at a time, and keeps each
//! flow's output current (state, progress, log and error lines).
//!
//! This module claims flows and runs the loop; the rest is by responsibility:
//! [`leases`] (a running flow's lease, and settling flows whose process died), [`plan`] (a
//! flow input made into the engine's plan), [`run`] (one run from its start to its end state),
//! [`retries`] (a failed attempt run again) and [`events`] (the engine's step events written
//! to the flow's output).

mod events;
mod leases;
mod plan;
mod retries;
mod run;

use events::OutputEvents;

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
    FlowRepository, PlannedSource, RunOutcome, SqlAnalyzer, Step, StepEvents,
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
