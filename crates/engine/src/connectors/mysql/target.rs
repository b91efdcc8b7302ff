//! A MySQL or MariaDB target, written by multi-row INSERTs.
//!
//! MySQL commits any open transaction when it runs DDL, so one transaction cannot span a flow's
//! outputs as it does on PostgreSQL. Every output is therefore written, out of sight, into a
//! staging table `sluice_staging_<flow id>_<random>`; the commit then inserts the appended rows
//! into their tables in one transaction, and swaps every replaced table for its staging table in
//! one `RENAME TABLE` statement, which MySQL runs atomically. A failed or cancelled flow drops its staging tables;
//! a process killed mid-flow leaves them behind, and the targets as they were, until the replica
//! that settles the flow drops them ([`discard_leftovers`]).
//!
//! Type mapping (the column type a target table is created with):
//!
//! | Arrow | MySQL / MariaDB |
//! | --- | --- |
//! | Boolean | BOOLEAN |
//! | Int8, Int16, UInt8 | SMALLINT |
//! | Int32, UInt16 | INT |
//! | Int64, UInt32 | BIGINT |
//! | UInt64 | BIGINT UNSIGNED |
//! | Float16, Float32 | FLOAT |
//! | Float64 | DOUBLE |
//! | Decimal(p, s), p ≤ 65, s ≤ 30 | DECIMAL(p, s) |
//! | Utf8, LargeUtf8, Utf8View | LONGTEXT |
//! | Binary, LargeBinary, BinaryView, FixedSizeBinary | LONGBLOB |
//! | Date32, Date64 | DATE |
//! | Timestamp (any unit, with or without a zone) | DATETIME(6), in UTC |
//!
//! A column read from a MySQL `TIME`, `BIT(n)`, `SET`, `ENUM`, `JSON`, `YEAR` or spatial column,
//! unchanged (its field's metadata names the type: [`crate::connectors::mysql::kept_type`]), is created with
//! that type again.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, TimeDelta};
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Field, Float64Type, Int64Type, Schema, TimeUnit,
    TimestampMicrosecondType, UInt64Type,
};
use datafusion::dataframe::DataFrame;
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use sea_orm::sqlx::mysql::{MySql, MySqlConnection};
use sea_orm::sqlx::query_builder::Separated;
use sea_orm::sqlx::{AssertSqlSafe, Executor, QueryBuilder};
use sluice_domain::data_store::ServerConnection;
use sluice_domain::flow::FlowId;
use sluice_domain::flow_input::WriteMode;
use sluice_domain::names::TableName;

use crate::Result;
use crate::connectors::identifiers::quote_mysql as quote;
use crate::connectors::mysql::kept_type::KeptType;
use crate::connectors::server::Server;
use crate::connectors::target::{StagedWrite, TableWrite};

/// MySQL's limit on the placeholders of one statement.
const MAX_PARAMETERS: usize = 65_535;
/// Rows per INSERT: enough to amortize the round trip, few enough to stay under max_allowed_packet.
const MAX_ROWS_PER_INSERT: usize = 1_000;

#[derive(Clone)]
struct Staged {
    staging: String,
    table: String,
    mode: WriteMode,
    columns: String,
}

pub struct MysqlWrite {
    server: Server,
    /// Taken by the commit; still here on drop means the flow failed or was cancelled.
    connection: Option<MySqlConnection>,
    flow: FlowId,
    staged: Vec<Staged>,
}

impl MysqlWrite {
    pub async fn begin(server: ServerConnection, flow: FlowId) -> Result<Self> {
        let server = Server::new(server);
        let connection = server.mysql().await?;
        Ok(Self {
            server,
            connection: Some(connection),
            flow,
            staged: Vec::new(),
        })
    }

    fn connection(&mut self) -> &mut MySqlConnection {
        self.connection
            .as_mut()
            .expect("the connection is only taken by commit and drop")
    }

    async fn run(&mut self, sql: String) -> Result<()> {
        let result = self.connection().execute(AssertSqlSafe(sql)).await;
        result.map_err(|err| self.server.failed("writing to", err))?;
        Ok(())
    }

    /// Inserts every row of `data` into `table`, in one transaction; returns how many.
    async fn insert(
        &mut self,
        table: &str,
        columns: &[TargetColumn],
        data: DataFrame,
    ) -> Result<u64> {
        let names: Vec<String> = columns.iter().map(|c| quote(&c.name)).collect();
        let head = format!("INSERT INTO {} ({}) ", quote(table), names.join(", "));
        let rows_per_insert = (MAX_PARAMETERS / columns.len().max(1)).clamp(1, MAX_ROWS_PER_INSERT);
        let mut batches = data.execute_stream().await?;
        self.run("START TRANSACTION".into()).await?;
        let mut rows = 0;
        while let Some(batch) = batches.try_next().await? {
            let values = columns
                .iter()
                .zip(batch.columns())
                .map(|(column, array)| column.cast(array))
                .collect::<Result<Vec<_>>>()?;
            let mut start = 0;
            while start < batch.num_rows() {
                let end = (start + rows_per_insert).min(batch.num_rows());
                let mut insert = QueryBuilder::<MySql>::new(head.clone());
                insert.push_values(start..end, |mut row_values, row| {
                    for array in &values {
                        bind(&mut row_values, array.as_ref(), row);
                    }
                });
                let result = insert.build().execute(self.connection()).await;
                result.map_err(|err| self.server.failed("writing to", err))?;
                start = end;
            }
            rows += batch.num_rows() as u64;
        }
        self.run("COMMIT".into()).await?;
        Ok(rows)
    }
}

