//! MySQL and MariaDB rows as Arrow record batches.
//!
//! Type mapping (by the column type the server reports):
//!
//! | MySQL / MariaDB | Arrow |
//! | --- | --- |
//! | BOOLEAN (TINYINT(1)) | Boolean |
//! | TINYINT, SMALLINT, TINYINT UNSIGNED, YEAR | Int16 |
//! | MEDIUMINT, INT, SMALLINT UNSIGNED | Int32 |
//! | BIGINT, MEDIUMINT UNSIGNED, INT UNSIGNED | Int64 |
//! | BIGINT UNSIGNED | UInt64 |
//! | FLOAT, DOUBLE | Float32, Float64 |
//! | DECIMAL | Utf8, the exact decimal text |
//! | CHAR, VARCHAR, TEXT types, ENUM, SET, JSON | Utf8 |
//! | BINARY, VARBINARY, BLOB types (collation `binary`) | Binary |
//! | DATE | Date32 |
//! | DATETIME | Timestamp(µs) |
//! | TIMESTAMP | Timestamp(µs, "UTC") (the session runs in UTC) |
//!
//! NULL is NULL in every type. Any other type (TIME, BIT, GEOMETRY) is an error naming the column.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Float32Builder, Float64Builder,
    Int16Builder, Int32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
    UInt64Builder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use sea_orm::sqlx::mysql::{MySql, MySqlColumn, MySqlRow, MySqlTypeInfo};
use sea_orm::sqlx::{Column, Row, Type, TypeInfo};
use std::sync::Arc;

use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MyType {
    Bool,
    Int16,
    Int32,
    Int64,
    /// Unsigned columns are decoded as what they are, then widened into the next signed type.
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Float32,
    Float64,
    Text,
    Bytes,
    Date,
    DateTime,
    Timestamp,
}

impl MyType {
    fn of(column: &str, type_info: &MySqlTypeInfo) -> Result<Self> {
        // The type name says BLOB or BINARY for any column whose collation ends in `_bin` (a JSON
        // column on MariaDB, say); only the collation `binary` makes it bytes.
        let text = <String as Type<MySql>>::compatible(type_info);
        Ok(match type_info.name() {
            "BOOLEAN" => Self::Bool,
            "TINYINT" | "SMALLINT" | "YEAR" => Self::Int16,
            "TINYINT UNSIGNED" => Self::UInt8,
            "MEDIUMINT" | "INT" => Self::Int32,
            "SMALLINT UNSIGNED" => Self::UInt16,
            "BIGINT" => Self::Int64,
            "MEDIUMINT UNSIGNED" | "INT UNSIGNED" => Self::UInt32,
            "BIGINT UNSIGNED" => Self::UInt64,
            "FLOAT" => Self::Float32,
            "DOUBLE" => Self::Float64,
            "DECIMAL" | "CHAR" | "VARCHAR" | "TINYTEXT" | "TEXT" | "MEDIUMTEXT" | "LONGTEXT"
            | "ENUM" | "SET" | "JSON" => Self::Text,
            "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" if text => {
                Self::Text
            }
            "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" => Self::Bytes,
            "DATE" => Self::Date,
            "DATETIME" => Self::DateTime,
            "TIMESTAMP" => Self::Timestamp,
            other => {
                return Err(Error::Unsupported(format!(
                    "column '{column}' has type {other}, which Sluice cannot read yet; \
                     cast it in the source query (to CHAR, say)"
                )));
            }
        })
    }

    fn data_type(self) -> DataType {
        match self {
            Self::Bool => DataType::Boolean,
            Self::Int16 | Self::UInt8 => DataType::Int16,
            Self::Int32 | Self::UInt16 => DataType::Int32,
            Self::Int64 | Self::UInt32 => DataType::Int64,
            Self::UInt64 => DataType::UInt64,
            Self::Float32 => DataType::Float32,
            Self::Float64 => DataType::Float64,
            Self::Text => DataType::Utf8,
            Self::Bytes => DataType::Binary,
            Self::Date => DataType::Date32,
            Self::DateTime => DataType::Timestamp(TimeUnit::Microsecond, None),
            Self::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        }
    }
}

