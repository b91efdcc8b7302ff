//! Each flow runs on threads of its own: apart from the HTTP workers, the runner's bookkeeping
//! and the other flows, at a lower priority, with a stack sized for the deepest transform
//! allowed, and where a panic fails the flow rather than the process.
//!
//! - Threads per flow: DataFusion's tasks wake each other without end while a flow works, and a
//!   poll that sorts or spills may take a second; tokio looks at tasks from outside a worker's
//!   own queue only every few dozen polls, so on threads shared with a spilling flow a new flow
//!   waited over a minute to take its first step. The operating system shares the cores between
//!   threads fairly, so each flow gets its own, and a small flow starts at once.
//! - Priority: a CPU-bound flow would otherwise hold the cores from the threads that claim the
//!   next flow, renew leases and notice cancels. At a higher `nice`, the interactive work goes
//!   first.
//! - Stack: DataFusion plans and evaluates expressions recursively, a frame per level. A
//!   transform nests at most [`sluice_domain::flow_input::MAX_EXPRESSION_DEPTH`] levels (refused
//!   when defined otherwise); [`STACK_BYTES`] holds that many levels many times over, where a
//!   worker's 2 MiB does not.
//! - Panics: a task's panic is caught by its runtime and reported here as the flow's failure.

use async_trait::async_trait;
use sluice_domain::ports::{
    FlowEngine, FlowPlan, RunOutcome, Step, StepEvents, StepKind, StepPlace,
};
use std::future::Future;
use std::sync::Arc;
use tokio::runtime::{Handle, Runtime};
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::query_threads::lower_this_threads_priority;

/// Each flow thread's stack. Reserved, not used: pages are only taken as a deep plan reaches them.
const STACK_BYTES: usize = 64 << 20;

/// Threads for one flow's blocking calls (file reads, SQLite), each with [`STACK_BYTES`].
const BLOCKING_THREADS: usize = 16;

/// How long a cancelled flow has to stop by itself, rolling back what it staged, before its
/// threads are stopped under it. It stops at its next await, which a task woken from outside its
/// threads may reach late: tokio looks at such tasks only every few dozen polls, and a poll that
/// sorts or spills may take a second.
const CANCEL_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// How many polls a flow thread makes before it looks for tasks woken from outside (the cancel,
/// a state-database answer): few, so that those are not kept waiting behind a spilling flow's
/// own tasks. tokio's default is 61.
const GLOBAL_QUEUE_INTERVAL: u32 = 4;

/// The message of a flow whose run panicked; the panic itself goes to the log.
pub const PANICKED: &str =
    "Sluice stopped this flow on an internal error; the error is in Sluice's log";

/// An engine whose every run happens on threads of its own.
pub struct OnFlowThreads {
    engine: Arc<dyn FlowEngine>,
    /// Worker threads per flow: as many as DataFusion splits each operator into.
    threads: usize,
}

impl OnFlowThreads {
    /// `threads` worker threads for each flow (at least one).
    ///
    /// # Errors
    /// The operating system's, when it cannot start a thread: tried once here, so that a process
    /// that could not run any flow says so when it starts.
    pub fn start(engine: Arc<dyn FlowEngine>, threads: usize) -> std::io::Result<Self> {
        let threads = threads.max(1);
        drop(FlowRuntime(Some(flow_runtime(threads)?)));
        Ok(Self { engine, threads })
    }

    /// Runs `work` on a runtime of its own. If `cancel` fires and the work has not ended by
    /// itself [`CANCEL_GRACE`] later, it is aborted: dropped at its next poll, with the tasks
    /// it started, wherever they are queued, and `Ok(None)` is answered at once. Either way the
    /// runtime lives on until what the work's end set going has finished (see `FlowRuntime`).
    async fn on_own_threads<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
        cancel: &CancellationToken,
    ) -> Result<Option<T>, String> {
        let runtime = FlowRuntime(Some(
            flow_runtime(self.threads).map_err(|err| err.to_string())?,
        ));
        let work = runtime.0.as_ref().map(|runtime| runtime.spawn(work));
        // Dropped (this future dropped, or the grace over), the work is aborted.
        let mut work = AbortOnDropHandle::new(work.expect("the runtime was just built"));
        let ran = tokio::select! {
            ran = &mut work => ran,
            () = cancel.cancelled() => {
                match tokio::time::timeout(CANCEL_GRACE, &mut work).await {
                    Ok(ran) => ran,
                    Err(_) => return Ok(None),
                }
            }
        };
        ran.map(Some).map_err(|err| err.to_string())
    }
}

/// A flow's runtime. Dropped, it is stopped on a thread of its own, so the async code that
/// drops it is not held up, once its tasks are gone: a run's end sets clean-up going on tasks
/// of their own (a query cancelled on its database, staged objects removed from S3), which
/// must finish rather than be dropped with the runtime; an aborted run's tasks go at their
/// next poll. Past [`STOP_WAIT`] the runtime is stopped with whatever is left. Its threads are
/// joined, never let go: with a runtime per flow, stopped many times a minute, a test run saw a
/// process end with a segfault in glibc's thread code on a worker that let one go
/// (`shutdown_background`).
struct FlowRuntime(Option<Runtime>);

