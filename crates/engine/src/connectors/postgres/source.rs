//! A PostgreSQL table or query, read by binary COPY into Arrow (see [`crate::connectors::postgres::copy`] for the
//! type mapping).
//!
//! A large table is read by several connections at once, each copying one range of the table's
//! pages (`WHERE ctid >= '(a,0)' AND ctid < '(b,0)'`, a TID range scan), all in one snapshot
//! exported by the first: the rows are those of one moment, as with a single COPY, but the server
//! produces them on several cores. A query, a view or a small table is one COPY.

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use sea_orm::sqlx::postgres::PgConnection;
use sea_orm::sqlx::{AssertSqlSafe, Column, Executor, SqlSafeStr, Statement};
use sluice_domain::data_store::ServerConnection;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::connectors::SourceConnector;
use crate::connectors::identifiers::quote;
use crate::connectors::postgres::copy::{
    CopyDecoder, NUMERIC_ARRAY_OID, NUMERIC_OID, PgColumn, PgType, schema_of,
};
use crate::connectors::server::{QueryCanceller, Server};
use crate::handoff::Wanted;
use crate::rows::RowSink;
use crate::{Error, Result};

const BATCH_ROWS: usize = 8192;
/// Tables smaller than this many pages (8 MB) are one COPY: more connections would cost more
/// than they save.
const PARALLEL_MIN_PAGES: i64 = 1024;
/// TID range scans, which make a page range cheap to read, came with PostgreSQL 14.
const TID_RANGE_SCAN_VERSION: i64 = 140_000;

pub struct PostgresSource {
    server: Server,
    sql: String,
    /// The quoted table when the source is a whole table, which may then be read in ranges.
    table: Option<String>,
    /// Whether the query runs with the time zone set to UTC (for its transaction): a query
    /// pushed down from DataFusion compares `timestamptz` values with text instants in UTC, as
    /// DataFusion does.
    in_utc: bool,
    /// A pushed-down transform's columns as Sluice plans them: a numeric PostgreSQL computes
    /// (which it describes without precision or scale) is read as its planned decimal, exactly,
    /// or fails naming the column.
    planned: Option<SchemaRef>,
}

impl PostgresSource {
    /// `sql` reads the source; `table` is the quoted table it reads whole, if it does.
    pub fn new(server: ServerConnection, sql: String, table: Option<String>) -> Self {
        Self {
            server: Server::new(server),
            sql,
            table,
            in_utc: false,
            planned: None,
        }
    }

    /// A transform's query pushed down to the server, run in a UTC session, its rows read as
    /// the `planned` columns.
    pub fn pushed_down(server: ServerConnection, sql: String, planned: SchemaRef) -> Self {
        Self {
            in_utc: true,
            planned: Some(planned),
            ..Self::new(server, sql, None)
        }
    }

    /// The columns the source's rows would have, asked of the server without reading any.
    ///
    /// # Errors
    /// The server cannot be reached or refuses the query.
    pub async fn describe(&self) -> Result<Vec<PgColumn>> {
        let mut connection = self.server.postgres().await?;
        self.columns(&mut connection).await
    }

    /// What a query pushed down to the server reads the source from, under the alias the
    /// transform gives it: the table, or the source's query in parentheses; with the columns
    /// that must be compared as text there read as their text form (see
    /// [`PgColumn::text_when_pushed_down`]).
    pub fn pushed_down_relation(&self, columns: &[PgColumn]) -> String {
        match self.select_list(columns, PgColumn::text_when_pushed_down) {
            None => match &self.table {
                Some(table) => table.clone(),
                None => format!("({})", self.sql),
            },
            Some(list) => format!("({})", self.select(&list)),
        }
    }

    fn failed(&self, err: impl Into<crate::connectors::server::Said>) -> Error {
        self.server.failed("reading from", err)
    }

    async fn columns(&self, connection: &mut PgConnection) -> Result<Vec<PgColumn>> {
        let statement = connection
            .prepare(AssertSqlSafe(self.sql.clone()).into_sql_str())
            .await
            .map_err(|err| self.failed(err))?;
        let columns = statement.columns();
        let modifiers = self.type_modifiers(connection, columns).await?;
        Ok(columns
            .iter()
            .zip(modifiers)
            .enumerate()
            .map(|(i, (column, modifier))| {
                let oid = column.type_info().oid().map_or(0, |oid| oid.0);
                let read = PgColumn::new(column.name(), oid, modifier);
                match self.planned.as_ref().and_then(|p| p.fields().get(i)) {
                    Some(planned) => read.with_planned_decimal(planned.data_type()),
                    None => read,
                }
            })
            .collect())
    }

