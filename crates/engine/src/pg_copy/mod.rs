//! PostgreSQL's binary COPY format. Here: `COPY … TO STDOUT (FORMAT binary)` decoded into Arrow
//! record batches, the fastest way PostgreSQL hands out rows, read in chunks as they arrive so
//! memory stays bounded by one batch. [`encode`]: the way back in, for targets.
//!
//! Type mapping (by the column's type OID):
//!
//! | PostgreSQL | Arrow |
//! | --- | --- |
//! | boolean | Boolean |
//! | smallint, integer, bigint | Int16, Int32, Int64 |
//! | real, double precision | Float32, Float64 |
//! | numeric | Utf8, the exact decimal text (`NaN` for NaN) |
//! | text, varchar, char(n), name | Utf8 |
//! | json, jsonb | Utf8, the JSON text |
//! | uuid | Utf8, hyphenated |
//! | bytea | Binary |
//! | date | Date32 |
//! | timestamp | Timestamp(µs) |
//! | timestamp with time zone | Timestamp(µs, "UTC") |
//!
//! NULL is NULL in every type. Any other type is an error naming the column and its type.
//!
//! A numeric, json, jsonb or uuid column's Arrow field remembers its PostgreSQL type in its
//! metadata ([`POSTGRESQL_TYPE`]), which DataFusion keeps through plain column references and
//! Parquet keeps in its files: a PostgreSQL target creates such a column with that type again.

pub mod encode;

use datafusion::arrow::array::{
    ArrayBuilder, ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Float32Builder,
    Float64Builder, Int16Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;
use std::sync::Arc;

use crate::{Error, Result};

/// The signature every binary COPY stream starts with.
const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
/// The Arrow field metadata key that holds a column's PostgreSQL type where Arrow has none of its
/// own (`numeric`, `json`, `jsonb`, `uuid`).
pub const POSTGRESQL_TYPE: &str = "sluice.postgresql_type";
/// Days and microseconds between 1970-01-01 (Arrow's epoch) and 2000-01-01 (PostgreSQL's).
const EPOCH_DAYS: i32 = 10_957;
const EPOCH_MICROS: i64 = 946_684_800_000_000;

/// A PostgreSQL column type Sluice can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgType {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    Text,
    Json,
    Jsonb,
    Uuid,
    Bytea,
    Date,
    Timestamp,
    Timestamptz,
}

impl PgType {
    /// The type of a column by its type OID.
    ///
    /// # Errors
    /// `Unsupported` naming the column and its type.
    pub fn of(column: &str, oid: u32, type_name: &str) -> Result<Self> {
        Ok(match oid {
            16 => Self::Bool,
            21 => Self::Int2,
            23 => Self::Int4,
            20 => Self::Int8,
            700 => Self::Float4,
            701 => Self::Float8,
            1700 => Self::Numeric,
            25 | 1043 | 1042 | 19 => Self::Text,
            114 => Self::Json,
            3802 => Self::Jsonb,
            2950 => Self::Uuid,
            17 => Self::Bytea,
            1082 => Self::Date,
            1114 => Self::Timestamp,
            1184 => Self::Timestamptz,
            _ => {
                return Err(Error::Unsupported(format!(
                    "column '{column}' has type {type_name}, which Sluice cannot read yet; \
                     cast it in the source query (to text, say)"
                )));
            }
        })
    }

    fn data_type(self) -> DataType {
        match self {
            Self::Bool => DataType::Boolean,
            Self::Int2 => DataType::Int16,
            Self::Int4 => DataType::Int32,
            Self::Int8 => DataType::Int64,
            Self::Float4 => DataType::Float32,
            Self::Float8 => DataType::Float64,
            Self::Numeric | Self::Text | Self::Json | Self::Jsonb | Self::Uuid => DataType::Utf8,
            Self::Bytea => DataType::Binary,
            Self::Date => DataType::Date32,
            Self::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            Self::Timestamptz => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        }
    }

