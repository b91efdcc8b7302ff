//! A PostgreSQL table or query, read by binary COPY into Arrow (see [`crate::pg_copy`] for the
//! type mapping).

use async_trait::async_trait;
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use sea_orm::sqlx::{AssertSqlSafe, Column, Executor, SqlSafeStr, Statement, TypeInfo};
use sluice_domain::data_store::ServerConnection;

use super::SourceConnector;
use crate::pg_copy::{CopyDecoder, PgColumn, PgType};
use crate::servers::Server;
use crate::spool::Spool;
use crate::{Error, Result};

const BATCH_ROWS: usize = 8192;

pub struct PostgresSource {
    server: Server,
    sql: String,
}

impl PostgresSource {
    pub fn new(server: ServerConnection, sql: String) -> Self {
        Self {
            server: Server::new(server),
            sql,
        }
    }

    fn failed(&self, what: &str, err: impl std::fmt::Display) -> Error {
        self.server.failed(what, err)
    }
}

#[async_trait]
impl SourceConnector for PostgresSource {
    async fn read(&self, _ctx: &SessionContext, rows: &mut Spool) -> Result<()> {
        let mut connection = self.server.postgres().await?;
        let statement = connection
            .prepare(AssertSqlSafe(self.sql.clone()).into_sql_str())
            .await
            .map_err(|err| self.failed("reading from", err))?;
        let columns = statement
            .columns()
            .iter()
            .map(|column| {
                let type_info = column.type_info();
                let oid = type_info.oid().map_or(0, |oid| oid.0);
                Ok(PgColumn {
                    name: column.name().to_owned(),
                    pg_type: PgType::of(column.name(), oid, type_info.name())?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut decoder = CopyDecoder::new(columns, BATCH_ROWS);
        rows.declare(decoder.schema());
        {
            let copy = format!("COPY ({}) TO STDOUT (FORMAT binary)", self.sql);
            let mut chunks = connection
                .copy_out_raw(&copy)
                .await
                .map_err(|err| self.failed("reading from", err))?;
            while let Some(chunk) = chunks
                .try_next()
                .await
                .map_err(|err| self.failed("reading from", err))?
            {
                for batch in decoder.push(&chunk)? {
                    rows.push(batch)?;
                }
            }
        }
        if let Some(batch) = decoder.finish()? {
            rows.push(batch)?;
        }
        Ok(())
    }
}
