//! A running flow's lease, renewed while it runs, and the flows whose lease ran out because
//! their process died: run again from the start, or settled for good.

use super::*;

impl FlowRunner {
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
    pub(super) async fn run_again(&self, flow: &Flow) -> Result<bool> {
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
    pub(super) fn interrupted_for_good(&self) -> String {
        match self.settings.max_crashes {
            0 | 1 => INTERRUPTED.to_owned(),
            bound => format!(
                "interrupted: the Sluice process running this flow stopped before it finished, \
                 and processes running it have now stopped {bound} times (runner.max_crashes); \
                 it is not run again: find why in the log before you start it again"
            ),
        }
    }

    pub(super) fn is_running_here(&self, flow: FlowId) -> bool {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&flow)
    }

    /// While a flow runs: renews its lease, and fires `cancel` when a cancel was asked for
    /// (through any process: the state is read from the store) or the lease was lost.
    pub(super) fn heartbeat(
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
    pub(super) async fn discard_leftovers(&self, flow: &Flow) {
        let discarded = match self.plan(flow).await {
            Ok(plan) => self.engine.discard_leftovers(&plan).await,
            Err(error) => Err(error),
        };
        if let Err(error) = discarded {
            tracing::warn!(flow_id = %flow.id, %error, "what the flow staged in its target could not be removed");
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
