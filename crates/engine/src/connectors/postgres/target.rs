//! A PostgreSQL target: every output of a flow in one transaction, written by binary COPY (see
//! [`crate::connectors::postgres::copy::encode`] for the type mapping).
//!
//! `append` copies into the table (created if missing). `replace` copies into a staging table
//! and, at commit, drops the old table and renames the staging one in its place. Readers see the
//! old tables until the commit, the old table is locked only for the swap, and a failure, a
//! cancel or a crash rolls everything back, staging tables included.

use async_trait::async_trait;
use datafusion::dataframe::DataFrame;
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use sea_orm::sqlx::postgres::PgConnection;
use sea_orm::sqlx::{AssertSqlSafe, Executor};
use sluice_domain::data_store::ServerConnection;
use sluice_domain::flow::FlowId;
use sluice_domain::flow_input::WriteMode;
use sluice_domain::names::TableName;

use crate::Result;
use crate::connectors::identifiers::quote;
use crate::connectors::postgres::copy::encode::{
    TRAILER, TargetColumn, column_list, create_table_sql, encode_rows, header,
};
use crate::connectors::server::Server;
use crate::connectors::target::{StagedWrite, TableWrite};

/// How many encoded bytes are gathered before they are sent.
const SEND_BYTES: usize = 1 << 20;

pub struct PostgresWrite {
    server: Server,
    connection: PgConnection,
    flow: FlowId,
    /// (staging table, target table) for each replaced output, swapped at commit.
    swaps: Vec<(String, String)>,
}

impl PostgresWrite {
    pub async fn begin(server: ServerConnection, flow: FlowId) -> Result<Self> {
        let server = Server::new(server);
        let mut connection = server.postgres().await?;
        connection
            .execute("BEGIN")
            .await
            .map_err(|err| server.failed("writing to", err))?;
        Ok(Self {
            server,
            connection,
            flow,
            swaps: Vec::new(),
        })
    }

    async fn run(&mut self, sql: String) -> Result<()> {
        self.connection
            .execute(AssertSqlSafe(sql))
            .await
            .map_err(|err| self.server.failed("writing to", err))?;
        Ok(())
    }

    /// Creates `table` for an append when it does not exist yet. Flows appending to one new table
    /// at once all try to create it, and `CREATE TABLE IF NOT EXISTS` only sees tables already
    /// committed: the second waits for the first's transaction, then fails on the catalog's
    /// unique index (`pg_type_typname_nsp_index`). So the create runs under a savepoint, and
    /// losing that race rolls back to it: the table the winner committed is there to copy into.
    async fn create_if_missing(&mut self, table: &str, columns: &[TargetColumn]) -> Result<()> {
        let create = create_table_sql(table, columns).replacen(
            "CREATE TABLE",
            "CREATE TABLE IF NOT EXISTS",
            1,
        );
        self.run("SAVEPOINT sluice_create_table".into()).await?;
        match self.connection.execute(AssertSqlSafe(create)).await {
            Ok(_) => {
                self.run("RELEASE SAVEPOINT sluice_create_table".into())
                    .await
            }
            Err(err) if created_meanwhile(&err) => {
                self.run("ROLLBACK TO SAVEPOINT sluice_create_table".into())
                    .await?;
                self.run("RELEASE SAVEPOINT sluice_create_table".into())
                    .await
            }
            Err(err) => Err(self.server.failed("writing to", err)),
        }
    }

    /// Copies every row of `data` into `table`; returns how many PostgreSQL stored.
    async fn copy(
        &mut self,
        table: &str,
        columns: &[TargetColumn],
        data: DataFrame,
    ) -> Result<u64> {
        let statement = format!(
            "COPY {} ({}) FROM STDIN (FORMAT binary)",
            quote(table),
            column_list(columns)
        );
        let server = &self.server;
        let failed = |err| server.failed("writing to", err);
        let mut batches = data.execute_stream().await?;
        let mut copy = self
            .connection
            .copy_in_raw(&statement)
            .await
            .map_err(failed)?;
        // Dropping `copy` on an error sends PostgreSQL a CopyFail, which aborts the transaction.
        let mut buffer = header();
        while let Some(batch) = batches.try_next().await? {
            encode_rows(&batch, columns, &mut buffer)?;
            if buffer.len() >= SEND_BYTES {
                copy.send(std::mem::take(&mut buffer))
                    .await
                    .map_err(failed)?;
            }
        }
        buffer.extend_from_slice(&TRAILER);
        copy.send(buffer).await.map_err(failed)?;
        copy.finish().await.map_err(failed)
    }
}

/// Whether a `CREATE TABLE IF NOT EXISTS` failed because another transaction created the same
/// table meanwhile: a unique violation in the catalog (23505), or the table found after all (42P07).
fn created_meanwhile(err: &sea_orm::sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "23505" || code == "42P07")
}

#[async_trait]
impl TableWrite for PostgresWrite {
    async fn write(
        &mut self,
        _ctx: &SessionContext,
        table: &TableName,
        mode: WriteMode,
        data: DataFrame,
    ) -> Result<u64> {
        let table = table.as_str();
        let columns = TargetColumn::all(data.schema().as_arrow())?;
        let into = match mode {
            WriteMode::Replace => {
                let staging = crate::connectors::target::staging_table(self.flow);
                self.run(create_table_sql(&staging, &columns)).await?;
                self.swaps.push((staging.clone(), table.to_owned()));
                staging
            }
            WriteMode::Append => {
                self.create_if_missing(table, &columns).await?;
                table.to_owned()
            }
        };
        self.copy(&into, &columns, data).await
    }
}

#[async_trait]
impl StagedWrite for PostgresWrite {
    async fn commit(mut self: Box<Self>) -> Result<()> {
        for (staging, table) in std::mem::take(&mut self.swaps) {
            self.run(format!("DROP TABLE IF EXISTS {}", quote(&table)))
                .await?;
            self.run(format!(
                "ALTER TABLE {} RENAME TO {}",
                quote(&staging),
                quote(&table)
            ))
            .await?;
        }
        self.run("COMMIT".into()).await
    }
}
