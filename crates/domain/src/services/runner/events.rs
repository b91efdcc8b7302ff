//! The engine's step events written to the flow's output: log lines, step states, progress.

use super::*;

/// Turns the engine's step events into log lines and progress on the flow's output.
pub(super) struct OutputEvents {
    pub(super) outputs: Arc<dyn FlowOutputRepository>,
    pub(super) output: FlowOutputId,
    pub(super) steps: usize,
    pub(super) finished: AtomicUsize,
    /// Held while a step's change is stamped and written: steps report from tasks of their own,
    /// and a line stamped first but written second would read out of order in the log.
    pub(super) in_order: tokio::sync::Mutex<()>,
    pub(super) runner: RunnerId,
    pub(super) lease: Duration,
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