/// Builds Arrow batches from rows of the columns it was made for.
pub struct RowsToArrow {
    schema: SchemaRef,
    types: Vec<MyType>,
}

impl RowsToArrow {
    /// # Errors
    /// `Unsupported` for a column of a type Sluice does not read.
    pub fn new(columns: &[MySqlColumn]) -> Result<Self> {
        let types = columns
            .iter()
            .map(|c| MyType::of(c.name(), c.type_info()))
            .collect::<Result<Vec<_>>>()?;
        let fields: Vec<Field> = columns
            .iter()
            .zip(&types)
            .map(|(c, t)| Field::new(c.name(), t.data_type(), true))
            .collect();
        Ok(Self {
            schema: Arc::new(Schema::new(fields)),
            types,
        })
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// # Errors
    /// `Database` when a value cannot be decoded as its column's type.
    pub fn batch(&self, rows: &[MySqlRow]) -> Result<RecordBatch> {
        let columns = self
            .types
            .iter()
            .enumerate()
            .map(|(i, t)| column(rows, i, *t))
            .collect::<std::result::Result<Vec<_>, sea_orm::sqlx::Error>>()
            .map_err(|err| Error::Database(format!("reading a MySQL row: {err}")))?;
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

fn column(rows: &[MySqlRow], i: usize, t: MyType) -> sea_orm::sqlx::Result<ArrayRef> {
    // Values are decoded unchecked: the type was chosen from the column, and DECIMAL, JSON and
    // the text types all arrive as text.
    macro_rules! build {
        ($builder:expr, $rust:ty, |$v:ident| $value:expr) => {{
            let mut builder = $builder;
            for row in rows {
                match row.try_get_unchecked::<Option<$rust>, _>(i)? {
                    Some($v) => builder.append_value($value),
                    None => builder.append_null(),
                }
            }
            Arc::new(builder.finish()) as ArrayRef
        }};
    }
    let n = rows.len();
    Ok(match t {
        MyType::Bool => build!(BooleanBuilder::with_capacity(n), bool, |v| v),
        MyType::Int16 => build!(Int16Builder::with_capacity(n), i16, |v| v),
        MyType::Int32 => build!(Int32Builder::with_capacity(n), i32, |v| v),
        MyType::Int64 => build!(Int64Builder::with_capacity(n), i64, |v| v),
        MyType::UInt8 => build!(Int16Builder::with_capacity(n), u8, |v| i16::from(v)),
        MyType::UInt16 => build!(Int32Builder::with_capacity(n), u16, |v| i32::from(v)),
        MyType::UInt32 => build!(Int64Builder::with_capacity(n), u32, |v| i64::from(v)),
        MyType::UInt64 => build!(UInt64Builder::with_capacity(n), u64, |v| v),
        MyType::Float32 => build!(Float32Builder::with_capacity(n), f32, |v| v),
        MyType::Float64 => build!(Float64Builder::with_capacity(n), f64, |v| v),
        MyType::Text => build!(StringBuilder::new(), String, |v| v),
        MyType::Bytes => build!(BinaryBuilder::new(), Vec<u8>, |v| v),
        MyType::Date => build!(Date32Builder::with_capacity(n), NaiveDate, |v| {
            (v - NaiveDate::default()).num_days() as i32
        }),
        MyType::DateTime => build!(
            TimestampMicrosecondBuilder::with_capacity(n),
            NaiveDateTime,
            |v| v.and_utc().timestamp_micros()
        ),
        MyType::Timestamp => build!(
            TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC"),
            DateTime<Utc>,
            |v| v.timestamp_micros()
        ),
    })
}
