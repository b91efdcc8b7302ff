//! A MySQL or MariaDB table or query, read row by row into Arrow batches (see
//! [`crate::connectors::mysql::arrow`] for the type mapping).

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use sea_orm::sqlx::mysql::{MySqlColumn, MySqlConnection};
use sea_orm::sqlx::{AssertSqlSafe, Executor, SqlSafeStr, Statement};
use sluice_domain::data_store::ServerConnection;

use crate::Result;
use crate::connectors::SourceConnector;
use crate::connectors::mysql::arrow::{Declared, RowsToArrow, declared_columns};
use crate::connectors::server::{QueryCanceller, Server};
use crate::handoff::Wanted;
use crate::rows::RowSink;

const BATCH_ROWS: usize = 8192;

pub struct MysqlSource {
    server: Server,
    sql: String,
    /// A pushed-down transform's columns as Sluice plans them: the DECIMALs the query computes
    /// are read as their planned decimals ([`Declared::with_planned_decimal`]).
    planned: Option<SchemaRef>,
}

impl MysqlSource {
    pub fn new(server: ServerConnection, sql: String) -> Self {
        Self {
            server: Server::new(server),
            sql,
            planned: None,
        }
    }

    /// A transform's query pushed down to the server, its rows read as the `planned` columns.
    pub fn pushed_down(server: ServerConnection, sql: String, planned: SchemaRef) -> Self {
        Self {
            planned: Some(planned),
            ..Self::new(server, sql)
        }
    }

    /// What each column is read as: its table's declaration, or for a pushed-down transform
    /// its planned type.
    async fn declared(
        &self,
        connection: &mut MySqlConnection,
        columns: &[MySqlColumn],
    ) -> Result<Vec<Declared>> {
        let declared = declared_columns(connection, columns).await?;
        let Some(planned) = &self.planned else {
            return Ok(declared);
        };
        Ok(declared
            .into_iter()
            .zip(planned.fields())
            .map(|(declared, field)| declared.with_planned_decimal(field.data_type()))
            .collect())
    }

    /// The columns the source's rows would have, asked of the server without reading any.
    ///
    /// # Errors
    /// The server cannot be reached or refuses the query.
    pub async fn describe(&self) -> Result<SchemaRef> {
        let mut connection = self.server.mysql().await?;
        let statement = connection
            .prepare(AssertSqlSafe(self.sql.clone()).into_sql_str())
            .await
            .map_err(|err| self.server.failed("reading from", err))?;
        let declared = self.declared(&mut connection, statement.columns()).await?;
        Ok(RowsToArrow::new(statement.columns(), &declared).schema())
    }
}

#[async_trait]
impl SourceConnector for MysqlSource {
    async fn read(&self, _ctx: &SessionContext, spool: &mut dyn RowSink) -> Result<()> {
        let failed = |err| self.server.failed("reading from", err);
        let mut connection = self.server.mysql().await?;
        let statement = connection
            .prepare(AssertSqlSafe(self.sql.clone()).into_sql_str())
            .await
            .map_err(failed)?;
        let declared = self.declared(&mut connection, statement.columns()).await?;
        let converter = RowsToArrow::new(statement.columns(), &declared);
        spool.declare(converter.schema())?;
        let canceller = QueryCanceller::mysql(&self.server, &mut connection).await?;
        // A source only reads: a query that would change data fails and changes nothing. The
        // connection is the read's own, so a read left halfway rolls back as it closes.
        connection
            .execute("START TRANSACTION READ ONLY")
            .await
            .map_err(failed)?;
        // Unprepared, so the server streams the rows as it finds them (text protocol).
        let mut rows = connection.fetch(AssertSqlSafe(self.sql.clone()));
        let mut pending = Vec::with_capacity(BATCH_ROWS);
        while let Some(row) =
            (rows.try_next().await).map_err(|err| self.server.reading_failed(err))?
        {
            pending.push(row);
            if pending.len() == BATCH_ROWS {
                if spool.push(converter.batch(&pending)?).await? == Wanted::NoMore {
                    return Ok(());
                }
                pending.clear();
            }
        }
        if !pending.is_empty() {
            let _ = spool.push(converter.batch(&pending)?).await?;
        }
        drop(rows);
        connection.execute("COMMIT").await.map_err(failed)?;
        canceller.finished();
        Ok(())
    }
}