/// Drops the staging tables a run of `flow` left in the database of `server`, including the old
/// tables a commit cut short had parked under a staging name.
pub async fn discard_leftovers(server: ServerConnection, flow: FlowId) -> Result<()> {
    let server = Server::new(server);
    let mut connection = server.mysql().await?;
    // `_` matches any character in LIKE: escaped, flow 12's pattern cannot take flow 123's tables.
    let pattern = format!(
        "{}%",
        crate::connectors::target::staging_prefix(flow).replace('_', "!_")
    );
    let tables: Vec<(String,)> = sea_orm::sqlx::query_as(
        "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND table_name LIKE ? ESCAPE '!'",
    )
    .bind(pattern)
    .fetch_all(&mut connection)
    .await
    .map_err(|err| server.failed("reading from", err))?;
    if tables.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = tables.iter().map(|(table,)| quote(table)).collect();
    connection
        .execute(AssertSqlSafe(format!(
            "DROP TABLE IF EXISTS {}",
            names.join(", ")
        )))
        .await
        .map_err(|err| server.failed("writing to", err))?;
    Ok(())
}

#[async_trait]
impl TableWrite for MysqlWrite {
    async fn write(
        &mut self,
        _ctx: &SessionContext,
        table: &TableName,
        mode: WriteMode,
        data: DataFrame,
    ) -> Result<u64> {
        let table = table.as_str();
        let columns = TargetColumn::all(data.schema().as_arrow())?;
        let staging = crate::connectors::target::staging_table(self.flow);
        self.run(create_table_sql(&staging, &columns)).await?;
        let names: Vec<String> = columns.iter().map(|c| quote(&c.name)).collect();
        self.staged.push(Staged {
            staging: staging.clone(),
            table: table.to_owned(),
            mode,
            columns: names.join(", "),
        });
        self.insert(&staging, &columns, data).await
    }
}

#[async_trait]
impl StagedWrite for MysqlWrite {
    async fn commit(mut self: Box<Self>) -> Result<()> {
        // Kept on self until the end: if the commit fails, the drop still removes them.
        let staged = self.staged.clone();
        // A table written for the first time takes its staging table's columns.
        for s in &staged {
            self.run(format!(
                "CREATE TABLE IF NOT EXISTS {} LIKE {}",
                quote(&s.table),
                quote(&s.staging)
            ))
            .await?;
        }
        self.run("START TRANSACTION".into()).await?;
        for s in staged.iter().filter(|s| s.mode == WriteMode::Append) {
            self.run(format!(
                "INSERT INTO {} ({}) SELECT {} FROM {}",
                quote(&s.table),
                s.columns,
                s.columns,
                quote(&s.staging)
            ))
            .await?;
        }
        self.run("COMMIT".into()).await?;
        // Replaced tables trade places with their staging tables, all in one statement; what is
        // left under the staging names (the old tables, the appended rows) is dropped after.
        let swaps: Vec<String> = staged
            .iter()
            .filter(|s| s.mode == WriteMode::Replace)
            .map(|s| {
                let parked = format!("{}_old", s.staging);
                format!(
                    "{table} TO {parked}, {staging} TO {table}, {parked} TO {staging}",
                    table = quote(&s.table),
                    staging = quote(&s.staging),
                    parked = quote(&parked),
                )
            })
            .collect();
        if !swaps.is_empty() {
            self.run(format!("RENAME TABLE {}", swaps.join(", ")))
                .await?;
        }
        let leftovers: Vec<String> = staged.iter().map(|s| quote(&s.staging)).collect();
        if !leftovers.is_empty() {
            self.run(format!("DROP TABLE IF EXISTS {}", leftovers.join(", ")))
                .await?;
        }
        self.staged.clear();
        Ok(())
    }
}

impl Drop for MysqlWrite {
    /// A write dropped before its commit drops its staging tables, on a task of its own (a drop
    /// cannot wait); the targets were never touched.
    fn drop(&mut self) {
        let (Some(mut connection), false) = (self.connection.take(), self.staged.is_empty()) else {
            return;
        };
        let tables: Vec<String> = self.staged.iter().map(|s| quote(&s.staging)).collect();
        let drop = format!("DROP TABLE IF EXISTS {}", tables.join(", "));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(err) = connection.execute(AssertSqlSafe(drop)).await {
                    tracing::warn!(error = %err, "could not drop a failed flow's MySQL staging tables");
                }
            });
        }
    }
}

