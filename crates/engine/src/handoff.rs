//! A table whose rows pass straight from the one step that makes them to the one step that reads
//! them, batch by batch, while both run. Nothing is kept: the maker waits while the reader is a
//! few batches behind, so a source streams into a Parquet file or a database table as it is read.
//!
//! The table can be scanned once. The engine hands off only tables that exactly one step reads
//! exactly once (see [`crate::wiring`]); a second scan gets an error, never a partial table.

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::SessionContext;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

use crate::wiring::ReadySignal;
use crate::{Error, Result};

/// How many batches the maker may run ahead of the reader.
const BATCHES_AHEAD: usize = 4;

/// Whether the reader of a table still wants its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Wanted {
    More,
    /// The reader is done (it needed only some rows, or none): the maker should stop.
    NoMore,
}

/// The maker's end of a handed-off table.
pub struct Handoff {
    name: String,
    ctx: SessionContext,
    ready: Option<ReadySignal>,
    open: Option<Open>,
    rows: u64,
}

/// A handoff whose columns are known, registered as its table.
struct Open {
    schema: SchemaRef,
    batches: mpsc::Sender<RecordBatch>,
    complete: Arc<AtomicBool>,
}

impl Handoff {
    /// The maker's end of table `name` of `ctx`; the table is registered, and `ready` given, once
    /// its columns are known.
    pub fn new(ctx: &SessionContext, name: &str, ready: ReadySignal) -> Self {
        Self {
            name: name.to_owned(),
            ctx: ctx.clone(),
            ready: Some(ready),
            open: None,
            rows: 0,
        }
    }

    /// Registers the table with these columns, so its reader can start. Later calls change
    /// nothing.
    pub fn declare(&mut self, schema: SchemaRef) -> Result<()> {
        if self.open.is_some() {
            return Ok(());
        }
        let (batches, receiver) = mpsc::channel(BATCHES_AHEAD);
        let complete = Arc::new(AtomicBool::new(false));
        let partition = HandedRows {
            name: self.name.clone(),
            schema: schema.clone(),
            receiver: Mutex::new(Some(receiver)),
            complete: complete.clone(),
        };
        let table = StreamingTable::try_new(schema.clone(), vec![Arc::new(partition)])?;
        self.ctx.register_table(&self.name, Arc::new(table))?;
        self.open = Some(Open {
            schema,
            batches,
            complete,
        });
        if let Some(ready) = self.ready.take() {
            ready.give();
        }
        Ok(())
    }

    /// Passes one batch to the reader, waiting while it is behind.
    pub async fn push(&mut self, batch: RecordBatch) -> Result<Wanted> {
        if self.open.is_none() {
            self.declare(batch.schema())?;
        }
        let open = self.open.as_ref().ok_or_else(|| {
            Error::Unsupported(format!("'{}' has no columns to pass on", self.name))
        })?;
        if batch.num_rows() == 0 {
            return Ok(Wanted::More);
        }
        // Batches of one stream can differ in nullability or metadata only; pass them all under
        // the declared schema, which the reader planned with.
        let batch = if batch.schema() == open.schema {
            batch
        } else {
            RecordBatch::try_new(open.schema.clone(), batch.columns().to_vec())?
        };
        let count = batch.num_rows() as u64;
        if open.batches.send(batch).await.is_err() {
            return Ok(Wanted::NoMore);
        }
        self.rows += count;
        Ok(Wanted::More)
    }

    /// Tells the reader the rows are complete; returns how many were passed on.
    pub fn finish(self) -> Result<u64> {
        let open = self.open.ok_or_else(|| {
            Error::Unsupported(format!("'{}' produced neither rows nor columns", self.name))
        })?;
        open.complete.store(true, Ordering::Release);
        Ok(self.rows)
    }
}

/// The reader's end: the one partition of the handed-off table.
#[derive(Debug)]
struct HandedRows {
    name: String,
    schema: SchemaRef,
    receiver: Mutex<Option<mpsc::Receiver<RecordBatch>>>,
    /// Set by the maker once every row is sent: a channel that closes without it was cut off
    /// (the maker failed or was stopped), and the reader must not take it for the end.
    complete: Arc<AtomicBool>,
}

impl PartitionStream for HandedRows {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let receiver = self
            .receiver
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let name = self.name.clone();
        let complete = self.complete.clone();
        let failure = move |what: &str| {
            Some((
                Err(DataFusionError::Execution(format!(
                    "the rows of '{name}' {what}"
                ))),
                None,
            ))
        };
        // The state: `Some(Some(receiver))` while rows may come, `Some(None)` for a scan after
        // the first (which finds no receiver left), `None` once the stream has ended.
        let rows = futures::stream::unfold(Some(receiver), move |state| {
            let complete = complete.clone();
            let failure = failure.clone();
            async move {
                let mut receiver = match state? {
                    Some(receiver) => receiver,
                    None => {
                        return failure("pass from step to step and can be read only once");
                    }
                };
                match receiver.recv().await {
                    Some(batch) => Some((Ok(batch), Some(Some(receiver)))),
                    None if complete.load(Ordering::Acquire) => None,
                    None => failure("stopped before their end"),
                }
            }
        });
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), rows))
    }
}