    /// The SQL that reads the source with every column Sluice does not decode as its text form
    /// (the source's own SQL when there is none). A table is read from directly, so that its page
    /// ranges can still be added; a query is read from as a subquery.
    fn readable_sql(&self, columns: &[PgColumn]) -> String {
        match self.select_list(columns, |c| c.pg_type == PgType::AsText) {
            Some(list) => self.select(&list),
            None => self.sql.clone(),
        }
    }

    /// The source's columns with those `as_text` picks read as their text form; `None` when it
    /// picks none.
    fn select_list(&self, columns: &[PgColumn], as_text: fn(&PgColumn) -> bool) -> Option<String> {
        if !columns.iter().any(as_text) {
            return None;
        }
        let list = columns
            .iter()
            .map(|c| {
                let name = quote(&c.name);
                if as_text(c) {
                    // concat writes a value with its type's output function, as psql shows it
                    // (`::text` would add an inet's netmask); it makes NULL empty, so NULL is
                    // kept apart.
                    format!("CASE WHEN {name} IS NULL THEN NULL ELSE concat({name}) END AS {name}")
                } else {
                    name
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        Some(list)
    }

    fn select(&self, list: &str) -> String {
        match &self.table {
            Some(table) => format!("SELECT {list} FROM {table}"),
            None => format!("SELECT {list} FROM ({}) AS source", self.sql),
        }
    }

    /// Each column's type modifier (a numeric's precision and scale), -1 where it has none.
    /// The statement's description leaves modifiers out, so they are read from the catalog for
    /// the columns that come straight from a table or view; an expression has none.
    async fn type_modifiers(
        &self,
        connection: &mut PgConnection,
        columns: &[sea_orm::sqlx::postgres::PgColumn],
    ) -> Result<Vec<i32>> {
        let origins: Vec<(i64, i16)> = columns
            .iter()
            .map(|c| {
                let numeric = c
                    .type_info()
                    .oid()
                    .is_some_and(|oid| [NUMERIC_OID, NUMERIC_ARRAY_OID].contains(&oid.0));
                match (numeric, c.relation_id(), c.relation_attribute_no()) {
                    (true, Some(relation), Some(attribute)) => (i64::from(relation.0), attribute),
                    _ => (0, 0),
                }
            })
            .collect();
        if origins.iter().all(|&(relation, _)| relation == 0) {
            return Ok(vec![-1; columns.len()]);
        }
        let (relations, attributes): (Vec<i64>, Vec<i16>) = origins.into_iter().unzip();
        let modifiers: Vec<(Option<i32>,)> = sea_orm::sqlx::query_as(
            "SELECT a.atttypmod \
             FROM unnest($1::int8[], $2::int2[]) WITH ORDINALITY AS c(relation, attribute, i) \
             LEFT JOIN pg_attribute a ON a.attrelid = c.relation::oid AND a.attnum = c.attribute \
             ORDER BY c.i",
        )
        .bind(relations)
        .bind(attributes)
        .fetch_all(&mut *connection)
        .await
        .map_err(|err| self.failed(err))?;
        Ok(modifiers.into_iter().map(|(m,)| m.unwrap_or(-1)).collect())
    }

    /// The queries that read the table in `readers` page ranges, or none when it is not worth it.
    async fn page_ranges(
        &self,
        connection: &mut PgConnection,
        sql: &str,
        readers: usize,
    ) -> Result<Vec<String>> {
        let Some(table) = &self.table else {
            return Ok(Vec::new());
        };
        if readers < 2 {
            return Ok(Vec::new());
        }
        let (version, pages): (i64, i64) = sea_orm::sqlx::query_as(
            "SELECT current_setting('server_version_num')::bigint, \
             (pg_relation_size($1::regclass) / current_setting('block_size')::bigint)::bigint",
        )
        .bind(table)
        .fetch_one(&mut *connection)
        .await
        .map_err(|err| self.failed(err))?;
        if version < TID_RANGE_SCAN_VERSION || pages < PARALLEL_MIN_PAGES {
            return Ok(Vec::new());
        }
        let per_reader = pages / readers as i64 + 1;
        Ok((0..readers as i64)
            .map(|i| {
                let start = i * per_reader;
                // The last range is open: it also takes pages added since the size was read.
                if i + 1 == readers as i64 {
                    format!("{sql} WHERE ctid >= '({start},0)'::tid")
                } else {
                    let end = start + per_reader;
                    format!("{sql} WHERE ctid >= '({start},0)'::tid AND ctid < '({end},0)'::tid")
                }
            })
            .collect())
    }

    /// Opens one connection per range, all in the snapshot of `first`'s transaction.
    async fn readers_on_one_snapshot(
        &self,
        mut first: PgConnection,
        count: usize,
    ) -> Result<Vec<PgConnection>> {
        let begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
        first.execute(begin).await.map_err(|err| self.failed(err))?;
        let (snapshot,): (String,) = sea_orm::sqlx::query_as("SELECT pg_export_snapshot()")
            .fetch_one(&mut first)
            .await
            .map_err(|err| self.failed(err))?;
        let mut connections = vec![first];
        for _ in 1..count {
            let mut connection = self.server.postgres().await?;
            connection
                .execute(begin)
                .await
                .map_err(|err| self.failed(err))?;
            connection
                .execute(AssertSqlSafe(format!(
                    "SET TRANSACTION SNAPSHOT '{snapshot}'"
                )))
                .await
                .map_err(|err| self.failed(err))?;
            connections.push(connection);
        }
        Ok(connections)
    }
}

/// Copies the rows of `sql` and sends them on as batches; stops when nobody listens any more.
async fn copy(
    mut connection: PgConnection,
    sql: String,
    columns: Vec<PgColumn>,
    server: Server,
    batches: mpsc::Sender<Result<RecordBatch>>,
) {
    let result: Result<()> = async {
        let mut decoder = CopyDecoder::new(columns, BATCH_ROWS);
        let copy = format!("COPY ({sql}) TO STDOUT (FORMAT binary)");
        let failed = |err| server.reading_failed(err);
        let mut chunks = connection.copy_out_raw(&copy).await.map_err(failed)?;
        while let Some(chunk) = chunks.try_next().await.map_err(failed)? {
            for batch in decoder.push(&chunk)? {
                if batches.send(Ok(batch)).await.is_err() {
                    return Ok(());
                }
            }
        }
        drop(chunks);
        if let Some(batch) = decoder.finish()? {
            let _ = batches.send(Ok(batch)).await;
        }
        // Every read is in a read-only transaction: a source query cannot change data.
        connection.execute("COMMIT").await.map_err(failed)?;
        Ok(())
    }
    .await;
    if let Err(err) = result {
        let _ = batches.send(Err(err)).await;
    }
}

#[async_trait]
impl SourceConnector for PostgresSource {
    async fn read(&self, ctx: &SessionContext, rows: &mut dyn RowSink) -> Result<()> {
        let mut first = self.server.postgres().await?;
        let columns = self.columns(&mut first).await?;
        rows.declare(schema_of(&columns))?;
        let readers = ctx.copied_config().target_partitions();
        let sql = self.readable_sql(&columns);
        let mut queries = self.page_ranges(&mut first, &sql, readers).await?;
        // One query (a query source, a pushed-down transform) may compute long before it sends
        // a row; table page ranges stream from the start, and notice a closed connection.
        let mut canceller = None;
        let connections = if queries.is_empty() {
            // In a transaction, so that a pooler in front of the server (PgBouncer's
            // transaction mode) keeps the query on the backend the canceller names, and the
            // time zone with it; read-only, as a source only reads.
            first
                .execute("BEGIN READ ONLY")
                .await
                .map_err(|err| self.failed(err))?;
            if self.in_utc {
                first
                    .execute("SET LOCAL TIME ZONE 'UTC'")
                    .await
                    .map_err(|err| self.failed(err))?;
            }
            canceller = Some(QueryCanceller::postgres(&self.server, &mut first).await?);
            queries.push(sql);
            vec![first]
        } else {
            self.readers_on_one_snapshot(first, queries.len()).await?
        };

        // Each range is copied and decoded on a task of its own; dropping the set (a cancel, a
        // failure) stops them all.
        let (sender, mut receiver) = mpsc::channel(2 * queries.len());
        let mut copies = JoinSet::new();
        for (connection, sql) in connections.into_iter().zip(queries) {
            let server = self.server.clone();
            copies.spawn(copy(
                connection,
                sql,
                columns.clone(),
                server,
                sender.clone(),
            ));
        }
        drop(sender);
        while let Some(batch) = receiver.recv().await {
            if rows.push(batch?).await? == Wanted::NoMore {
                // Dropping the set stops the copies still running.
                return Ok(());
            }
        }
        while let Some(done) = copies.join_next().await {
            done.map_err(|err| Error::Database(format!("a PostgreSQL reader stopped: {err}")))?;
        }
        if let Some(canceller) = canceller {
            canceller.finished();
        }
        Ok(())
    }
}
