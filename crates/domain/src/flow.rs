//! Flows, their outputs and the one state machine every state change goes through.

use chrono::{DateTime, Utc};
use std::fmt;

use crate::flow_input::FlowInputId;
use crate::step::StepResult;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowId(pub i64);

impl fmt::Display for FlowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowOutputId(pub i64);

/// Where a flow is in its life.
///
/// ```text
/// READY ──> RUNNING ──> COMPLETED
///   │  │       │  └───> FAILED
///   │  │       └──> CANCELLING ──> CANCELLED
///   │  │                  └──────> COMPLETED | FAILED (the work ended before the cancel took)
///   │  └──> FAILED (the input could not be resolved)
///   └──> CANCELLED
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowState {
    Ready,
    Running,
    /// A cancel was asked for and the runner has not stopped the work yet.
    Cancelling,
    Cancelled,
    Failed,
    Completed,
}

impl FlowState {
    pub const ALL: [Self; 6] = [
        Self::Ready,
        Self::Running,
        Self::Cancelling,
        Self::Cancelled,
        Self::Failed,
        Self::Completed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "READY",
            Self::Running => "RUNNING",
            Self::Cancelling => "CANCELLING",
            Self::Cancelled => "CANCELLED",
            Self::Failed => "FAILED",
            Self::Completed => "COMPLETED",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    pub fn is_finished(self) -> bool {
        matches!(self, Self::Cancelled | Self::Failed | Self::Completed)
    }

    pub fn can_become(self, next: Self) -> bool {
        use FlowState::*;
        matches!(
            (self, next),
            (Ready, Running | Cancelled | Failed)
                | (Running, Cancelling | Completed | Failed)
                | (Cancelling, Cancelled | Completed | Failed)
        )
    }

    /// # Errors
    /// `IllegalTransition` when the state machine has no such edge.
    pub fn transition(self, next: Self) -> crate::Result<Self> {
        if self.can_become(next) {
            Ok(next)
        } else {
            Err(crate::Error::IllegalTransition {
                from: self,
                to: next,
            })
        }
    }

    /// The state a cancel request moves this state to: a flow that has not started is cancelled at
    /// once; a running one is asked to stop.
    ///
    /// # Errors
    /// `IllegalTransition` when the flow has already finished.
    pub fn on_cancel(self) -> crate::Result<Self> {
        match self {
            Self::Ready => self.transition(Self::Cancelled),
            Self::Running => self.transition(Self::Cancelling),
            Self::Cancelling => Ok(Self::Cancelling),
            finished => finished.transition(Self::Cancelled),
        }
    }
}

impl fmt::Display for FlowState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub id: FlowId,
    pub flow_input_id: FlowInputId,
    pub flow_output_id: FlowOutputId,
    pub created_utc: DateTime<Utc>,
    /// The flow this one runs again, when it is a rerun.
    pub rerun_of: Option<FlowId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub percent: u8,
    pub updated_utc: DateTime<Utc>,
}

/// A flow's newest lines of one stream, each prefixed with its own UTC time; `updated_utc` is the
/// newest line's. A view holds at most [`Lines::NEWEST`] of them, so reading a flow costs the same
/// however long it ran; `earlier` says that older lines exist (page them with the flow's lines).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lines {
    pub lines: Vec<String>,
    pub updated_utc: Option<DateTime<Utc>>,
    pub earlier: bool,
}

impl Lines {
    /// How many of a stream's newest lines a flow view holds.
    pub const NEWEST: usize = 100;
}

/// Which of a flow's two streams a line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineStream {
    Log,
    Error,
}

impl LineStream {
    pub const ALL: [Self; 2] = [Self::Log, Self::Error];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Log => "log",
            Self::Error => "error",
        }
    }
}

/// One line of a flow's log or errors, with the id that orders them and pages through them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub id: i64,
    pub stream: LineStream,
    pub line: String,
    pub created_utc: DateTime<Utc>,
}

/// How a flow whose runner died is settled, written together with its end state so that nobody
/// sees the state without the line that explains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    pub error_line: String,
    /// What its running steps become; pending ones become SKIPPED.
    pub running_steps: crate::step::StepState,
    pub step_error: String,
}

/// Who runs a flow: one per runner process, written on the flows it claims.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunnerId(pub String);

impl fmt::Display for RunnerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The only mutable entity: what a flow is doing and has done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowOutput {
    pub id: FlowOutputId,
    pub state: FlowState,
    pub progress: Progress,
    pub logs: Lines,
    pub errors: Lines,
    /// Each step of the flow and what it did, in plan order; empty until the flow starts.
    pub steps: Vec<StepResult>,
    /// Which attempt this is, from 1 (a failed attempt is retried while the input allows).
    pub attempt: u32,
    /// When its first attempt was claimed by a runner, by the state database's clock.
    pub started_utc: Option<DateTime<Utc>>,
    /// When it reached COMPLETED, FAILED or CANCELLED, by the state database's clock.
    pub finished_utc: Option<DateTime<Utc>>,
}

/// A flow with its output, as one read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowView {
    pub flow: Flow,
    /// The exact version of the flow input the flow runs (`orders-report:2`).
    pub flow_input: crate::flow_input::FlowInputRef,
    pub output: FlowOutput,
    /// The flows that run this one again, oldest first.
    pub reruns: Vec<FlowId>,
}

#[cfg(test)]
mod tests {
    use super::FlowState::*;

    #[test]
    fn finished_flows_cannot_be_cancelled() {
        for state in [Completed, Failed, Cancelled] {
            assert!(state.on_cancel().is_err(), "{state} must refuse a cancel");
        }
    }

    #[test]
    fn a_ready_flow_is_cancelled_at_once_and_a_running_one_is_asked_to_stop() {
        assert_eq!(Ready.on_cancel().unwrap(), Cancelled);
        assert_eq!(Running.on_cancel().unwrap(), Cancelling);
        assert_eq!(Cancelling.on_cancel().unwrap(), Cancelling);
    }

    #[test]
    fn nothing_leaves_a_finished_state() {
        for from in [Completed, Failed, Cancelled] {
            for to in super::FlowState::ALL {
                assert!(!from.can_become(to), "{from} -> {to}");
            }
        }
        assert!(!Ready.can_become(Completed));
        assert!(!Cancelling.can_become(Running));
    }
}
