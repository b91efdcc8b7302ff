//! Arrow record batches encoded as PostgreSQL's binary COPY (`COPY … FROM STDIN (FORMAT binary)`):
//! the server stores the values without parsing text, the fastest way into a table.
//!
//! Type mapping (the column type a PostgreSQL target table is created with):
//!
//! | Arrow | PostgreSQL |
//! | --- | --- |
//! | Boolean | boolean |
//! | Int8, Int16, UInt8 | smallint |
//! | Int32, UInt16 | integer |
//! | Int64, UInt32 | bigint |
//! | UInt64 | numeric(20) |
//! | Float16, Float32 | real |
//! | Float64 | double precision |
//! | Decimal(p, s) | numeric(p, s); numeric when it came from an unconstrained numeric |
//! | Utf8, LargeUtf8, Utf8View | text |
//! | Binary, LargeBinary, BinaryView, FixedSizeBinary | bytea |
//! | Date32, Date64 | date |
//! | Time32, Time64 | time (µs) |
//! | Interval | interval (µs) |
//! | List of one of these | an array of it (`integer[]`) |
//! | Timestamp (any unit) | timestamp (µs) |
//! | Timestamp with a time zone | timestamp with time zone (µs) |
//!
//! Text that came from a PostgreSQL numeric, json, jsonb or uuid column (its field's metadata
//! says so: [`super::POSTGRESQL_TYPE`]) becomes that type again; a value it cannot hold is an
//! error naming the column.
//!
//! Any other type is an error naming the column; a transform can cast it.

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Float32Array, Float64Array,
    Int16Array, Int32Array, Int64Array, IntervalMonthDayNanoArray, ListArray, StringArray,
    Time64MicrosecondArray, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, IntervalUnit, Schema, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use std::sync::Arc;

use super::{EPOCH_DAYS, EPOCH_MICROS, POSTGRESQL_TYPE, SIGNATURE};
use crate::connectors::identifiers::quote;
use crate::{Error, Result};

/// How a column is written: the PostgreSQL type it is created with, and the Arrow type its
/// values are cast to before encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetColumn {
    pub name: String,
    pub pg_type: String,
    arrow: DataType,
    text_as: TextAs,
    /// The column its elements would be, for an array column.
    element: Option<Box<TargetColumn>>,
}

/// How text values are encoded: as text, or in the binary form of the type the column takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextAs {
    Text,
    Numeric,
    Jsonb,
    Uuid,
}

impl TargetColumn {
    /// # Errors
    /// `Unsupported` naming the column and its Arrow type.
    pub fn of(field: &Field) -> Result<Self> {
        use DataType as D;
        let plain = TextAs::Text;
        let (pg_type, arrow, text_as): (String, DataType, TextAs) = match field.data_type() {
            D::Boolean => ("boolean".into(), D::Boolean, plain),
            D::Int8 | D::Int16 | D::UInt8 => ("smallint".into(), D::Int16, plain),
            D::Int32 | D::UInt16 => ("integer".into(), D::Int32, plain),
            D::Int64 | D::UInt32 => ("bigint".into(), D::Int64, plain),
            D::UInt64 => ("numeric(20)".into(), D::Utf8, TextAs::Numeric),
            D::Float16 | D::Float32 => ("real".into(), D::Float32, plain),
            D::Float64 => ("double precision".into(), D::Float64, plain),
            D::Decimal32(p, s) | D::Decimal64(p, s) | D::Decimal128(p, s) | D::Decimal256(p, s)
                if *s >= 0 =>
            {
                // An unconstrained numeric read from PostgreSQL is created unconstrained again.
                let pg_type = match field.metadata().get(POSTGRESQL_TYPE).map(String::as_str) {
                    Some("numeric") => "numeric".into(),
                    _ => format!("numeric({p}, {s})"),
                };
                (pg_type, D::Utf8, TextAs::Numeric)
            }
            D::Utf8 | D::LargeUtf8 | D::Utf8View => {
                let (pg_type, text_as) =
                    match field.metadata().get(POSTGRESQL_TYPE).map(String::as_str) {
                        Some("numeric") => ("numeric", TextAs::Numeric),
                        // json's binary form is its text.
                        Some("json") => ("json", TextAs::Text),
                        Some("jsonb") => ("jsonb", TextAs::Jsonb),
                        Some("uuid") => ("uuid", TextAs::Uuid),
                        _ => ("text", TextAs::Text),
                    };
                (pg_type.into(), D::Utf8, text_as)
            }
            D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) => {
                ("bytea".into(), D::Binary, plain)
            }
            D::Date32 | D::Date64 => ("date".into(), D::Date32, plain),
            D::Time32(_) | D::Time64(_) => ("time".into(), D::Time64(TimeUnit::Microsecond), plain),
            D::Interval(_) => (
                "interval".into(),
                D::Interval(IntervalUnit::MonthDayNano),
                plain,
            ),
            D::List(item) | D::LargeList(item) | D::ListView(item) | D::LargeListView(item) => {
                let element = Self::of(item)?;
                if element.element.is_some() {
                    return Err(crate::connectors::target::untakeable_column(
                        field,
                        "PostgreSQL",
                    ));
                }
                return Ok(Self {
                    name: field.name().clone(),
                    pg_type: format!("{}[]", element.pg_type),
                    arrow: D::List(Arc::new(Field::new("item", element.arrow.clone(), true))),
                    text_as: plain,
                    element: Some(Box::new(element)),
                });
            }
            D::Timestamp(_, None) => (
                "timestamp".into(),
                D::Timestamp(TimeUnit::Microsecond, None),
                plain,
            ),
            D::Timestamp(_, Some(_)) => (
                "timestamp with time zone".into(),
                D::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                plain,
            ),
            _ => {
                return Err(crate::connectors::target::untakeable_column(
                    field,
                    "PostgreSQL",
                ));
            }
        };
        Ok(Self {
            name: field.name().clone(),
            pg_type,
            arrow,
            text_as,
            element: None,
        })
    }

    /// Every column of `schema`.
    ///
    /// # Errors
    /// `Unsupported` for the first column no PostgreSQL type takes.
    pub fn all(schema: &Schema) -> Result<Vec<Self>> {
        schema.fields().iter().map(|f| Self::of(f)).collect()
    }
}

