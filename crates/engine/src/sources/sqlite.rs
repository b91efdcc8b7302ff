use async_trait::async_trait;
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sea_orm::sqlx::{AssertSqlSafe, ConnectOptions, Executor, SqlSafeStr, Statement};
use std::path::PathBuf;
use std::time::Duration;

use super::SourceConnector;
use crate::handoff::Wanted;
use crate::rows::StepRows;
use crate::sqlite_arrow::{RowsToArrow, schema_of_declared};
use crate::{Error, Result};

const BATCH_ROWS: usize = 8192;

/// A table or query of a SQLite database file, opened read-only.
pub struct SqliteSource {
    path: PathBuf,
    sql: String,
}

impl SqliteSource {
    pub fn new(path: PathBuf, sql: String) -> Self {
        Self { path, sql }
    }
}

#[async_trait]
impl SourceConnector for SqliteSource {
    async fn read(&self, _ctx: &SessionContext, spool: &mut StepRows) -> Result<()> {
        if !self.path.is_file() {
            return Err(Error::Location(format!(
                "the sqlite database '{}' does not exist",
                self.path.display()
            )));
        }
        let mut connection: SqliteConnection = SqliteConnectOptions::new()
            .filename(&self.path)
            .read_only(true)
            .busy_timeout(Duration::from_secs(30))
            .connect()
            .await?;
        let mut rows = connection.fetch(AssertSqlSafe(self.sql.clone()));
        let mut pending = Vec::with_capacity(BATCH_ROWS);
        let mut converter: Option<RowsToArrow> = None;
        let mut read = 0;
        loop {
            let next = rows.try_next().await?;
            let end = next.is_none();
            if let Some(row) = next {
                pending.push(row);
            }
            if pending.len() == BATCH_ROWS || (end && !pending.is_empty()) {
                let converter = converter.get_or_insert_with(|| RowsToArrow::new(&pending));
                let wanted = spool.push(converter.batch(&pending, read)?).await?;
                read += pending.len();
                if wanted == Wanted::NoMore {
                    return Ok(());
                }
                pending.clear();
            }
            if end {
                break;
            }
        }
        drop(rows);
        if read == 0 {
            // No rows: the columns still matter to the transforms, so ask SQLite for them.
            let statement = connection
                .prepare(AssertSqlSafe(self.sql.clone()).into_sql_str())
                .await?;
            spool.declare(schema_of_declared(statement.columns()))?;
        }
        Ok(())
    }
}
