//! Target connectors: each stages a flow's outputs where nobody sees them, then makes them all
//! visible at once on commit. Dropping a staged write without committing leaves the target as it
//! was. A new kind of store is a new [`StagedWrite`].

mod columnar;
mod columnar_s3;
mod file;
mod leftovers;
pub use leftovers::staged_under;
mod mysql;
mod postgres;
mod sqlite;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, UInt64Array};
use datafusion::arrow::datatypes::{DataType, FieldRef, IntervalUnit};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::prelude::{SessionContext, cast, ident};
use sluice_domain::data_store::{Connection, DataStore, RelationalConnection, ServerKind};
use sluice_domain::flow::FlowId;
use sluice_domain::flow_input::WriteMode;
use sluice_domain::names::TableName;

use crate::location::{Location, Locator, S3Location};
use crate::{Error, Result};

#[async_trait]
pub trait StagedWrite: Send {
    /// Writes one output, out of sight, and returns how many rows it wrote. `table` is the target
    /// table, or `None` for a file target.
    async fn write(
        &mut self,
        ctx: &SessionContext,
        table: Option<&TableName>,
        mode: WriteMode,
        data: DataFrame,
    ) -> Result<u64>;

    /// Makes every output written so far visible.
    async fn commit(self: Box<Self>) -> Result<()>;
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

/// Starts a write to `target`.
///
/// # Errors
/// `Location` for a path outside the data folder; `Sqlite` or `Database` when the database
/// cannot be opened.
pub async fn begin(
    target: &DataStore,
    locator: &Locator,
    flow: FlowId,
) -> Result<Box<dyn StagedWrite>> {
    match &target.connection {
        Connection::Relational(RelationalConnection::Sqlite { path }) => Ok(Box::new(
            sqlite::SqliteWrite::begin(locator.local(path)?).await?,
        )),
        Connection::Columnar { path } => match locator.locate(path)? {
            Location::Local(folder) => Ok(Box::new(columnar::ColumnarWrite::new(folder, flow))),
            Location::S3(root) => Ok(Box::new(columnar_s3::S3ColumnarWrite::new(root, flow))),
        },
        Connection::File { path, format } => Ok(Box::new(file::FileWrite::new(
            locator.locate(path)?,
            *format,
            flow,
        ))),
        Connection::Relational(RelationalConnection::Server(server)) => match server.engine {
            ServerKind::Postgres => Ok(Box::new(
                postgres::PostgresWrite::begin(server.clone(), flow).await?,
            )),
            ServerKind::Mysql => Ok(Box::new(
                mysql::MysqlWrite::begin(server.clone(), flow).await?,
            )),
        },
    }
}

/// The table an output of a `kind` target writes; validation makes sure there is one.
fn required_table<'t>(table: Option<&'t TableName>, kind: &str) -> Result<&'t TableName> {
    table.ok_or_else(|| Error::Unsupported(format!("a {kind} target needs a table")))
}

/// The row count DataFusion's file writers report.
fn written_rows(report: &[RecordBatch]) -> u64 {
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
fn discard_on_s3(staged: Vec<S3Location>) {
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
fn staging_table(flow: FlowId) -> String {
    let unique = uuid::Uuid::new_v4().simple().to_string();
    format!("{}{}", staging_prefix(flow), &unique[..12])
}

fn staging_prefix(flow: FlowId) -> String {
    format!("sluice_staging_{flow}_")
}

/// Removes what a run of flow `flow` left staged in `target` because its process died before
/// it could commit or roll back. Only MySQL targets need it: PostgreSQL and SQLite stage inside a
/// transaction, which ends with the connection. The hidden staging files of file and columnar
/// targets stay (see docs/flows.md).
///
/// # Errors
/// `Database` when the target cannot be reached or refuses.
pub async fn discard_leftovers(target: &DataStore, locator: &Locator, flow: FlowId) -> Result<()> {
    match &target.connection {
        Connection::Relational(RelationalConnection::Server(server))
            if server.engine == ServerKind::Mysql =>
        {
            mysql::discard_leftovers(server.clone(), flow).await
        }
        Connection::Columnar { path } => match locator.locate(path)? {
            Location::Local(folder) => leftovers::discard_in_folder(&folder, flow, None),
            Location::S3(root) => leftovers::discard_under(&root, flow, None).await,
        },
        Connection::File { path, .. } => {
            leftovers::discard_beside_file(&locator.locate(path)?, flow).await
        }
        _ => Ok(()),
    }
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
fn staging_name(final_name: &str, flow: FlowId, suffix: &str) -> String {
    format!(
        ".{final_name}.sluice-{}-{}{suffix}",
        flow.0,
        uuid::Uuid::new_v4().simple()
    )
}

fn create_dir(path: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|e| Error::io(format!("creating {}", path.display()), e))
}

fn rename(from: &std::path::Path, to: &std::path::Path) -> Result<()> {
    std::fs::rename(from, to)
        .map_err(|e| Error::io(format!("moving {} to {}", from.display(), to.display()), e))
}
