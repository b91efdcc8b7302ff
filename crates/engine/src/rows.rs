//! Where a step's rows go as it makes them: kept for the several steps that read them, or handed
//! off to the one step that does (see [`crate::wiring`] for which).

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::dataframe::DataFrame;
use futures::TryStreamExt;

use crate::Result;
use crate::handoff::{Handoff, Wanted};
use crate::spool::Spool;
use crate::wiring::ReadySignal;

pub enum StepRows {
    /// Kept whole, and ready for readers once complete.
    Kept {
        spool: Spool,
        ready: ReadySignal,
    },
    HandedOff(Handoff),
}

impl StepRows {
    /// The columns of the rows, known before any row (needed for a step that may produce none;
    /// a handed-off table's reader can start only once they are known).
    pub fn declare(&mut self, schema: SchemaRef) -> Result<()> {
        match self {
            Self::Kept { spool, .. } => {
                spool.declare(schema);
                Ok(())
            }
            Self::HandedOff(handoff) => handoff.declare(schema),
        }
    }

    /// Adds one batch. [`Wanted::NoMore`] tells the maker to stop: the one reader is done.
    pub async fn push(&mut self, batch: RecordBatch) -> Result<Wanted> {
        match self {
            Self::Kept { spool, .. } => {
                spool.push(batch)?;
                Ok(Wanted::More)
            }
            Self::HandedOff(handoff) => handoff.push(batch).await,
        }
    }
}

/// Runs `data` and passes every batch it yields to `rows`, until the rows are no longer wanted.
pub async fn pass_frame(data: DataFrame, rows: &mut StepRows) -> Result<()> {
    let mut batches = data.execute_stream().await?;
    rows.declare(batches.schema())?;
    while let Some(batch) = batches.try_next().await? {
        if rows.push(batch).await? == Wanted::NoMore {
            break;
        }
    }
    Ok(())
}
