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
//! | DECIMAL(p, s), p ≤ 38 | Decimal128(p, s) |
//! | DECIMAL(p, s), p > 38 | Decimal256(p, s) |
//! | DECIMAL of an expression | Decimal128(38, 9) |
//! | CHAR, VARCHAR, TEXT types, ENUM, SET, JSON | Utf8 |
//! | BINARY, VARBINARY, BLOB types (collation `binary`) | Binary |
//! | DATE | Date32 |
//! | DATETIME | Timestamp(µs) |
//! | TIMESTAMP | Timestamp(µs, "UTC") (the session runs in UTC) |
//!
//! | TIME | Utf8, as MySQL writes it (`-838:59:59` to `838:59:59`: a duration, not a time of day) |
//! | BIT(n) | UInt64, the bits as a number |
//! | spatial types | Binary, MySQL's own form: a 4-byte SRID, then the WKB |
//! | any other type | Utf8, the server's text for it |
//!
//! NULL is NULL in every type; no column type fails a read.
//!
//! A DECIMAL column of a table has the precision and scale the table declares (read from
//! `information_schema`, as the result's description leaves the scale out). A DECIMAL computed by
//! the query has none to read, and arrives as Decimal128(38, 9), as an unconstrained PostgreSQL
//! numeric does. Decimals are exact: a value that does not fit fails the read, naming the column.
//!
//! A TIME, BIT, SET, ENUM, JSON, YEAR or spatial column of a table also carries its declared type
//! in its field's metadata, for a MySQL target to create it again ([`crate::connectors::mysql::kept_type`]).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use datafusion::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Float32Builder, Float64Builder,
    Int16Builder, Int32Builder, Int64Builder, PrimitiveBuilder, StringBuilder,
    TimestampMicrosecondBuilder, UInt64Builder,
};
use datafusion::arrow::datatypes::{
    ArrowNativeTypeOp, DataType, Decimal128Type, Decimal256Type, DecimalType, Field, Schema,
    SchemaRef, TimeUnit, i256,
};
use datafusion::arrow::record_batch::RecordBatch;
use sea_orm::sqlx::mysql::{MySql, MySqlColumn, MySqlConnection, MySqlRow, MySqlTypeInfo};
use sea_orm::sqlx::{Column, Row, Type, TypeInfo};
use std::collections::HashMap;
use std::sync::Arc;

use crate::connectors::mysql::decimal_text::unscaled;
use crate::connectors::mysql::kept_type::{KeptType, MYSQL_TYPE};
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
    Decimal128(u8, i8),
    Decimal256(u8, i8),
    Text,
    Bytes,
    Date,
    DateTime,
    Timestamp,
    /// BIT(n): up to 64 bits, sent as big-endian bytes.
    Bits,
}

/// The precision and scale of a DECIMAL whose declaration is unknown (a computed column).
pub const UNDECLARED_DECIMAL: (u8, i8) = (38, 9);

impl MyType {
    /// `decimal` is the column's declared precision and scale, when it is a DECIMAL of a table.
    fn of(type_info: &MySqlTypeInfo, decimal: Option<(u8, i8)>) -> Self {
        // The type name says BLOB or BINARY for any column whose collation ends in `_bin` (a JSON
        // column on MariaDB, say); only the collation `binary` makes it bytes.
        let text = <String as Type<MySql>>::compatible(type_info);
        match type_info.name() {
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
            "DECIMAL" => match decimal.unwrap_or(UNDECLARED_DECIMAL) {
                (precision, scale) if precision <= 38 => Self::Decimal128(precision, scale),
                (precision, scale) => Self::Decimal256(precision, scale),
            },
            "CHAR" | "VARCHAR" | "TINYTEXT" | "TEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM"
            | "SET" | "JSON" => Self::Text,
            "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" if text => {
                Self::Text
            }
            "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" => Self::Bytes,
            "DATE" => Self::Date,
            "DATETIME" => Self::DateTime,
            "TIMESTAMP" => Self::Timestamp,
            "BIT" => Self::Bits,
            "GEOMETRY" => Self::Bytes,
            // TIME and whatever else the server sends as text.
            _ => Self::Text,
        }
    }

