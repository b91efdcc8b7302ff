//! SQLite rows to Arrow batches and back. SQLite types values, not columns, so a column's Arrow
//! type comes from its declared type, or from its first non-NULL value when it has none (an
//! expression in a query).
//!
//! | declared (affinity)                     | Arrow   | written back as |
//! |-----------------------------------------|---------|-----------------|
//! | INTEGER                                 | Int64   | INTEGER         |
//! | REAL, NUMERIC                           | Float64 | REAL            |
//! | BOOLEAN                                 | Boolean | BOOLEAN         |
//! | TEXT, DATE, TIME, DATETIME              | Utf8    | TEXT            |
//! | BLOB                                    | Binary  | BLOB            |
//!
//! Arrow dates and timestamps are written as ISO-8601 text in DATE / DATETIME columns, decimals
//! as NUMERIC, anything else as its text form.

use datafusion::arrow::array::{
    Array, ArrayRef, BinaryArray, BinaryBuilder, BooleanArray, BooleanBuilder, Float64Array,
    Float64Builder, Int64Array, Int64Builder, StringArray, StringBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use sea_orm::sqlx::QueryBuilder;
use sea_orm::sqlx::query_builder::Separated;
use sea_orm::sqlx::sqlite::Sqlite;
use std::sync::Arc;

use crate::connectors::identifiers::quote;
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Real,
    Boolean,
    Text,
    Blob,
}

impl Kind {
    /// The kind a declared column type gives: `None` for one that does not say (an expression,
    /// `NUMERIC`, `DECIMAL(10,2)`), whose values decide.
    fn from_declared(declared: &str) -> Option<Self> {
        let declared = declared.to_ascii_lowercase();
        Some(match declared.as_str() {
            "boolean" | "bool" => Self::Boolean,
            "date" | "time" | "datetime" | "timestamp" => Self::Text,
            _ if declared.contains("int") => Self::Integer,
            _ if ["char", "clob", "text"]
                .iter()
                .any(|t| declared.contains(t)) =>
            {
                Self::Text
            }
            _ if declared.contains("blob") => Self::Blob,
            _ if ["real", "floa", "doub"]
                .iter()
                .any(|t| declared.contains(t)) =>
            {
                Self::Real
            }
            _ => return None,
        })
    }

    /// The kind a value's storage class gives.
    fn of(cell: &Cell) -> Option<Self> {
        match cell {
            Cell::Null => None,
            Cell::Integer(_) => Some(Self::Integer),
            Cell::Real(_) => Some(Self::Real),
            Cell::Text(_) => Some(Self::Text),
            Cell::Blob(_) => Some(Self::Blob),
        }
    }

    fn arrow(self) -> DataType {
        match self {
            Self::Integer => DataType::Int64,
            Self::Real => DataType::Float64,
            Self::Boolean => DataType::Boolean,
            Self::Text => DataType::Utf8,
            Self::Blob => DataType::Binary,
        }
    }
}

/// One value as SQLite stored it (SQLite types values, not columns).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Cell {
    pub fn read(value: rusqlite::types::ValueRef<'_>) -> Self {
        use rusqlite::types::ValueRef;
        match value {
            ValueRef::Null => Self::Null,
            ValueRef::Integer(v) => Self::Integer(v),
            ValueRef::Real(v) => Self::Real(v),
            // SQLite does not check that text is UTF-8; what is not reads as replacement marks.
            ValueRef::Text(bytes) => Self::Text(String::from_utf8_lossy(bytes).into_owned()),
            ValueRef::Blob(bytes) => Self::Blob(bytes.to_vec()),
        }
    }

    fn storage(&self) -> &'static str {
        match self {
            Self::Null => "NULL",
            Self::Integer(_) => "INTEGER",
            Self::Real(_) => "REAL",
            Self::Text(_) => "TEXT",
            Self::Blob(_) => "BLOB",
        }
    }
}

/// A result column: its name and declared type, if it has one.
pub struct ResultColumn {
    pub name: String,
    pub declared: Option<String>,
}

/// Builds Arrow batches from SQLite rows; the schema is fixed by the first rows it sees.
pub struct RowsToArrow {
    schema: SchemaRef,
    kinds: Vec<Kind>,
}

impl RowsToArrow {
    /// Decides each column's type from its declaration, or from the first non-NULL value in
    /// `first_rows` when it has none (Utf8 when every value is NULL).
    pub fn new(columns: &[ResultColumn], first_rows: &[Vec<Cell>]) -> Self {
        let mut fields = Vec::new();
        let mut kinds = Vec::new();
        for (i, column) in columns.iter().enumerate() {
            let kind = column
                .declared
                .as_deref()
                .and_then(Kind::from_declared)
                .or_else(|| {
                    first_rows
                        .iter()
                        .find_map(|row| row.get(i).and_then(Kind::of))
                })
                .unwrap_or(Kind::Text);
            fields.push(Field::new(&column.name, kind.arrow(), true));
            kinds.push(kind);
        }
        Self {
            schema: Arc::new(Schema::new(fields)),
            kinds,
        }
    }

