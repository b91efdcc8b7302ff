//! One run of a flow, from its claim to its end state: planned, started, run on the engine, and
//! settled as the engine's outcome says.

use super::*;

impl FlowRunner {
    pub(super) async fn run_and_settle(
        &self,
        flow: &Flow,
        hand_back: CancellationToken,
    ) -> Result<()> {
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
        let Some((plan, attempts)) = self.start(flow).await? else {
            return Ok(());
        };
        let steps = plan.steps().len();
        let events = Arc::new(OutputEvents {
            outputs: self.outputs.clone(),
            output,
            steps,
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
        self.settle(flow, outcome, attempts, &hand_back).await
    }

    /// Plans `flow` and says in its output that it started, with its steps. Returns the plan and
    /// the attempt (this one, and how many the input allows); `None` for a flow that could not
    /// be planned, which has failed saying why.
    async fn start(&self, flow: &Flow) -> Result<Option<(FlowPlan, (u32, u32))>> {
        let output = flow.flow_output_id;
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
                self.finish(output, FlowState::Failed).await?;
                return Ok(None);
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
        Ok(Some((plan, attempts)))
    }

    /// Settles `flow` as the engine's `outcome` says; a cancel that came from `hand_back` (the
    /// drain was over) puts it back in the queue instead.
    async fn settle(
        &self,
        flow: &Flow,
        outcome: RunOutcome,
        attempts: (u32, u32),
        hand_back: &CancellationToken,
    ) -> Result<()> {
        let output = flow.flow_output_id;
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
                self.settle_failed(flow, &step, &message, attempts, now)
                    .await
            }
        }
    }

    pub(super) async fn settle_cancelled(
        &self,
        output: FlowOutputId,
        now: DateTime<Utc>,
    ) -> Result<()> {
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
    pub(super) async fn finish(&self, output: FlowOutputId, end: FlowState) -> Result<()> {
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
}