/// `CREATE TABLE` for `columns`.
pub fn create_table_sql(table: &str, columns: &[TargetColumn]) -> String {
    let columns: Vec<String> = columns
        .iter()
        .map(|c| format!("{} {}", quote(&c.name), c.pg_type))
        .collect();
    format!("CREATE TABLE {} ({})", quote(table), columns.join(", "))
}

/// The column list of a COPY or INSERT into `columns`.
pub fn column_list(columns: &[TargetColumn]) -> String {
    let names: Vec<String> = columns.iter().map(|c| quote(&c.name)).collect();
    names.join(", ")
}

/// The bytes every binary COPY stream starts with: signature, flags, no header extension.
pub fn header() -> Vec<u8> {
    let mut out = SIGNATURE.to_vec();
    out.extend_from_slice(&0_i32.to_be_bytes());
    out.extend_from_slice(&0_i32.to_be_bytes());
    out
}

/// The end-of-data marker that closes a binary COPY stream.
pub const TRAILER: [u8; 2] = (-1_i16).to_be_bytes();

/// Appends the rows of `batch` to `out`.
///
/// # Errors
/// `Unsupported` for a value PostgreSQL's column cannot hold (a decimal text that is not one).
pub fn encode_rows(batch: &RecordBatch, columns: &[TargetColumn], out: &mut Vec<u8>) -> Result<()> {
    let values = columns
        .iter()
        .zip(batch.columns())
        .map(|(column, array)| Values::of(column, array))
        .collect::<Result<Vec<_>>>()?;
    let count = i16::try_from(columns.len())
        .map_err(|_| Error::Unsupported("a PostgreSQL table holds at most 1600 columns".into()))?;
    for row in 0..batch.num_rows() {
        out.extend_from_slice(&count.to_be_bytes());
        for (column, values) in columns.iter().zip(&values) {
            values.put(row, out, &column.name)?;
        }
    }
    Ok(())
}

/// One column's values, cast to the Arrow type they are encoded from.
enum Values {
    Bool(BooleanArray),
    Int2(Int16Array),
    Int4(Int32Array),
    Int8(Int64Array),
    Float4(Float32Array),
    Float8(Float64Array),
    Text(StringArray),
    Numeric(StringArray),
    Jsonb(StringArray),
    Uuid(StringArray),
    Bytea(BinaryArray),
    Date(Date32Array),
    Time(Time64MicrosecondArray),
    Timestamp(TimestampMicrosecondArray),
    Interval(IntervalMonthDayNanoArray),
    /// An array column: where each row's elements lie, the elements, and their type's OID.
    Array(ListArray, Box<Values>, u32),
}