/// How long a flow's runtime waits for its tasks to end before it is stopped under them.
const STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

impl Drop for FlowRuntime {
    fn drop(&mut self) {
        let Some(runtime) = self.0.take() else {
            return;
        };
        let (give, take) = std::sync::mpsc::channel::<Runtime>();
        let stopper = std::thread::Builder::new()
            .name("sluice-flow-stop".into())
            .spawn(move || {
                let Ok(runtime) = take.recv() else {
                    return;
                };
                let until = std::time::Instant::now() + STOP_WAIT;
                while runtime.metrics().num_alive_tasks() > 0 && std::time::Instant::now() < until {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                runtime.shutdown_timeout(std::time::Duration::from_secs(10));
            });
        match stopper {
            Ok(_) => {
                let _ = give.send(runtime);
            }
            Err(err) => {
                tracing::warn!(error = %err, "no thread to stop a flow's runtime on; letting its threads go");
                runtime.shutdown_background();
            }
        }
    }
}

fn flow_runtime(threads: usize) -> std::io::Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .max_blocking_threads(BLOCKING_THREADS)
        .thread_stack_size(STACK_BYTES)
        .global_queue_interval(GLOBAL_QUEUE_INTERVAL)
        .thread_name("sluice-flow")
        .on_thread_start(lower_this_threads_priority)
        .enable_all()
        .build()
}

/// A run's step events, recorded on the runtime that started the run, not the flow's own: the
/// state database's pool opens connections on whichever runtime asks, and a PostgreSQL
/// connection opened on a flow's runtime dies with it while the pool still holds it (the next
/// request to draw it answered 503).
struct EventsOnCaller {
    events: Arc<dyn StepEvents>,
    caller: Handle,
}

impl EventsOnCaller {
    async fn on_caller<T: Send + 'static>(
        &self,
        record: impl Future<Output = T> + Send + 'static,
    ) -> Option<T> {
        AbortOnDropHandle::new(self.caller.spawn(record)).await.ok()
    }
}

#[async_trait]
impl StepEvents for EventsOnCaller {
    async fn started(&self, step: &Step, place: &StepPlace) {
        let (events, step, place) = (self.events.clone(), step.clone(), place.clone());
        self.on_caller(async move { events.started(&step, &place).await })
            .await;
    }

    async fn finished(&self, step: &Step, rows: u64, elapsed: std::time::Duration) {
        let (events, step) = (self.events.clone(), step.clone());
        self.on_caller(async move { events.finished(&step, rows, elapsed).await })
            .await;
    }

    async fn pushed_down(&self, step: &Step, place: &StepPlace) {
        let (events, step, place) = (self.events.clone(), step.clone(), place.clone());
        self.on_caller(async move { events.pushed_down(&step, &place).await })
            .await;
    }

    async fn note(&self, step: &Step, line: &str) {
        let (events, step, line) = (self.events.clone(), step.clone(), line.to_owned());
        self.on_caller(async move { events.note(&step, &line).await })
            .await;
    }

    async fn may_commit(&self) -> bool {
        let events = self.events.clone();
        // Not known to be allowed is not allowed: the staged writes are then dropped.
        (self
            .on_caller(async move { events.may_commit().await })
            .await)
            .unwrap_or(false)
    }
}

#[async_trait]
impl FlowEngine for OnFlowThreads {
    async fn run(
        &self,
        plan: FlowPlan,
        events: Arc<dyn StepEvents>,
        cancel: CancellationToken,
    ) -> RunOutcome {
        let flow_id = plan.flow_id;
        let engine = self.engine.clone();
        let stop = cancel.clone();
        let events: Arc<dyn StepEvents> = Arc::new(EventsOnCaller {
            events,
            caller: Handle::current(),
        });
        let run = async move { engine.run(plan, events, cancel).await };
        match self.on_own_threads(run, &stop).await {
            Ok(Some(outcome)) => outcome,
            Ok(None) => {
                tracing::info!(%flow_id, "a cancelled flow's threads were stopped under it");
                RunOutcome::Cancelled
            }
            Err(err) => {
                tracing::error!(%flow_id, error = %err, "a flow's run stopped on a panic");
                RunOutcome::Failed {
                    step: Step {
                        kind: StepKind::Transform,
                        name: "run".into(),
                    },
                    message: PANICKED.into(),
                }
            }
        }
    }