    /// # Errors
    /// `Sqlite` naming the column and row when a value does not fit its column's type (the
    /// value itself is not said: it may be anything the source holds).
    pub fn batch(&self, rows: &[Vec<Cell>], first_row_number: usize) -> Result<RecordBatch> {
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.kinds.len());
        for (i, kind) in self.kinds.iter().enumerate() {
            arrays.push(self.column(rows, i, *kind, first_row_number)?);
        }
        RecordBatch::try_new(self.schema.clone(), arrays).map_err(|e| Error::DataFusion(e.into()))
    }

    fn column(
        &self,
        rows: &[Vec<Cell>],
        i: usize,
        kind: Kind,
        first_row_number: usize,
    ) -> Result<ArrayRef> {
        let mismatch = |row: usize, found: &Cell| {
            Error::Sqlite(format!(
                "column '{}' is read as {:?} but row {} holds a {} value",
                self.schema.field(i).name(),
                kind.arrow(),
                first_row_number + row + 1,
                found.storage()
            ))
        };
        macro_rules! build {
            ($builder:expr, |$cell:ident| $value:expr) => {{
                let mut builder = $builder;
                for (n, row) in rows.iter().enumerate() {
                    let $cell = &row[i];
                    if matches!($cell, Cell::Null) {
                        builder.append_null();
                        continue;
                    }
                    match $value {
                        Some(value) => builder.append_value(value),
                        None => return Err(mismatch(n, $cell)),
                    }
                }
                Arc::new(builder.finish()) as ArrayRef
            }};
        }
        Ok(match kind {
            Kind::Integer => build!(Int64Builder::with_capacity(rows.len()), |cell| match cell {
                Cell::Integer(v) => Some(*v),
                _ => None,
            }),
            #[allow(clippy::cast_precision_loss)]
            Kind::Real => build!(
                Float64Builder::with_capacity(rows.len()),
                |cell| match cell {
                    Cell::Integer(v) => Some(*v as f64),
                    Cell::Real(v) => Some(*v),
                    _ => None,
                }
            ),
            Kind::Boolean => build!(
                BooleanBuilder::with_capacity(rows.len()),
                |cell| match cell {
                    Cell::Integer(v) => Some(*v != 0),
                    _ => None,
                }
            ),
            Kind::Text => build!(StringBuilder::new(), |cell| match cell {
                Cell::Text(v) => Some(v.clone()),
                Cell::Integer(v) => Some(v.to_string()),
                Cell::Real(v) => Some(v.to_string()),
                _ => None,
            }),
            Kind::Blob => build!(BinaryBuilder::new(), |cell| match cell {
                Cell::Blob(v) => Some(v.clone()),
                Cell::Text(v) => Some(v.as_bytes().to_vec()),
                _ => None,
            }),
        })
    }
}

/// The schema of a query that returned no rows, from its columns' declared types.
pub fn schema_of_declared(columns: &[ResultColumn]) -> SchemaRef {
    RowsToArrow::new(columns, &[]).schema
}

/// The declared SQLite type for an Arrow type, and the Arrow type its values are bound as.
fn sqlite_column(data_type: &DataType) -> (&'static str, DataType) {
    use DataType::*;
    match data_type {
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => ("INTEGER", Int64),
        Float16 | Float32 | Float64 => ("REAL", Float64),
        Decimal32(..) | Decimal64(..) | Decimal128(..) | Decimal256(..) => ("NUMERIC", Float64),
        Boolean => ("BOOLEAN", Boolean),
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => ("BLOB", Binary),
        Date32 | Date64 => ("DATE", Utf8),
        Timestamp(..) => ("DATETIME", Utf8),
        _ => ("TEXT", Utf8),
    }
}

/// `CREATE TABLE` for a schema.
pub fn create_table_sql(table: &str, schema: &Schema) -> String {
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", quote(f.name()), sqlite_column(f.data_type()).0))
        .collect();
    format!("CREATE TABLE {} ({})", quote(table), columns.join(", "))
}

/// Prepared multi-row `INSERT`s for one batch, bounded by SQLite's limit on bound parameters.
pub fn insert_statements(table: &str, batch: &RecordBatch) -> Result<Vec<QueryBuilder<Sqlite>>> {
    const MAX_PARAMETERS: usize = 30_000;
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|array| cast(array, &sqlite_column(array.data_type()).1))
        .collect::<Result<_, _>>()
        .map_err(|e| Error::DataFusion(e.into()))?;
    let names: Vec<String> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| quote(f.name()))
        .collect();
    let head = format!("INSERT INTO {} ({}) ", quote(table), names.join(", "));
    let rows_per_statement = (MAX_PARAMETERS / columns.len().max(1)).clamp(1, 2_000);

    let mut statements = Vec::new();
    let mut start = 0;
    while start < batch.num_rows() {
        let end = (start + rows_per_statement).min(batch.num_rows());
        let mut builder = QueryBuilder::<Sqlite>::new(head.clone());
        builder.push_values(start..end, |mut values, row| {
            for column in &columns {
                bind(&mut values, column.as_ref(), row);
            }
        });
        statements.push(builder);
        start = end;
    }
    Ok(statements)
}

fn bind(values: &mut Separated<'_, Sqlite, &'static str>, column: &dyn Array, row: usize) {
    let any = column.as_any();
    if column.is_null(row) {
        values.push_bind(None::<i64>);
    } else if let Some(a) = any.downcast_ref::<Int64Array>() {
        values.push_bind(a.value(row));
    } else if let Some(a) = any.downcast_ref::<Float64Array>() {
        values.push_bind(a.value(row));
    } else if let Some(a) = any.downcast_ref::<BooleanArray>() {
        values.push_bind(a.value(row));
    } else if let Some(a) = any.downcast_ref::<BinaryArray>() {
        values.push_bind(a.value(row).to_vec());
    } else if let Some(a) = any.downcast_ref::<StringArray>() {
        values.push_bind(a.value(row).to_owned());
    } else {
        unreachable!("sqlite_column casts every column to Int64, Float64, Boolean, Binary or Utf8");
    }
}
