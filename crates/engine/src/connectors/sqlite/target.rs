use async_trait::async_trait;
use datafusion::dataframe::DataFrame;
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use sea_orm::sqlx::sqlite::{Sqlite, SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sea_orm::sqlx::{AssertSqlSafe, Executor, Transaction};
use sluice_domain::flow_input::WriteMode;
use sluice_domain::names::TableName;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::connectors::identifiers::quote;
use crate::connectors::sqlite::arrow::{create_table_sql, insert_statements};
use crate::connectors::target::{StagedWrite, TableWrite, create_dir};
use crate::{Error, Result};

/// How long a flow waits for the flows writing the same SQLite file before it to finish.
const WRITE_LOCK_WAIT: Duration = Duration::from_secs(600);
/// How long one statement waits in SQLite's busy handler for a lock another connection holds (a
/// commit waits for the file's readers, a `BEGIN IMMEDIATE` for its writer). The wait holds the
/// connection's own thread, not the flow's: a cancelled flow ends at once, and the connection
/// closes when its wait is over.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// All outputs in one SQLite transaction: a replace drops and recreates its table inside it, so
/// until the commit readers see the old tables, and a rollback (a failure, a cancel, a crash)
/// leaves them untouched.
///
/// The transaction takes the file's write lock when it begins (`BEGIN IMMEDIATE`), so flows
/// writing one file take turns. A deferred one would take it at its first write after reading
/// the schema, and two flows appending at once could each hold a read lock the other's write
/// waits on: SQLite then fails one at once ("database is locked") rather than let it wait.
pub struct SqliteWrite {
    transaction: Transaction<'static, Sqlite>,
    _pool: SqlitePool,
}

impl SqliteWrite {
    pub async fn begin(path: PathBuf) -> Result<Self> {
        if let Some(parent) = path.parent() {
            create_dir(parent)?;
        }
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .busy_timeout(BUSY_TIMEOUT)
            // The file may come with triggers and views of its own: they may not call functions
            // with side effects.
            .pragma("trusted_schema", "OFF");
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        let transaction = take_write_lock(&pool).await?;
        Ok(Self {
            transaction,
            _pool: pool,
        })
    }
}

/// A transaction holding the write lock of the pool's file, once the writers before it are done;
/// an error when they hold it past [`WRITE_LOCK_WAIT`].
async fn take_write_lock(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>> {
    let started = Instant::now();
    loop {
        match pool.begin_with("BEGIN IMMEDIATE").await {
            Ok(transaction) => return Ok(transaction),
            Err(err) if is_busy(&err) && started.elapsed() < WRITE_LOCK_WAIT => {
                tokio::task::yield_now().await;
            }
            Err(err) if is_busy(&err) => {
                return Err(Error::Sqlite(format!(
                    "the target SQLite database stayed locked by another writer for {} minutes",
                    WRITE_LOCK_WAIT.as_secs() / 60
                )));
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// SQLITE_BUSY, in any of its extended forms.
fn is_busy(err: &sea_orm::sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|e| e.code())
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| code & 0xff == 5)
}

#[async_trait]
impl TableWrite for SqliteWrite {
    async fn write(
        &mut self,
        _ctx: &SessionContext,
        table: &TableName,
        mode: WriteMode,
        data: DataFrame,
    ) -> Result<u64> {
        let table = table.as_str();
        let schema = data.schema().as_arrow().clone();
        let create = create_table_sql(table, &schema);
        match mode {
            WriteMode::Replace => {
                self.transaction
                    .execute(AssertSqlSafe(format!(
                        "DROP TABLE IF EXISTS {}",
                        quote(table)
                    )))
                    .await?;
                self.transaction.execute(AssertSqlSafe(create)).await?;
            }
            WriteMode::Append => {
                let create_if_missing =
                    create.replacen("CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1);
                self.transaction
                    .execute(AssertSqlSafe(create_if_missing))
                    .await?;
            }
        }
        let mut batches = data.execute_stream().await?;
        let mut rows = 0;
        while let Some(batch) = batches.try_next().await? {
            for mut statement in insert_statements(table, &batch)? {
                self.transaction.execute(statement.build()).await?;
            }
            rows += batch.num_rows() as u64;
        }
        Ok(rows)
    }
}

#[async_trait]
impl StagedWrite for SqliteWrite {
    async fn commit(self: Box<Self>) -> Result<()> {
        self.transaction.commit().await?;
        Ok(())
    }
}
