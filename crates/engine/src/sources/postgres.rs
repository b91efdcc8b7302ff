//! A PostgreSQL table or query, read by binary COPY into Arrow (see [`crate::pg_copy`] for the
//! type mapping).

use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
use sea_orm::sqlx::{
    AssertSqlSafe, Column, ConnectOptions, Executor, SqlSafeStr, Statement, TypeInfo,
};
use secrecy::ExposeSecret;
use sluice_domain::data_store::ServerConnection;
use std::time::Duration;

use super::SourceConnector;
use crate::pg_copy::{CopyDecoder, PgColumn, PgType};
use crate::{Error, Result};

const BATCH_ROWS: usize = 8192;

pub struct PostgresSource {
    server: ServerConnection,
    sql: String,
}

impl PostgresSource {
    pub fn new(server: ServerConnection, sql: String) -> Self {
        Self { server, sql }
    }

    /// Where the source is, for error lines: never the password.
    fn place(&self) -> String {
        let s = &self.server;
        format!("PostgreSQL {}@{}:{}/{}", s.user, s.host, s.port, s.database)
    }

    fn failed(&self, what: &str, err: impl std::fmt::Display) -> Error {
        Error::Source(format!("{what} {}: {err}", self.place()))
    }

    async fn connect(&self) -> Result<PgConnection> {
        let s = &self.server;
        let mut options = PgConnectOptions::new()
            .host(&s.host)
            .port(s.port)
            .username(&s.user)
            .database(&s.database)
            .application_name("sluice");
        if let Some(password) = &s.password {
            options = options.password(password.expose_secret());
        }
        tokio::time::timeout(Duration::from_secs(10), options.connect())
            .await
            .map_err(|_| self.failed("connecting to", "no answer within 10 s"))?
            .map_err(|err| self.failed("connecting to", err))
    }
}

#[async_trait]
impl SourceConnector for PostgresSource {
    async fn read(&self, ctx: &SessionContext) -> Result<DataFrame> {
        let mut connection = self.connect().await?;
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
        let schema = decoder.schema();
        let mut batches: Vec<RecordBatch> = Vec::new();
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
                batches.extend(decoder.push(&chunk)?);
            }
        }
        batches.extend(decoder.finish()?);
        if batches.is_empty() {
            batches.push(RecordBatch::new_empty(schema));
        }
        Ok(ctx.read_batches(batches)?)
    }
}