impl Values {
    fn of(column: &TargetColumn, array: &ArrayRef) -> Result<Self> {
        let array = if array.data_type() == &column.arrow {
            array.clone()
        } else {
            cast(array, &column.arrow)?
        };
        Ok(match &column.arrow {
            DataType::Boolean => Self::Bool(array.as_boolean().clone()),
            DataType::Int16 => Self::Int2(array.as_primitive().clone()),
            DataType::Int32 => Self::Int4(array.as_primitive().clone()),
            DataType::Int64 => Self::Int8(array.as_primitive().clone()),
            DataType::Float32 => Self::Float4(array.as_primitive().clone()),
            DataType::Float64 => Self::Float8(array.as_primitive().clone()),
            DataType::Utf8 => {
                let text = array.as_string().clone();
                match column.text_as {
                    TextAs::Text => Self::Text(text),
                    TextAs::Numeric => Self::Numeric(text),
                    TextAs::Jsonb => Self::Jsonb(text),
                    TextAs::Uuid => Self::Uuid(text),
                }
            }
            DataType::Binary => Self::Bytea(array.as_binary().clone()),
            DataType::Date32 => Self::Date(array.as_primitive().clone()),
            DataType::Time64(_) => Self::Time(array.as_primitive().clone()),
            DataType::Interval(_) => Self::Interval(array.as_primitive().clone()),
            DataType::List(_) => {
                let element = column.element.as_deref().ok_or_else(|| {
                    Error::Unsupported(format!("column '{}' is not an array", column.name))
                })?;
                let list = array.as_list::<i32>().clone();
                let elements = Self::of(element, list.values())?;
                Self::Array(list, Box::new(elements), element_oid(element))
            }
            _ => Self::Timestamp(array.as_primitive().clone()),
        })
    }

    fn is_null(&self, row: usize) -> bool {
        match self {
            Self::Bool(a) => a.is_null(row),
            Self::Int2(a) => a.is_null(row),
            Self::Int4(a) => a.is_null(row),
            Self::Int8(a) => a.is_null(row),
            Self::Float4(a) => a.is_null(row),
            Self::Float8(a) => a.is_null(row),
            Self::Text(a) | Self::Numeric(a) | Self::Jsonb(a) | Self::Uuid(a) => a.is_null(row),
            Self::Bytea(a) => a.is_null(row),
            Self::Date(a) => a.is_null(row),
            Self::Time(a) => a.is_null(row),
            Self::Interval(a) => a.is_null(row),
            Self::Timestamp(a) => a.is_null(row),
            Self::Array(a, ..) => a.is_null(row),
        }
    }