    async fn discard_leftovers(&self, plan: &FlowPlan) -> sluice_domain::Result<()> {
        let engine = self.engine.clone();
        let plan = plan.clone();
        let work = async move { engine.discard_leftovers(&plan).await };
        match self.on_own_threads(work, &CancellationToken::new()).await {
            Ok(Some(discarded)) => discarded,
            Ok(None) | Err(_) => Err(sluice_domain::Error::Internal(
                "discarding a flow's leftovers stopped on an internal error".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_domain::data_store::{Connection, DataPath, DataStore, DataStoreId};
    use sluice_domain::flow::FlowId;
    use sluice_domain::flow_input::ExecutionEngine;
    use sluice_domain::flow_input::MAX_EXPRESSION_DEPTH;
    use sluice_domain::graph::TransformGraph;
    use sluice_domain::names::DataStoreName;
    use sluice_domain::ports::PlannedWrites;

    struct Panicking;

    #[async_trait]
    impl FlowEngine for Panicking {
        async fn run(
            &self,
            _: FlowPlan,
            _: Arc<dyn StepEvents>,
            _: CancellationToken,
        ) -> RunOutcome {
            panic!("a bug in an engine");
        }

        async fn discard_leftovers(&self, _: &FlowPlan) -> sluice_domain::Result<()> {
            Ok(())
        }
    }

    struct Deep;

    /// Recurses `levels` deep with frames of at least 4 KiB.
    fn recurse(levels: usize) -> usize {
        #[allow(clippy::cast_possible_truncation)]
        let frame = [levels as u8; 4096];
        if levels == 0 {
            return usize::from(frame[0]);
        }
        recurse(levels - 1) + usize::from(std::hint::black_box(frame)[1])
    }

    #[async_trait]
    impl FlowEngine for Deep {
        async fn run(
            &self,
            _: FlowPlan,
            _: Arc<dyn StepEvents>,
            _: CancellationToken,
        ) -> RunOutcome {
            // Four times the bound, at 4 KiB a level: 16 MiB of stack, eight times a worker's.
            std::hint::black_box(recurse(4 * MAX_EXPRESSION_DEPTH));
            RunOutcome::Completed
        }

        async fn discard_leftovers(&self, _: &FlowPlan) -> sluice_domain::Result<()> {
            Ok(())
        }
    }

    /// Ignores its cancel, and polls for a long time between awaits, as a spilling sort may.
    struct Stubborn;

    #[async_trait]
    impl FlowEngine for Stubborn {
        async fn run(
            &self,
            _: FlowPlan,
            _: Arc<dyn StepEvents>,
            _: CancellationToken,
        ) -> RunOutcome {
            loop {
                std::thread::sleep(std::time::Duration::from_millis(300));
                tokio::task::yield_now().await;
            }
        }

        async fn discard_leftovers(&self, _: &FlowPlan) -> sluice_domain::Result<()> {
            Ok(())
        }
    }

    struct NoEvents;

    #[async_trait]
    impl StepEvents for NoEvents {
        async fn started(&self, _: &Step, _: &sluice_domain::step::StepPlace) {}
        async fn pushed_down(&self, _: &Step, _: &sluice_domain::step::StepPlace) {}
        async fn note(&self, _: &Step, _: &str) {}
        async fn finished(&self, _: &Step, _: u64, _: std::time::Duration) {}
        async fn may_commit(&self) -> bool {
            true
        }
    }

    fn plan() -> FlowPlan {
        FlowPlan {
            flow_id: FlowId(1),
            sources: Vec::new(),
            transforms: Vec::new(),
            graph: TransformGraph::build(&[], &[], &sluice_engine::DataFusionSqlAnalyzer).unwrap(),
            target: DataStore {
                id: DataStoreId(1),
                name: DataStoreName::parse("target").unwrap(),
                connection: Connection::Columnar {
                    path: DataPath::parse("target").unwrap(),
                },
                created_utc: chrono::Utc::now(),
                revision: 0,
            },
            writes: PlannedWrites::Tables(Vec::new()),
            engine: ExecutionEngine::Local,
        }
    }

    #[tokio::test]
    async fn a_panicking_run_fails_its_flow_and_the_process_goes_on() {
        let threads = OnFlowThreads::start(Arc::new(Panicking), 2).unwrap();
        let outcome = threads
            .run(plan(), Arc::new(NoEvents), CancellationToken::new())
            .await;
        match outcome {
            RunOutcome::Failed { message, .. } => assert_eq!(message, PANICKED),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_run_may_recurse_far_deeper_than_a_worker_thread_could() {
        let threads = OnFlowThreads::start(Arc::new(Deep), 2).unwrap();
        let outcome = threads
            .run(plan(), Arc::new(NoEvents), CancellationToken::new())
            .await;
        assert!(matches!(outcome, RunOutcome::Completed), "{outcome:?}");
    }

    #[tokio::test]
    async fn a_cancelled_run_that_does_not_stop_by_itself_is_stopped_under_it() {
        let threads = OnFlowThreads::start(Arc::new(Stubborn), 2).unwrap();
        let cancel = CancellationToken::new();
        let asked = std::time::Instant::now();
        let later = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            later.cancel();
        });
        let outcome = threads.run(plan(), Arc::new(NoEvents), cancel).await;
        assert!(matches!(outcome, RunOutcome::Cancelled), "{outcome:?}");
        assert!(asked.elapsed() < std::time::Duration::from_secs(3));
    }
}