/// How a column is written: the MySQL type it is created with, and the Arrow type its values are
/// cast to before they are bound.
struct TargetColumn {
    name: String,
    mysql_type: String,
    arrow: DataType,
}

impl TargetColumn {
    fn of(field: &Field) -> Result<Self> {
        use DataType as D;
        let micros = D::Timestamp(TimeUnit::Microsecond, None);
        // A column read from a MySQL TIME, SET, BIT, spatial… column is created as that again.
        if let Some(kept) = KeptType::of(field) {
            let arrow = match field.data_type() {
                D::UInt64 => D::UInt64,
                D::Int16 => D::Int64,
                D::Binary | D::LargeBinary | D::BinaryView => D::Binary,
                _ => D::Utf8,
            };
            return Ok(Self {
                name: field.name().clone(),
                mysql_type: kept.sql(),
                arrow,
            });
        }
        let (mysql_type, arrow): (String, DataType) = match field.data_type() {
            D::Boolean => ("BOOLEAN".into(), D::Boolean),
            D::Int8 | D::Int16 | D::UInt8 => ("SMALLINT".into(), D::Int64),
            D::Int32 | D::UInt16 => ("INT".into(), D::Int64),
            D::Int64 | D::UInt32 => ("BIGINT".into(), D::Int64),
            D::UInt64 => ("BIGINT UNSIGNED".into(), D::UInt64),
            D::Float16 | D::Float32 => ("FLOAT".into(), D::Float64),
            D::Float64 => ("DOUBLE".into(), D::Float64),
            D::Decimal32(p, s) | D::Decimal64(p, s) | D::Decimal128(p, s) | D::Decimal256(p, s)
                if *p <= 65 && (0..=30).contains(s) =>
            {
                (format!("DECIMAL({p}, {s})"), D::Utf8)
            }
            D::Utf8 | D::LargeUtf8 | D::Utf8View => ("LONGTEXT".into(), D::Utf8),
            D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) => {
                ("LONGBLOB".into(), D::Binary)
            }
            D::Date32 | D::Date64 => ("DATE".into(), D::Date32),
            // Zoned timestamps are instants: cast to a zoneless one, they read in UTC.
            D::Timestamp(..) => ("DATETIME(6)".into(), micros),
            _ => return Err(crate::connectors::target::untakeable_column(field, "MySQL")),
        };
        Ok(Self {
            name: field.name().clone(),
            mysql_type,
            arrow,
        })
    }

    fn all(schema: &Schema) -> Result<Vec<Self>> {
        schema.fields().iter().map(|f| Self::of(f)).collect()
    }

    fn cast(&self, array: &ArrayRef) -> Result<ArrayRef> {
        if let DataType::Timestamp(unit, Some(_)) = array.data_type() {
            // Drop the zone first: a zoned timestamp cast to a zoneless one keeps its UTC value.
            let utc = cast(array, &DataType::Timestamp(*unit, None))?;
            return Ok(cast(&utc, &self.arrow)?);
        }
        Ok(cast(array, &self.arrow)?)
    }
}

fn create_table_sql(table: &str, columns: &[TargetColumn]) -> String {
    let columns: Vec<String> = columns
        .iter()
        .map(|c| format!("{} {}", quote(&c.name), c.mysql_type))
        .collect();
    format!(
        "CREATE TABLE {} ({}) CHARACTER SET utf8mb4",
        quote(table),
        columns.join(", ")
    )
}

fn bind(values: &mut Separated<'_, MySql, &'static str>, array: &dyn Array, row: usize) {
    if array.is_null(row) {
        values.push_bind(None::<i64>);
        return;
    }
    match array.data_type() {
        DataType::Boolean => values.push_bind(array.as_boolean().value(row)),
        DataType::Int64 => values.push_bind(array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt64 => values.push_bind(array.as_primitive::<UInt64Type>().value(row)),
        DataType::Float64 => values.push_bind(array.as_primitive::<Float64Type>().value(row)),
        DataType::Utf8 => values.push_bind(array.as_string::<i32>().value(row).to_owned()),
        DataType::Binary => values.push_bind(array.as_binary::<i32>().value(row).to_vec()),
        DataType::Date32 => {
            let days = TimeDelta::days(i64::from(array.as_primitive::<Date32Type>().value(row)));
            values.push_bind(NaiveDate::default().checked_add_signed(days))
        }
        _ => {
            let micros = array.as_primitive::<TimestampMicrosecondType>().value(row);
            values.push_bind(DateTime::from_timestamp_micros(micros).map(|t| t.naive_utc()))
        }
    };
}