    /// The PostgreSQL type to keep in the field's metadata, for the types Arrow lacks.
    fn kept_name(self) -> Option<&'static str> {
        match self {
            Self::Numeric => Some("numeric"),
            Self::Json => Some("json"),
            Self::Jsonb => Some("jsonb"),
            Self::Uuid => Some("uuid"),
            _ => None,
        }
    }

    fn builder(self, capacity: usize) -> Box<dyn ArrayBuilder> {
        match self {
            Self::Bool => Box::new(BooleanBuilder::with_capacity(capacity)),
            Self::Int2 => Box::new(Int16Builder::with_capacity(capacity)),
            Self::Int4 => Box::new(Int32Builder::with_capacity(capacity)),
            Self::Int8 => Box::new(Int64Builder::with_capacity(capacity)),
            Self::Float4 => Box::new(Float32Builder::with_capacity(capacity)),
            Self::Float8 => Box::new(Float64Builder::with_capacity(capacity)),
            Self::Numeric | Self::Text | Self::Json | Self::Jsonb | Self::Uuid => {
                Box::new(StringBuilder::with_capacity(capacity, capacity * 16))
            }
            Self::Bytea => Box::new(BinaryBuilder::with_capacity(capacity, capacity * 16)),
            Self::Date => Box::new(Date32Builder::with_capacity(capacity)),
            Self::Timestamp => Box::new(TimestampMicrosecondBuilder::with_capacity(capacity)),
            Self::Timestamptz => {
                Box::new(TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC"))
            }
        }
    }
}

/// One column of the rows being decoded.
#[derive(Debug, Clone)]
pub struct PgColumn {
    pub name: String,
    pub pg_type: PgType,
}