    /// Appends the field: its length, then its bytes (or length -1 for NULL).
    fn put(&self, row: usize, out: &mut Vec<u8>, column: &str) -> Result<()> {
        if self.is_null(row) {
            out.extend_from_slice(&(-1_i32).to_be_bytes());
            return Ok(());
        }
        match self {
            Self::Bool(a) => field(out, &[u8::from(a.value(row))]),
            Self::Int2(a) => field(out, &a.value(row).to_be_bytes()),
            Self::Int4(a) => field(out, &a.value(row).to_be_bytes()),
            Self::Int8(a) => field(out, &a.value(row).to_be_bytes()),
            Self::Float4(a) => field(out, &a.value(row).to_be_bytes()),
            Self::Float8(a) => field(out, &a.value(row).to_be_bytes()),
            Self::Text(a) => field(out, a.value(row).as_bytes()),
            Self::Bytea(a) => field(out, a.value(row)),
            Self::Date(a) => field(out, &(a.value(row) - EPOCH_DAYS).to_be_bytes()),
            Self::Time(a) => field(out, &a.value(row).to_be_bytes()),
            Self::Interval(a) => {
                // Microseconds, days, months; PostgreSQL keeps no finer than microseconds.
                let interval = a.value(row);
                let mut bytes = [0_u8; 16];
                bytes[..8].copy_from_slice(&(interval.nanoseconds / 1000).to_be_bytes());
                bytes[8..12].copy_from_slice(&interval.days.to_be_bytes());
                bytes[12..].copy_from_slice(&interval.months.to_be_bytes());
                field(out, &bytes);
            }
            Self::Timestamp(a) => field(out, &(a.value(row) - EPOCH_MICROS).to_be_bytes()),
            Self::Array(list, elements, oid) => {
                // Dimensions (none for an empty array), whether an element is NULL, the element
                // type, the one dimension's size and lower bound, then the elements as fields.
                let offsets = list.value_offsets();
                let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
                let count = i32::try_from(end - start).unwrap_or(i32::MAX);
                let has_null = (start..end).any(|i| elements.is_null(i));
                let mut array = Vec::new();
                array.extend_from_slice(&i32::from(count > 0).to_be_bytes());
                array.extend_from_slice(&i32::from(has_null).to_be_bytes());
                array.extend_from_slice(&oid.to_be_bytes());
                if count > 0 {
                    array.extend_from_slice(&count.to_be_bytes());
                    array.extend_from_slice(&1_i32.to_be_bytes());
                }
                for i in start..end {
                    elements.put(i, &mut array, column)?;
                }
                field(out, &array);
            }
            Self::Numeric(a) => {
                let numeric = numeric_binary(a.value(row)).ok_or_else(|| {
                    Error::Unsupported(format!(
                        "column '{column}' holds '{}', which is not a decimal number",
                        a.value(row)
                    ))
                })?;
                field(out, &numeric);
            }
            Self::Jsonb(a) => {
                // jsonb's binary form: a version byte (1), then the JSON text.
                let json = a.value(row).as_bytes();
                let len = i32::try_from(json.len() + 1).unwrap_or(i32::MAX);
                out.extend_from_slice(&len.to_be_bytes());
                out.push(1);
                out.extend_from_slice(json);
            }
            Self::Uuid(a) => {
                let uuid = uuid::Uuid::parse_str(a.value(row)).map_err(|_| {
                    Error::Unsupported(format!(
                        "column '{column}' holds '{}', which is not a uuid",
                        a.value(row)
                    ))
                })?;
                field(out, uuid.as_bytes());
            }
        }
        Ok(())
    }
}

/// The type OID of an array's elements, by the type they are created with.
fn element_oid(element: &TargetColumn) -> u32 {
    match element.pg_type.as_str() {
        "boolean" => 16,
        "smallint" => 21,
        "integer" => 23,
        "bigint" => 20,
        "real" => 700,
        "double precision" => 701,
        "json" => 114,
        "jsonb" => 3802,
        "uuid" => 2950,
        "bytea" => 17,
        "date" => 1082,
        "time" => 1083,
        "timestamp" => 1114,
        "timestamp with time zone" => 1184,
        numeric if numeric.starts_with("numeric") => super::NUMERIC_OID,
        _ => 25,
    }
}

