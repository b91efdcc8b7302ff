use async_trait::async_trait;
use datafusion::dataframe::DataFrame;
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use sea_orm::sqlx::sqlite::{Sqlite, SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sea_orm::sqlx::{AssertSqlSafe, Executor, Transaction};
use sluice_domain::flow_input::WriteMode;
use sluice_domain::names::TableName;
use std::path::PathBuf;
use std::time::Duration;

use super::{StagedWrite, create_dir, required_table};
use crate::Result;
use crate::identifiers::quote;
use crate::sqlite_arrow::{create_table_sql, insert_statements};

/// All outputs in one SQLite transaction: a replace drops and recreates its table inside it, so
/// until the commit readers see the old tables, and a rollback (a failure, a cancel, a crash)
/// leaves them untouched.
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
            .busy_timeout(Duration::from_secs(30))
            // The file may come with triggers and views of its own: they may not call functions
            // with side effects.
            .pragma("trusted_schema", "OFF");
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        let transaction = pool.begin().await?;
        Ok(Self {
            transaction,
            _pool: pool,
        })
    }
}

#[async_trait]
impl StagedWrite for SqliteWrite {
    async fn write(
        &mut self,
        _ctx: &SessionContext,
        table: Option<&TableName>,
        mode: WriteMode,
        data: DataFrame,
    ) -> Result<u64> {
        let table = required_table(table, "sqlite")?.as_str();
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

    async fn commit(self: Box<Self>) -> Result<()> {
        self.transaction.commit().await?;
        Ok(())
    }
}
