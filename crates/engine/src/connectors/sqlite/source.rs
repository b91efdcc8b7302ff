use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::mpsc;

use crate::connectors::SourceConnector;
use crate::connectors::sqlite::arrow::{Cell, ResultColumn, RowsToArrow, schema_of_declared};
use crate::connectors::sqlite::sandbox::SandboxedSqlite;
use crate::handoff::Wanted;
use crate::rows::RowSink;
use crate::{Error, Result};

const BATCH_ROWS: usize = 8192;

/// A table or query of a SQLite database file, read in a sandbox (see [`crate::sqlite_sandbox`])
/// on a blocking thread, batch by batch.
pub struct SqliteSource {
    path: PathBuf,
    /// The path as the store gives it, for errors: where the data folder lies is not said.
    shown: String,
    sql: String,
}

impl SqliteSource {
    pub fn new(path: PathBuf, shown: &str, sql: String) -> Self {
        Self {
            path,
            shown: shown.to_owned(),
            sql,
        }
    }
}

/// What the reading thread hands over.
enum Read {
    Batch(RecordBatch),
    /// The columns of a query that returned no rows: they still matter to the transforms.
    Empty(SchemaRef),
}

#[async_trait]
impl SourceConnector for SqliteSource {
    async fn read(&self, _ctx: &SessionContext, spool: &mut dyn RowSink) -> Result<()> {
        if !self.path.is_file() {
            return Err(Error::Location(format!(
                "the sqlite database '{}' does not exist",
                self.shown
            )));
        }
        // Two batches in flight at most: the reader waits for the flow rather than fill memory.
        let (sender, mut batches) = mpsc::channel::<Result<Read>>(2);
        let stop = Arc::new(AtomicBool::new(false));
        // Stops the reader however this read ends: done, failed, or dropped by a cancel.
        let _stop_on_drop = StopOnDrop(stop.clone());
        let (path, sql, reader_stop) = (self.path.clone(), self.sql.clone(), stop.clone());
        let reader = tokio::task::spawn_blocking(move || {
            if let Err(err) = read_blocking(&path, &sql, &sender, &reader_stop) {
                let _ = sender.blocking_send(Err(err));
            }
        });
        while let Some(read) = batches.recv().await {
            match read? {
                Read::Batch(batch) => {
                    if spool.push(batch).await? == Wanted::NoMore {
                        break;
                    }
                }
                Read::Empty(schema) => spool.declare(schema)?,
            }
        }
        stop.store(true, Ordering::Relaxed);
        drop(batches);
        let _ = reader.await;
        Ok(())
    }
}

struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn read_blocking(
    path: &Path,
    sql: &str,
    sender: &mpsc::Sender<Result<Read>>,
    stop: &Arc<AtomicBool>,
) -> Result<()> {
    let sqlite = SandboxedSqlite::open(path)?;
    let flag = stop.clone();
    let closed = sender.clone();
    sqlite.stop_when(move || flag.load(Ordering::Relaxed) || closed.is_closed())?;
    let mut statement = sqlite.prepare(sql)?;
    let columns: Vec<ResultColumn> = statement
        .columns()
        .iter()
        .map(|column| ResultColumn {
            name: column.name().to_owned(),
            declared: column.decl_type().map(str::to_owned),
        })
        .collect();
    let width = columns.len();
    let mut rows = statement.query([]).map_err(sqlite_failed)?;
    let mut pending: Vec<Vec<Cell>> = Vec::with_capacity(BATCH_ROWS);
    let mut converter: Option<RowsToArrow> = None;
    let mut read = 0;
    loop {
        let next = rows.next().map_err(|err| {
            if stop.load(Ordering::Relaxed) {
                Error::Sqlite("the read was stopped".into())
            } else {
                sqlite_failed(err)
            }
        })?;
        let end = next.is_none();
        if let Some(row) = next {
            pending.push(
                (0..width)
                    .map(|i| row.get_ref(i).map(Cell::read))
                    .collect::<rusqlite::Result<_>>()
                    .map_err(sqlite_failed)?,
            );
        }
        if pending.len() == BATCH_ROWS || (end && !pending.is_empty()) {
            let converter = converter.get_or_insert_with(|| RowsToArrow::new(&columns, &pending));
            let batch = converter.batch(&pending, read)?;
            read += pending.len();
            pending.clear();
            if sender.blocking_send(Ok(Read::Batch(batch))).is_err() {
                // The flow wants no more rows, or was cancelled.
                return Ok(());
            }
        }
        if end {
            break;
        }
    }
    if read == 0 {
        let _ = sender.blocking_send(Ok(Read::Empty(schema_of_declared(&columns))));
    }
    Ok(())
}

fn sqlite_failed(err: rusqlite::Error) -> Error {
    Error::Sqlite(format!("reading the sqlite database failed: {err}"))
}
