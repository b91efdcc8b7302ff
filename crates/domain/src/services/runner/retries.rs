//! A failed attempt: queued again after a backoff that doubles when its flow input allows more
//! attempts, else the flow's end.

use super::*;

impl FlowRunner {
    /// How long after failed attempt `attempt` the next one starts: the backoff, doubled after
    /// each attempt, at most ten minutes.
    pub(super) fn backoff(&self, attempt: u32) -> Duration {
        let doubled = self
            .settings
            .retry_backoff
            .saturating_mul(1 << attempt.saturating_sub(1).min(16));
        doubled.min(Duration::from_secs(600))
    }

    /// Settles an attempt that failed at `step`: queues the flow again when `attempts` (this
    /// one, and how many the input allows) leave one, else fails it, every step closed.
    pub(super) async fn settle_failed(
        &self,
        flow: &Flow,
        step: &Step,
        message: &str,
        attempts: (u32, u32),
        now: DateTime<Utc>,
    ) -> Result<()> {
        let output = flow.flow_output_id;
        let runner = &self.settings.runner;
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
                step,
                StepChange::Failed {
                    error: message.to_owned(),
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
