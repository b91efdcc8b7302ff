//! What every target shares: a write stages a flow's outputs where nobody sees them, then makes
//! them all visible at once on commit. Dropping a staged write without committing leaves the
//! target as it was. A store of tables is written by a [`TableWrite`], a file store by a
//! [`FileWrite`]; both commit as a [`StagedWrite`].

use async_trait::async_trait;
use datafusion::arrow::array::{Array, UInt64Array};
use datafusion::arrow::datatypes::{DataType, FieldRef, IntervalUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::prelude::{SessionContext, cast, ident};
use sluice_domain::flow::FlowId;
use sluice_domain::flow_input::WriteMode;
use sluice_domain::names::TableName;

use crate::location::S3Location;
use crate::{Error, Result};

#[async_trait]
pub trait StagedWrite: Send {
    /// Makes every output written so far visible.
    async fn commit(self: Box<Self>) -> Result<()>;
}

/// A write of named tables: a database's, or a columnar store's folders.
#[async_trait]
pub trait TableWrite: StagedWrite {
    /// Writes one output into `table`, out of sight, and returns how many rows it wrote.
    async fn write(
        &mut self,
        ctx: &SessionContext,
        table: &TableName,
        mode: WriteMode,
        data: DataFrame,
    ) -> Result<u64>;
}

/// A write of a store that is one file, by the flow's one output.
#[async_trait]
pub trait FileWrite: StagedWrite {
    /// Writes the output, out of sight, and returns how many rows it wrote.
    async fn write(
        &mut self,
        ctx: &SessionContext,
        mode: WriteMode,
        data: DataFrame,
    ) -> Result<u64>;
}

/// `data` with what Parquet cannot store in a form it can: an interval of months, days and
/// nanoseconds (a PostgreSQL `interval`), which Parquet's own interval (milliseconds) would cut,
/// is written as its text (`1 mons 2 days 3.500000000 secs`).
///
/// # Errors
/// DataFusion's, when the projection cannot be planned.
pub fn parquet_ready(data: DataFrame) -> Result<DataFrame> {
    let fields = data.schema().fields().clone();
    let nanosecond_interval =
        |f: &FieldRef| *f.data_type() == DataType::Interval(IntervalUnit::MonthDayNano);
    if !fields.iter().any(nanosecond_interval) {
        return Ok(data);
    }
    let columns = fields
        .iter()
        .map(|f| {
            if nanosecond_interval(f) {
                cast(ident(f.name()), DataType::Utf8).alias(f.name())
            } else {
                ident(f.name())
            }
        })
        .collect::<Vec<_>>();
    Ok(data.select(columns)?)
}

/// The row count DataFusion's file writers report.
pub(super) fn written_rows(report: &[RecordBatch]) -> u64 {
    report
        .first()
        .and_then(|batch| {
            batch
                .column(0)
                .as_any()
                .downcast_ref::<UInt64Array>()
                .filter(|c| !c.is_empty())
                .map(|c| c.value(0))
        })
        .unwrap_or(0)
}

/// Deletes objects a write staged on S3 and will not commit, on a task of its own: a drop cannot
/// wait. An object left by a killed process stays under its hidden name.
pub(super) fn discard_on_s3(staged: Vec<S3Location>) {
    use object_store::ObjectStoreExt;
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if staged.is_empty() {
        return;
    }
    runtime.spawn(async move {
        for object in staged {
            if let Err(error) = object.store.delete(&object.path()).await {
                tracing::warn!(location = %object.url(), %error, "could not remove a staged object");
            }
        }
    });
}

/// A unique name for a staging table of flow `flow` in a database target, which the commit renames
/// or copies into the final one. It starts with [`staging_prefix`], so that what a dead process
/// left staged can be found by its flow. 47 characters at most: MySQL takes 64, and its commit
/// parks old tables under the name with `_old` added.
pub(super) fn staging_table(flow: FlowId) -> String {
    let unique = uuid::Uuid::new_v4().simple().to_string();
    format!("{}{}", staging_prefix(flow), &unique[..12])
}

pub(super) fn staging_prefix(flow: FlowId) -> String {
    format!("sluice_staging_{flow}_")
}

/// The error for a column that a `target` table (PostgreSQL, MySQL) has no type for.
pub(crate) fn untakeable_column(
    field: &datafusion::arrow::datatypes::Field,
    target: &str,
) -> Error {
    Error::Unsupported(format!(
        "column '{}' has type {}, which a {target} table cannot take yet; \
         cast it in a transform (to text, say)",
        field.name(),
        field.data_type()
    ))
}

/// A unique name beside the final one, hidden (dot-prefixed) so that readers of the folder skip
/// it, and marked with the flow that staged it so that what a dead process left can be found
/// ([`leftovers`]).
pub(super) fn staging_name(final_name: &str, flow: FlowId, suffix: &str) -> String {
    format!(
        ".{final_name}.sluice-{}-{}{suffix}",
        flow.0,
        uuid::Uuid::new_v4().simple()
    )
}

pub(super) fn create_dir(path: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|e| Error::io(format!("creating {}", path.display()), e))
}

pub(super) fn rename(from: &std::path::Path, to: &std::path::Path) -> Result<()> {
    std::fs::rename(from, to)
        .map_err(|e| Error::io(format!("moving {} to {}", from.display(), to.display()), e))
}