fn field(out: &mut Vec<u8>, value: &[u8]) {
    // A field longer than 2 GiB cannot be sent in one COPY row anyway; PostgreSQL's own limit
    // on a value is 1 GB.
    let len = i32::try_from(value.len()).unwrap_or(i32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
}

/// PostgreSQL's binary numeric: digit count, weight (of the first base-10000 digit), sign,
/// display scale, then the base-10000 digits. `None` for text that is not a plain decimal.
fn numeric_binary(text: &str) -> Option<Vec<u8>> {
    const POSITIVE: u16 = 0x0000;
    const NEGATIVE: u16 = 0x4000;
    const NAN: u16 = 0xC000;
    let numeric = |digits: &[i16], weight: i16, sign: u16, scale: u16| {
        let mut out = Vec::with_capacity(8 + 2 * digits.len());
        out.extend_from_slice(&(digits.len() as i16).to_be_bytes());
        out.extend_from_slice(&weight.to_be_bytes());
        out.extend_from_slice(&sign.to_be_bytes());
        out.extend_from_slice(&scale.to_be_bytes());
        for digit in digits {
            out.extend_from_slice(&digit.to_be_bytes());
        }
        out
    };
    if text == "NaN" {
        return Some(numeric(&[], 0, NAN, 0));
    }
    let (negative, unsigned) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let scale = u16::try_from(fraction.len()).ok()?;
    let whole = whole.trim_start_matches('0');
    // Align on the decimal point: whole digits grouped by four from the right, fraction digits
    // from the left.
    let mut aligned = "0".repeat((4 - whole.len() % 4) % 4);
    aligned.push_str(whole);
    let whole_groups = aligned.len() / 4;
    aligned.push_str(fraction);
    aligned.push_str(&"0".repeat((4 - fraction.len() % 4) % 4));
    let mut digits: Vec<i16> = aligned
        .as_bytes()
        .chunks(4)
        .map(|group| {
            group
                .iter()
                .fold(0_i16, |n, b| n * 10 + i16::from(b - b'0'))
        })
        .collect();
    let mut weight = i16::try_from(whole_groups).ok()? - 1;
    let leading = digits.iter().take_while(|&&d| d == 0).count();
    digits.drain(..leading);
    weight -= i16::try_from(leading).ok()?;
    while digits.last() == Some(&0) {
        digits.pop();
    }
    if digits.is_empty() {
        return Some(numeric(&[], 0, POSITIVE, scale));
    }
    let sign = if negative { NEGATIVE } else { POSITIVE };
    Some(numeric(&digits, weight, sign, scale))
}

#[cfg(test)]
mod tests {
    use super::super::numeric::numeric_text;
    use super::*;

    #[test]
    fn numerics_encode_to_what_the_decoder_reads_back() {
        for text in [
            "0",
            "0.00",
            "1",
            "-1",
            "12345.6789",
            "-0.0001",
            "100000000",
            "0.000012300",
            "98765432109876543210.0123456789",
            "NaN",
        ] {
            let binary = numeric_binary(text).unwrap();
            assert_eq!(numeric_text(&binary, "n").unwrap(), text, "{text}");
        }
        assert_eq!(
            numeric_text(&numeric_binary("+007.50").unwrap(), "n").unwrap(),
            "7.50"
        );
    }

    #[test]
    fn text_that_is_not_a_decimal_is_refused() {
        for text in ["", "-", ".", "1e5", "12a", "1.2.3", " 1"] {
            assert!(numeric_binary(text).is_none(), "{text:?}");
        }
    }

    #[test]
    fn arrow_types_map_to_postgresql_columns_and_others_are_refused() {
        let column = |t: DataType| TargetColumn::of(&Field::new("c", t, true));
        assert_eq!(column(DataType::UInt8).unwrap().pg_type, "smallint");
        assert_eq!(
            column(DataType::Decimal128(12, 3)).unwrap().pg_type,
            "numeric(12, 3)"
        );
        assert_eq!(
            column(DataType::Timestamp(
                TimeUnit::Nanosecond,
                Some("+02:00".into())
            ))
            .unwrap()
            .pg_type,
            "timestamp with time zone"
        );
        let refused = column(DataType::Duration(TimeUnit::Second)).unwrap_err();
        assert!(refused.to_string().contains("column 'c'"), "{refused}");
    }

    /// A text field that remembers PostgreSQL type `kept`.
    fn kept_as(kept: &str) -> Field {
        Field::new("c", DataType::Utf8, true).with_metadata(
            [(POSTGRESQL_TYPE.to_owned(), kept.to_owned())]
                .into_iter()
                .collect(),
        )
    }

    /// The one field of a one-row batch of `field` holding `value`, as encoded.
    fn encoded(field: Field, value: &str) -> Result<Vec<u8>> {
        let columns = TargetColumn::all(&Schema::new(vec![field.clone()]))?;
        let values: ArrayRef = std::sync::Arc::new(StringArray::from(vec![value]));
        let batch =
            RecordBatch::try_new(std::sync::Arc::new(Schema::new(vec![field])), vec![values])?;
        let mut out = Vec::new();
        encode_rows(&batch, &columns, &mut out)?;
        // Skip the row's field count (2 bytes) and the field's length (4).
        Ok(out[6..].to_vec())
    }

    #[test]
    fn text_that_came_from_numeric_json_jsonb_or_uuid_goes_back_to_that_type() {
        let pg_type = |kept: &str| TargetColumn::of(&kept_as(kept)).unwrap().pg_type;
        assert_eq!(pg_type("numeric"), "numeric");
        assert_eq!(pg_type("json"), "json");
        assert_eq!(pg_type("jsonb"), "jsonb");
        assert_eq!(pg_type("uuid"), "uuid");
        assert_eq!(pg_type("something else"), "text");

        assert_eq!(encoded(kept_as("json"), "{}").unwrap(), b"{}");
        assert_eq!(encoded(kept_as("jsonb"), "{}").unwrap(), b"\x01{}");
        let uuid = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
        assert_eq!(
            encoded(kept_as("uuid"), uuid).unwrap(),
            uuid::Uuid::parse_str(uuid).unwrap().as_bytes()
        );
        let refused = encoded(kept_as("uuid"), "not-a-uuid").unwrap_err();
        assert!(refused.to_string().contains("column 'c'"), "{refused}");
    }
}