    fn data_type(self) -> DataType {
        match self {
            Self::Bool => DataType::Boolean,
            Self::Int16 | Self::UInt8 => DataType::Int16,
            Self::Int32 | Self::UInt16 => DataType::Int32,
            Self::Int64 | Self::UInt32 => DataType::Int64,
            Self::UInt64 | Self::Bits => DataType::UInt64,
            Self::Float32 => DataType::Float32,
            Self::Float64 => DataType::Float64,
            Self::Decimal128(p, s) => DataType::Decimal128(p, s),
            Self::Decimal256(p, s) => DataType::Decimal256(p, s),
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
    /// `declared` holds what each column's table declares about it ([`declared_columns`]).
    pub fn new(columns: &[MySqlColumn], declared: &[Declared]) -> Self {
        let declared = |i: usize| declared.get(i).cloned().unwrap_or_default();
        let types: Vec<MyType> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| MyType::of(c.type_info(), declared(i).decimal))
            .collect();
        let fields: Vec<Field> = columns
            .iter()
            .zip(&types)
            .enumerate()
            .map(|(i, (c, t))| {
                let field = Field::new(c.name(), t.data_type(), true);
                match declared(i).kept {
                    Some(kept) => {
                        field.with_metadata([(MYSQL_TYPE.to_owned(), kept)].into_iter().collect())
                    }
                    None => field,
                }
            })
            .collect();
        Self {
            schema: Arc::new(Schema::new(fields)),
            types,
        }
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// # Errors
    /// `Database` when a value cannot be decoded as its column's type; `Unsupported` naming the
    /// column when a decimal does not fit its type.
    pub fn batch(&self, rows: &[MySqlRow]) -> Result<RecordBatch> {
        let columns = self
            .types
            .iter()
            .zip(self.schema.fields())
            .enumerate()
            .map(|(i, (t, field))| column(rows, i, *t, field.name()))
            .collect::<Result<Vec<_>>>()?;
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

fn read_failed(err: sea_orm::sqlx::Error) -> Error {
    Error::Database(format!("reading a MySQL row: {err}"))
}

/// What a table declares about a column beyond what the result's description says.
#[derive(Debug, Clone, Default)]
pub struct Declared {
    /// The precision and scale of a DECIMAL column.
    decimal: Option<(u8, i8)>,
    /// The declared type of a column Arrow has no type for ([`KeptType`]), kept in the field's
    /// metadata for a MySQL target.
    kept: Option<String>,
}

impl Declared {
    /// What a column of a pushed-down transform's result is read as: a DECIMAL the query
    /// computes has no declaration to read, so it takes the precision and scale Sluice plans
    /// for it (`planned`), and a value that does not fit them fails the read, naming the column,
    /// rather than being rounded.
    #[must_use]
    pub fn with_planned_decimal(self, planned: &DataType) -> Self {
        match planned {
            DataType::Decimal128(p, s) | DataType::Decimal256(p, s) if *s >= 0 => Self {
                decimal: Some((*p, *s)),
                ..self
            },
            _ => self,
        }
    }
}

/// What each column's table declares about it ([`Declared`]); nothing for columns the query
/// computes.
///
/// # Errors
/// `Database` when the catalog cannot be read.
pub async fn declared_columns(
    connection: &mut MySqlConnection,
    columns: &[MySqlColumn],
) -> Result<Vec<Declared>> {
    // One catalog query per table the columns come from (a query may join several).
    let mut tables: HashMap<String, HashMap<String, Declared>> = HashMap::new();
    let mut declared = Vec::with_capacity(columns.len());
    for column in columns {
        let origin = column.origin();
        let Some(origin) = origin.table_column() else {
            declared.push(Declared::default());
            continue;
        };
        if !tables.contains_key(&*origin.table) {
            let found = declared_in_table(connection, &origin.table).await?;
            tables.insert(origin.table.to_string(), found);
        }
        declared.push(
            tables[&*origin.table]
                .get(&origin.name.to_lowercase())
                .cloned()
                .unwrap_or_default(),
        );
    }
    Ok(declared)
}

/// What the catalog declares about each column of `table` (`schema.table`, or `table` in the
/// current schema), by column name in lower case.
async fn declared_in_table(
    connection: &mut MySqlConnection,
    table: &str,
) -> Result<HashMap<String, Declared>> {
    let (schema, name) = match table.split_once('.') {
        Some((schema, name)) => (Some(schema), name),
        None => (None, table),
    };
    let rows: Vec<(String, Option<u64>, Option<u64>, String)> = sea_orm::sqlx::query_as(
        "SELECT CAST(COLUMN_NAME AS CHAR), NUMERIC_PRECISION, NUMERIC_SCALE, \
         CAST(COLUMN_TYPE AS CHAR) FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?",
    )
    .bind(schema)
    .bind(name)
    .fetch_all(&mut *connection)
    .await
    .map_err(read_failed)?;
    Ok(rows
        .into_iter()
        .map(|(column, precision, scale, column_type)| {
            let decimal = precision
                .zip(scale)
                .and_then(|(p, s)| u8::try_from(p).ok().zip(i8::try_from(s).ok()));
            let kept = KeptType::parse(&column_type).map(|_| column_type);
            // MySQL compares column names without regard to case.
            (column.to_lowercase(), Declared { decimal, kept })
        })
        .collect())
}

/// A DECIMAL column, parsed from the text the server sends, exactly.
fn decimals<T: DecimalType>(
    rows: &[MySqlRow],
    i: usize,
    name: &str,
    precision: u8,
    scale: i8,
    limit: T::Native,
) -> Result<ArrayRef> {
    let mut builder = PrimitiveBuilder::<T>::with_capacity(rows.len())
        .with_data_type(T::TYPE_CONSTRUCTOR(precision, scale));
    for row in rows {
        match row
            .try_get_unchecked::<Option<&str>, _>(i)
            .map_err(read_failed)?
        {
            Some(text) => builder.append_value(unscaled(text, scale, limit).ok_or_else(|| {
                Error::Unsupported(format!(
                    "column '{name}' holds a value that DECIMAL({precision}, {scale}) cannot hold \
                     exactly; cast it in the source query (to a DECIMAL of larger precision or \
                     scale, or to CHAR)"
                ))
            })?),
            None => builder.append_null(),
        }
    }
    Ok(Arc::new(builder.finish()))
}

fn column(rows: &[MySqlRow], i: usize, t: MyType, name: &str) -> Result<ArrayRef> {
    // Values are decoded unchecked: the type was chosen from the column, and DECIMAL, JSON and
    // the text types all arrive as text.
    macro_rules! build {
        ($builder:expr, $rust:ty, |$v:ident| $value:expr) => {{
            let mut builder = $builder;
            for row in rows {
                match row
                    .try_get_unchecked::<Option<$rust>, _>(i)
                    .map_err(read_failed)?
                {
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
        MyType::Decimal128(p, s) => {
            decimals::<Decimal128Type>(rows, i, name, p, s, 10i128.pow(u32::from(p)))?
        }
        MyType::Decimal256(p, s) => {
            let limit = i256::from_i128(10).pow_wrapping(u32::from(p));
            decimals::<Decimal256Type>(rows, i, name, p, s, limit)?
        }
        MyType::Text => build!(StringBuilder::new(), String, |v| v),
        MyType::Bytes => build!(BinaryBuilder::new(), Vec<u8>, |v| v),
        MyType::Bits => build!(UInt64Builder::with_capacity(n), Vec<u8>, |v| {
            v.iter()
                .fold(0_u64, |bits, byte| (bits << 8) | u64::from(*byte))
        }),
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