/// The Arrow schema rows of `columns` are decoded into.
pub fn schema_of(columns: &[PgColumn]) -> SchemaRef {
    let fields: Vec<Field> = columns
        .iter()
        .map(|c| {
            let field = Field::new(&c.name, c.pg_type.data_type(), true);
            match c.pg_type.kept_name() {
                Some(kept) => field.with_metadata(
                    [(POSTGRESQL_TYPE.to_owned(), kept.to_owned())]
                        .into_iter()
                        .collect(),
                ),
                None => field,
            }
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// Decodes a binary COPY stream fed in chunks of any size into record batches of `batch_rows`.
pub struct CopyDecoder {
    columns: Vec<PgColumn>,
    schema: SchemaRef,
    batch_rows: usize,
    builders: Vec<Box<dyn ArrayBuilder>>,
    rows: usize,
    /// Bytes received but not yet decoded (a header or a row split across chunks).
    pending: Vec<u8>,
    header_read: bool,
    ended: bool,
    done: Vec<RecordBatch>,
    /// Reused for the text of each numeric value.
    scratch: String,
    /// Reused for where each field of the current row lies.
    fields: Vec<Option<std::ops::Range<usize>>>,
}

impl CopyDecoder {
    pub fn new(columns: Vec<PgColumn>, batch_rows: usize) -> Self {
        let builders = columns
            .iter()
            .map(|c| c.pg_type.builder(batch_rows))
            .collect();
        Self {
            schema: schema_of(&columns),
            columns,
            batch_rows,
            builders,
            rows: 0,
            pending: Vec::new(),
            header_read: false,
            ended: false,
            done: Vec::new(),
            scratch: String::new(),
            fields: Vec::new(),
        }
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Decodes what `chunk` completes; returns the batches that filled up.
    ///
    /// # Errors
    /// `Unsupported` for bytes that are not a binary COPY stream of these columns.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<RecordBatch>> {
        self.pending.extend_from_slice(chunk);
        let mut at = 0;
        if !self.header_read {
            match header_len(&self.pending)? {
                Some(len) => {
                    at = len;
                    self.header_read = true;
                }
                None => return Ok(Vec::new()),
            }
        }
        while !self.ended {
            match self.row_at(at)? {
                Some(next) => at = next,
                None => break,
            }
        }
        self.pending.drain(..at);
        Ok(std::mem::take(&mut self.done))
    }

    /// The last, partly filled batch, once the stream has ended.
    ///
    /// # Errors
    /// `Unsupported` when the stream stopped before its end marker.
    pub fn finish(mut self) -> Result<Option<RecordBatch>> {
        if !self.ended || !self.pending.is_empty() {
            return Err(malformed("the stream stopped in the middle"));
        }
        if self.rows == 0 {
            return Ok(None);
        }
        self.flush().map(Some)
    }

    /// Decodes the row at `at` if it is all there; returns where the next one starts.
    fn row_at(&mut self, at: usize) -> Result<Option<usize>> {
        let buffer = &self.pending[at..];
        let Some(count) = read_i16(buffer, 0) else {
            return Ok(None);
        };
        if count == -1 {
            self.ended = true;
            return Ok(Some(at + 2));
        }
        if count as usize != self.columns.len() {
            return Err(malformed(&format!(
                "a row has {count} fields where {} were expected",
                self.columns.len()
            )));
        }
        // Find every field before decoding any, so a row split across chunks is decoded once.
        let fields = &mut self.fields;
        fields.clear();
        let mut offset = 2;
        for _ in 0..self.columns.len() {
            let Some(len) = read_i32(buffer, offset) else {
                return Ok(None);
            };
            offset += 4;
            if len < 0 {
                fields.push(None);
                continue;
            }
            let end = offset + len as usize;
            if buffer.len() < end {
                return Ok(None);
            }
            fields.push(Some(offset..end));
            offset = end;
        }
        for (i, field) in self.fields.iter().enumerate() {
            let value = field.clone().map(|range| &buffer[range]);
            append(
                self.builders[i].as_mut(),
                self.columns[i].pg_type,
                value,
                &self.columns[i].name,
                &mut self.scratch,
            )?;
        }
        self.rows += 1;
        if self.rows == self.batch_rows {
            let batch = self.flush()?;
            self.done.push(batch);
        }
        Ok(Some(at + offset))
    }

    fn flush(&mut self) -> Result<RecordBatch> {
        let arrays: Vec<ArrayRef> = self.builders.iter_mut().map(|b| b.finish()).collect();
        self.rows = 0;
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(datafusion::error::DataFusionError::from)?;
        Ok(batch)
    }
}

fn malformed(why: &str) -> Error {
    Error::Unsupported(format!(
        "PostgreSQL sent a COPY stream Sluice cannot read: {why}"
    ))
}

/// The header's length once all of it has arrived.
fn header_len(buffer: &[u8]) -> Result<Option<usize>> {
    let fixed = SIGNATURE.len() + 8;
    if buffer.len() < fixed {
        return Ok(None);
    }
    if &buffer[..SIGNATURE.len()] != SIGNATURE {
        return Err(malformed(
            "it does not start with the binary COPY signature",
        ));
    }
    let extension = read_i32(buffer, SIGNATURE.len() + 4).unwrap_or(0).max(0) as usize;
    Ok((buffer.len() >= fixed + extension).then_some(fixed + extension))
}

fn read_i16(buffer: &[u8], at: usize) -> Option<i16> {
    Some(i16::from_be_bytes(buffer.get(at..at + 2)?.try_into().ok()?))
}

fn read_i32(buffer: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(buffer.get(at..at + 4)?.try_into().ok()?))
}

fn fixed<const N: usize>(value: &[u8], column: &str) -> Result<[u8; N]> {
    value
        .try_into()
        .map_err(|_| malformed(&format!("column '{column}' has a value of the wrong size")))
}

fn builder<T: 'static>(builder: &mut dyn ArrayBuilder) -> &mut T {
    builder
        .as_any_mut()
        .downcast_mut::<T>()
        .expect("each column's builder is made for its type")
}

/// Appends one field's value; `scratch` is reused for the text of numerics.
fn append(
    to: &mut dyn ArrayBuilder,
    pg_type: PgType,
    value: Option<&[u8]>,
    column: &str,
    scratch: &mut String,
) -> Result<()> {
    let text = |bytes| {
        std::str::from_utf8(bytes)
            .map_err(|_| malformed(&format!("column '{column}' holds text that is not UTF-8")))
    };
    match pg_type {
        PgType::Bool => builder::<BooleanBuilder>(to).append_option(
            value
                .map(|v| fixed::<1>(v, column).map(|b| b[0] != 0))
                .transpose()?,
        ),
        PgType::Int2 => builder::<Int16Builder>(to).append_option(
            value
                .map(|v| fixed(v, column).map(i16::from_be_bytes))
                .transpose()?,
        ),
        PgType::Int4 => builder::<Int32Builder>(to).append_option(
            value
                .map(|v| fixed(v, column).map(i32::from_be_bytes))
                .transpose()?,
        ),
        PgType::Int8 => builder::<Int64Builder>(to).append_option(
            value
                .map(|v| fixed(v, column).map(i64::from_be_bytes))
                .transpose()?,
        ),
        PgType::Float4 => builder::<Float32Builder>(to).append_option(
            value
                .map(|v| fixed(v, column).map(f32::from_be_bytes))
                .transpose()?,
        ),
        PgType::Float8 => builder::<Float64Builder>(to).append_option(
            value
                .map(|v| fixed(v, column).map(f64::from_be_bytes))
                .transpose()?,
        ),
        PgType::Numeric => {
            let to = builder::<StringBuilder>(to);
            match value {
                Some(v) => {
                    scratch.clear();
                    write_numeric_text(v, column, scratch)?;
                    to.append_value(scratch.as_str());
                }
                None => to.append_null(),
            }
        }
        PgType::Text | PgType::Json => {
            builder::<StringBuilder>(to).append_option(value.map(text).transpose()?)
        }
        PgType::Jsonb => builder::<StringBuilder>(to).append_option(
            value
                .map(|v| match v.split_first() {
                    Some((1, json)) => text(json),
                    _ => Err(malformed(&format!("column '{column}' holds unknown jsonb"))),
                })
                .transpose()?,
        ),
        PgType::Uuid => {
            let to = builder::<StringBuilder>(to);
            match value {
                Some(v) => {
                    let uuid = uuid::Uuid::from_bytes(fixed::<16>(v, column)?);
                    to.append_value(
                        uuid.hyphenated()
                            .encode_lower(&mut uuid::Uuid::encode_buffer()),
                    );
                }
                None => to.append_null(),
            }
        }
        PgType::Bytea => builder::<BinaryBuilder>(to).append_option(value),
        PgType::Date => builder::<Date32Builder>(to).append_option(
            value
                .map(|v| fixed(v, column).map(|b| i32::from_be_bytes(b).saturating_add(EPOCH_DAYS)))
                .transpose()?,
        ),
        PgType::Timestamp | PgType::Timestamptz => builder::<TimestampMicrosecondBuilder>(to)
            .append_option(
                value
                    .map(|v| {
                        fixed(v, column).map(|b| i64::from_be_bytes(b).saturating_add(EPOCH_MICROS))
                    })
                    .transpose()?,
            ),
    }
    Ok(())
}

/// A binary numeric as exact decimal text: base-10000 digits with a weight (the power of 10000
/// of the first digit), a sign and a display scale (digits after the point).
#[cfg(test)]
fn numeric_text(value: &[u8], column: &str) -> Result<String> {
    let mut text = String::new();
    write_numeric_text(value, column, &mut text)?;
    Ok(text)
}

/// [`numeric_text`], written into `out` (one numeric per row: no allocation of its own).
fn write_numeric_text(value: &[u8], column: &str, out: &mut String) -> Result<()> {
    use std::fmt::Write;
    let field = |i: usize| {
        read_i16(value, i * 2)
            .ok_or_else(|| malformed(&format!("column '{column}' holds a short numeric")))
    };
    let (count, weight, sign, scale) = (field(0)?, field(1)?, field(2)? as u16, field(3)?);
    let special = match sign {
        0xC000 => Some("NaN"),
        0xD000 => Some("Infinity"),
        0xF000 => Some("-Infinity"),
        _ => None,
    };
    if let Some(special) = special {
        out.push_str(special);
        return Ok(());
    }
    if value.len() < 8 + 2 * count.max(0) as usize {
        return Err(malformed(&format!(
            "column '{column}' holds a short numeric"
        )));
    }
    // The digit for 10000^power, zero outside the stored ones.
    let digit = |power: i32| -> i16 {
        let index = i32::from(weight) - power;
        usize::try_from(index)
            .ok()
            .filter(|&i| i < count as usize)
            .and_then(|i| read_i16(value, 8 + i * 2))
            .unwrap_or(0)
    };
    if sign == 0x4000 {
        out.push('-');
    }
    let mut started = false;
    for power in (0..=i32::from(weight).max(0)).rev() {
        let d = digit(power);
        if started {
            let _ = write!(out, "{d:04}");
        } else if d != 0 || power == 0 {
            let _ = write!(out, "{d}");
            started = true;
        }
    }
    if scale > 0 {
        out.push('.');
        let fraction_start = out.len();
        let groups = (i32::from(scale) + 3) / 4;
        for power in 1..=groups {
            let _ = write!(out, "{:04}", digit(-power));
        }
        out.truncate(fraction_start + scale as usize);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{Int32Type, TimestampMicrosecondType};

    fn numeric(weight: i16, sign: u16, scale: i16, digits: &[i16]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for part in [digits.len() as i16, weight, sign as i16, scale] {
            bytes.extend_from_slice(&part.to_be_bytes());
        }
        for d in digits {
            bytes.extend_from_slice(&d.to_be_bytes());
        }
        bytes
    }

    /// A binary COPY stream of rows of fields (None for NULL), as PostgreSQL writes it.
    fn stream(rows: &[Vec<Option<Vec<u8>>>]) -> Vec<u8> {
        let mut bytes = SIGNATURE.to_vec();
        bytes.extend_from_slice(&0i32.to_be_bytes());
        bytes.extend_from_slice(&0i32.to_be_bytes());
        for row in rows {
            bytes.extend_from_slice(&(row.len() as i16).to_be_bytes());
            for field in row {
                match field {
                    None => bytes.extend_from_slice(&(-1i32).to_be_bytes()),
                    Some(value) => {
                        bytes.extend_from_slice(&(value.len() as i32).to_be_bytes());
                        bytes.extend_from_slice(value);
                    }
                }
            }
        }
        bytes.extend_from_slice(&(-1i16).to_be_bytes());
        bytes
    }

    #[test]
    fn numerics_keep_every_digit() {
        assert_eq!(
            numeric_text(&numeric(0, 0, 2, &[12, 3400]), "n").unwrap(),
            "12.34"
        );
        assert_eq!(
            numeric_text(&numeric(1, 0x4000, 0, &[1, 2]), "n").unwrap(),
            "-10002"
        );
        assert_eq!(
            numeric_text(&numeric(-1, 0, 5, &[5]), "n").unwrap(),
            "0.00050"
        );
        assert_eq!(numeric_text(&numeric(0, 0, 0, &[]), "n").unwrap(), "0");
        assert_eq!(
            numeric_text(&numeric(0, 0xC000, 0, &[]), "n").unwrap(),
            "NaN"
        );
    }

    #[test]
    fn rows_split_across_chunks_of_any_size_decode_the_same() {
        let columns = vec![
            PgColumn {
                name: "id".into(),
                pg_type: PgType::Int4,
            },
            PgColumn {
                name: "name".into(),
                pg_type: PgType::Text,
            },
            PgColumn {
                name: "at".into(),
                pg_type: PgType::Timestamptz,
            },
        ];
        let rows: Vec<Vec<Option<Vec<u8>>>> = (0..5)
            .map(|i: i32| {
                vec![
                    Some(i.to_be_bytes().to_vec()),
                    (i != 2).then(|| format!("Ελλάδα {i}").into_bytes()),
                    Some(0i64.to_be_bytes().to_vec()),
                ]
            })
            .collect();
        let bytes = stream(&rows);
        for chunk in [1, 3, 7, bytes.len()] {
            let mut decoder = CopyDecoder::new(columns.clone(), 2);
            let mut batches = Vec::new();
            for piece in bytes.chunks(chunk) {
                batches.extend(decoder.push(piece).unwrap());
            }
            batches.extend(decoder.finish().unwrap());
            assert_eq!(
                batches.iter().map(|b| b.num_rows()).collect::<Vec<_>>(),
                [2, 2, 1]
            );
            let ids: Vec<i32> = batches
                .iter()
                .flat_map(|b| b.column(0).as_primitive::<Int32Type>().values().to_vec())
                .collect();
            assert_eq!(ids, [0, 1, 2, 3, 4], "chunks of {chunk}");
            let names = batches[1].column(1).as_string::<i32>();
            assert!(names.is_null(0), "row 2's NULL name");
            assert_eq!(names.value(1), "Ελλάδα 3");
            let at = batches[0]
                .column(2)
                .as_primitive::<TimestampMicrosecondType>();
            assert_eq!(
                at.value(0),
                EPOCH_MICROS,
                "2000-01-01 in PostgreSQL's epoch"
            );
        }
    }

    #[test]
    fn a_stream_cut_short_or_of_other_columns_is_an_error() {
        let columns = vec![PgColumn {
            name: "id".into(),
            pg_type: PgType::Int4,
        }];
        let bytes = stream(&[vec![Some(1i32.to_be_bytes().to_vec())]]);
        let mut decoder = CopyDecoder::new(columns.clone(), 10);
        decoder.push(&bytes[..bytes.len() - 3]).unwrap();
        assert!(decoder.finish().is_err());

        let two = stream(&[vec![None, None]]);
        let mut decoder = CopyDecoder::new(columns, 10);
        assert!(decoder.push(&two).is_err());
        assert!(
            PgType::of("shape", 600, "point")
                .unwrap_err()
                .to_string()
                .contains("'shape'")
        );
    }
}
