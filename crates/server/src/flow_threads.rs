//! Flows run on threads of their own: apart from the HTTP workers and the runner's bookkeeping,
//! at a lower priority, with a stack sized for the deepest transform allowed, and where a panic
//! fails the flow rather than the process.
//!
//! - Priority: a CPU-bound flow (a large join, a sort that spills) would otherwise hold the
//!   threads that claim the next flow, renew leases and notice cancels. On threads of their own,
//!   at a higher `nice`, the operating system gives the interactive work the cores first.
//! - Stack: DataFusion plans and evaluates expressions recursively, a frame per level. A
//!   transform nests at most
//!   [`sluice_domain::flow_input::MAX_EXPRESSION_DEPTH`] levels (refused when defined otherwise);
//!   [`STACK_BYTES`] holds that many levels many times over, where a worker's 2 MiB does not.
//! - Panics: a task's panic is caught by the runtime and reported here as the flow's failure.

use async_trait::async_trait;
use sluice_domain::ports::{FlowEngine, FlowPlan, RunOutcome, Step, StepEvents, StepKind};
use std::sync::Arc;
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use crate::query_threads::{OwnedRuntime, lower_this_threads_priority};

/// Each flow thread's stack. Reserved, not used: pages are only taken as a deep plan reaches them.
const STACK_BYTES: usize = 64 << 20;

/// Threads for the blocking calls of flows (file reads, SQLite), each with [`STACK_BYTES`].
const BLOCKING_THREADS: usize = 64;

/// The message of a flow whose run panicked; the panic itself goes to the log.
pub const PANICKED: &str =
    "Sluice stopped this flow on an internal error; the error is in Sluice's log";

/// An engine whose every run happens on the flow threads.
pub struct OnFlowThreads {
    engine: Arc<dyn FlowEngine>,
    handle: Handle,
    _runtime: Arc<OwnedRuntime>,
}

impl OnFlowThreads {
    /// One thread per core.
    ///
    /// # Errors
    /// The operating system's, when it cannot start a thread.
    pub fn start(engine: Arc<dyn FlowEngine>) -> std::io::Result<Self> {
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .max_blocking_threads(BLOCKING_THREADS)
            .thread_stack_size(STACK_BYTES)
            .thread_name("sluice-flow")
            .on_thread_start(lower_this_threads_priority)
            .enable_all()
            .build()?;
        Ok(Self {
            engine,
            handle: runtime.handle().clone(),
            _runtime: Arc::new(OwnedRuntime(Some(runtime))),
        })
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
        // Dropped (the runner stopping), the run is aborted at its next await.
        let run = AbortOnDropHandle::new(
            self.handle
                .spawn(async move { engine.run(plan, events, cancel).await }),
        );
        match run.await {
            Ok(outcome) => outcome,
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
        AbortOnDropHandle::new(
            self.handle
                .spawn(async move { engine.discard_leftovers(&plan).await }),
        )
        .await
        .map_err(|err| {
            sluice_domain::Error::Internal(format!("discarding leftovers stopped: {err}"))
        })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_domain::flow::FlowId;
    use sluice_domain::flow_input::EngineKind;
    use sluice_domain::flow_input::MAX_EXPRESSION_DEPTH;
    use sluice_domain::graph::TransformGraph;

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
            outputs: Vec::new(),
            engine: EngineKind::Local,
        }
    }

    #[tokio::test]
    async fn a_panicking_run_fails_its_flow_and_the_process_goes_on() {
        let threads = OnFlowThreads::start(Arc::new(Panicking)).unwrap();
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
        let threads = OnFlowThreads::start(Arc::new(Deep)).unwrap();
        let outcome = threads
            .run(plan(), Arc::new(NoEvents), CancellationToken::new())
            .await;
        assert!(matches!(outcome, RunOutcome::Completed), "{outcome:?}");
    }
}
