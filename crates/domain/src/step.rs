//! The steps of a flow (one per source ingested, transform run and output written) and what each
//! did: the per-step results a flow reports, like a dbt run's.

use chrono::{DateTime, Utc};
use std::fmt;

use crate::flow_input::Transform;
use crate::names::TableName;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepKind {
    Ingest,
    Transform,
    Output,
}

impl StepKind {
    pub const ALL: [Self; 3] = [Self::Ingest, Self::Transform, Self::Output];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Transform => "transform",
            Self::Output => "output",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// A step of a flow, named as the flow input names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Step {
    pub kind: StepKind,
    pub name: String,
}

impl Step {
    pub fn ingest(alias: &TableName) -> Self {
        Self {
            kind: StepKind::Ingest,
            name: alias.to_string(),
        }
    }

    pub fn transform(transform: &Transform) -> Self {
        Self {
            kind: StepKind::Transform,
            name: transform.name.to_string(),
        }
    }

    /// An output is named by what it writes: `transform -> table`, or the transform alone for a
    /// target that is one file.
    pub fn output(transform: &TableName, table: Option<&TableName>) -> Self {
        let name = match table {
            Some(table) => format!("{transform} -> {table}"),
            None => transform.to_string(),
        };
        Self {
            kind: StepKind::Output,
            name,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} '{}'", self.kind.as_str(), self.name)
    }
}

/// Where a step ran: in Sluice, in the database that holds its sources (a transform pushed
/// down, and the sources only it read), or on the Ballista cluster (every source and transform
/// of a flow whose input chose it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepPlace {
    Sluice,
    Store {
        /// The store's engine: `postgres`, `mysql`.
        engine: String,
        /// The data store's name.
        name: String,
    },
    Ballista,
}

impl fmt::Display for StepPlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sluice => f.write_str("in Sluice"),
            Self::Store { engine, name } => write!(f, "pushed down to {engine} store \"{name}\""),
            Self::Ballista => f.write_str("on the Ballista cluster"),
        }
    }
}

/// Where a step is. A flow's steps are all PENDING when it starts; those a failure or a cancel
/// kept from starting end SKIPPED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepState {
    Pending,
    Running,
    Completed,
    Failed,
    /// It was running when the flow was cancelled, or when another step failed.
    Cancelled,
    Skipped,
}

impl StepState {
    pub const ALL: [Self; 6] = [
        Self::Pending,
        Self::Running,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
        Self::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Running => "RUNNING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
            Self::Skipped => "SKIPPED",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// What a step did, as the flow reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepResult {
    pub step: Step,
    pub state: StepState,
    /// Rows read (ingest), produced (transform) or written (output); set when the step completed.
    pub rows: Option<u64>,
    pub started_utc: Option<DateTime<Utc>>,
    pub finished_utc: Option<DateTime<Utc>>,
    pub error: Option<String>,
    /// Where it ran ([`StepPlace`]'s words), once it started.
    pub ran_in: Option<String>,
}

impl StepResult {
    pub fn pending(step: Step) -> Self {
        Self {
            step,
            state: StepState::Pending,
            rows: None,
            started_utc: None,
            finished_utc: None,
            error: None,
            ran_in: None,
        }
    }

    /// Applies a change as the store applies it, so the in-memory store and the SQL ones agree.
    pub fn apply(&mut self, change: &StepChange) {
        match change {
            StepChange::Started { at, ran_in } => {
                self.state = StepState::Running;
                self.started_utc = Some(*at);
                self.ran_in = Some(ran_in.clone());
            }
            StepChange::PushedDown { ran_in, at } => {
                self.state = StepState::Completed;
                self.started_utc = Some(*at);
                self.finished_utc = Some(*at);
                self.ran_in = Some(ran_in.clone());
            }
            StepChange::Completed { rows, at } => {
                self.state = StepState::Completed;
                self.rows = Some(*rows);
                self.finished_utc = Some(*at);
            }
            StepChange::Failed { error, at } => {
                self.state = StepState::Failed;
                self.error = Some(error.clone());
                self.finished_utc = Some(*at);
            }
        }
    }

    /// Ends a step the flow ended around: a running one as `running_end`, a pending one SKIPPED.
    /// Finished steps keep their result.
    pub fn close(&mut self, running_end: StepState, error: Option<&str>, at: DateTime<Utc>) {
        match self.state {
            StepState::Running => {
                self.state = running_end;
                self.finished_utc = Some(at);
                self.error = error.map(str::to_owned);
            }
            StepState::Pending => self.state = StepState::Skipped,
            _ => {}
        }
    }
}

/// One thing that happened to a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepChange {
    Started {
        at: DateTime<Utc>,
        /// Where it runs ([`StepPlace`]'s words).
        ran_in: String,
    },
    /// A source's reading was done by the database a transform reading it was pushed down to:
    /// the step is complete, with no rows of its own (they never reached Sluice).
    PushedDown {
        ran_in: String,
        at: DateTime<Utc>,
    },
    Completed {
        rows: u64,
        at: DateTime<Utc>,
    },
    Failed {
        error: String,
        at: DateTime<Utc>,
    },
}
