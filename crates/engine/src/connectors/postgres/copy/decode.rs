//! Binary COPY bytes into Arrow record batches, one column builder per column.

use datafusion::arrow::array::NullBufferBuilder;
use datafusion::arrow::array::{
    ArrayBuilder, ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder,
    Decimal256Builder, Float32Builder, Float64Builder, Int16Builder, Int32Builder, Int64Builder,
    IntervalMonthDayNanoBuilder, ListArray, StringBuilder, Time64MicrosecondBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{
    ArrowNativeTypeOp, DataType, Field, FieldRef, IntervalMonthDayNano, SchemaRef, i256,
};
use datafusion::arrow::record_batch::RecordBatch;
use std::ops::Range;
use std::sync::Arc;

use super::numeric::{unscaled, write_text as write_numeric_text};
use super::{
    EPOCH_DAYS, EPOCH_MICROS, NumericShape, PgColumn, PgType, SIGNATURE, malformed, schema_of,
};
use crate::{Error, Result};

/// Decodes a binary COPY stream fed in chunks of any size into record batches of `batch_rows`.
pub struct CopyDecoder {
    schema: SchemaRef,
    columns: Vec<Column>,
    batch_rows: usize,
    rows: usize,
    /// The start of a row (or of the header) whose end has not arrived yet.
    pending: Vec<u8>,
    header_read: bool,
    ended: bool,
    done: Vec<RecordBatch>,
    /// Reused for where each field of the current row lies.
    fields: Vec<Option<Range<usize>>>,
}

struct Column {
    name: String,
    values: Values,
}

impl CopyDecoder {
    pub fn new(columns: Vec<PgColumn>, batch_rows: usize) -> Self {
        Self {
            schema: schema_of(&columns),
            columns: columns
                .into_iter()
                .map(|c| Column {
                    values: Values::new(&c, batch_rows),
                    name: c.name,
                })
                .collect(),
            batch_rows,
            rows: 0,
            pending: Vec::new(),
            header_read: false,
            ended: false,
            done: Vec::new(),
            fields: Vec::new(),
        }
    }

    /// Decodes what `chunk` completes; returns the batches that filled up.
    ///
    /// # Errors
    /// `Unsupported` for bytes that are not a binary COPY stream of these columns.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<RecordBatch>> {
        if self.pending.is_empty() {
            // The usual case (PostgreSQL sends whole rows): decode straight from the chunk.
            let used = self.decode(chunk)?;
            self.pending.extend_from_slice(&chunk[used..]);
        } else {
            let mut pending = std::mem::take(&mut self.pending);
            pending.extend_from_slice(chunk);
            let used = self.decode(&pending)?;
            pending.drain(..used);
            self.pending = pending;
        }
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

    /// Decodes the header, if still due, and every whole row of `buffer`; returns how many of
    /// its bytes that used.
    fn decode(&mut self, buffer: &[u8]) -> Result<usize> {
        let mut at = 0;
        if !self.header_read {
            match header_len(buffer)? {
                Some(len) => {
                    at = len;
                    self.header_read = true;
                }
                None => return Ok(0),
            }
        }
        while !self.ended {
            match self.row_at(buffer, at)? {
                Some(next) => at = next,
                None => break,
            }
        }
        Ok(at)
    }

    /// Decodes the row at `at` if it is all there; returns where the next one starts.
    fn row_at(&mut self, buffer: &[u8], at: usize) -> Result<Option<usize>> {
        let buffer = &buffer[at..];
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
        for (column, field) in self.columns.iter_mut().zip(&self.fields) {
            let value = field.clone().map(|range| &buffer[range]);
            column.values.append(value, &column.name)?;
        }
        self.rows += 1;
        if self.rows == self.batch_rows {
            let batch = self.flush()?;
            self.done.push(batch);
        }
        Ok(Some(at + offset))
    }

    fn flush(&mut self) -> Result<RecordBatch> {
        let arrays: Vec<ArrayRef> = self.columns.iter_mut().map(|c| c.values.finish()).collect();
        self.rows = 0;
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(datafusion::error::DataFusionError::from)?;
        Ok(batch)
    }
}

/// A column's values: one per row, or a list of them per row (an array column).
enum Values {
    Scalar(ColumnBuilder),
    List(ListColumn),
}

impl Values {
    fn new(column: &PgColumn, capacity: usize) -> Self {
        let scalar = ColumnBuilder::new(column.pg_type, capacity);
        if !column.array {
            return Self::Scalar(scalar);
        }
        Self::List(ListColumn {
            item: Arc::new(Field::new("item", column.pg_type.data_type(), true)),
            elements: scalar,
            offsets: vec![0],
            nulls: NullBufferBuilder::new(capacity),
        })
    }

    fn append(&mut self, value: Option<&[u8]>, column: &str) -> Result<()> {
        match self {
            Self::Scalar(builder) => builder.append(value, column),
            Self::List(list) => list.append(value, column),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Self::Scalar(builder) => builder.as_builder().finish(),
            Self::List(list) => list.finish(),
        }
    }
}

/// An array column: every row's elements in one builder, and where each row's list ends.
struct ListColumn {
    item: FieldRef,
    elements: ColumnBuilder,
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
}

impl ListColumn {
    /// Appends one array (dimensions, flags, element type, each dimension's size and lower
    /// bound, then the elements as fields), or NULL.
    fn append(&mut self, value: Option<&[u8]>, column: &str) -> Result<()> {
        let end = *self.offsets.last().unwrap_or(&0);
        let Some(value) = value else {
            self.offsets.push(end);
            self.nulls.append_null();
            return Ok(());
        };
        let short = || malformed(&format!("column '{column}' holds a short array"));
        let count = match read_i32(value, 0).ok_or_else(short)? {
            0 => 0,
            1 => read_i32(value, 12).ok_or_else(short)?.max(0),
            dimensions => {
                return Err(Error::Unsupported(format!(
                    "column '{column}' holds an array of {dimensions} dimensions, and Sluice \
                     reads arrays of one; cast it in the source query (to text, say)"
                )));
            }
        };
        let mut at = if count == 0 { 12 } else { 20 };
        for _ in 0..count {
            let len = read_i32(value, at).ok_or_else(short)?;
            at += 4;
            if len < 0 {
                self.elements.append(None, column)?;
                continue;
            }
            let element = value.get(at..at + len as usize).ok_or_else(short)?;
            self.elements.append(Some(element), column)?;
            at += len as usize;
        }
        self.offsets.push(end + count);
        self.nulls.append_non_null();
        Ok(())
    }

    fn finish(&mut self) -> ArrayRef {
        let offsets = std::mem::replace(&mut self.offsets, vec![0]);
        Arc::new(ListArray::new(
            self.item.clone(),
            OffsetBuffer::new(offsets.into()),
            self.elements.as_builder().finish(),
            self.nulls.finish(),
        ))
    }
}

/// The builder of one column, of the Arrow type its PostgreSQL type maps to, and how that type's
/// binary values become Arrow values.
enum ColumnBuilder {
    Bool(BooleanBuilder),
    Int2(Int16Builder),
    Int4(Int32Builder),
    Int8(Int64Builder),
    Float4(Float32Builder),
    Float8(Float64Builder),
    /// numeric as a decimal, with its scale and 10^precision, which no value reaches.
    Decimal128(Decimal128Builder, i8, i128),
    Decimal256(Decimal256Builder, i8, i256),
    /// numeric too wide for a decimal, with the text of the value being written, reused from row
    /// to row.
    Numeric(StringBuilder, String),
    /// text and json: the bytes are the text.
    Text(StringBuilder),
    Jsonb(StringBuilder),
    Uuid(StringBuilder),
    Bytea(BinaryBuilder),
    Date(Date32Builder),
    Time(Time64MicrosecondBuilder),
    /// timestamp and timestamptz; the builder of the latter is in UTC.
    Timestamp(TimestampMicrosecondBuilder),
    Interval(IntervalMonthDayNanoBuilder),
}

impl ColumnBuilder {
    fn new(pg_type: PgType, capacity: usize) -> Self {
        let text = || StringBuilder::with_capacity(capacity, capacity * 16);
        match pg_type {
            PgType::Bool => Self::Bool(BooleanBuilder::with_capacity(capacity)),
            PgType::Int2 => Self::Int2(Int16Builder::with_capacity(capacity)),
            PgType::Int4 => Self::Int4(Int32Builder::with_capacity(capacity)),
            PgType::Int8 => Self::Int8(Int64Builder::with_capacity(capacity)),
            PgType::Float4 => Self::Float4(Float32Builder::with_capacity(capacity)),
            PgType::Float8 => Self::Float8(Float64Builder::with_capacity(capacity)),
            PgType::Numeric(shape) => match (shape, PgType::Numeric(shape).data_type()) {
                (NumericShape::Text, _) => Self::Numeric(text(), String::new()),
                (_, data_type @ DataType::Decimal128(precision, scale)) => Self::Decimal128(
                    Decimal128Builder::with_capacity(capacity).with_data_type(data_type),
                    scale,
                    10i128.pow(u32::from(precision)),
                ),
                (_, data_type @ DataType::Decimal256(precision, scale)) => Self::Decimal256(
                    Decimal256Builder::with_capacity(capacity).with_data_type(data_type),
                    scale,
                    i256::from_i128(10).pow_wrapping(u32::from(precision)),
                ),
                (_, other) => unreachable!("a numeric is a decimal or text, not {other}"),
            },
            PgType::Text | PgType::Json | PgType::AsText => Self::Text(text()),
            PgType::Jsonb => Self::Jsonb(text()),
            PgType::Uuid => Self::Uuid(text()),
            PgType::Bytea => Self::Bytea(BinaryBuilder::with_capacity(capacity, capacity * 16)),
            PgType::Date => Self::Date(Date32Builder::with_capacity(capacity)),
            PgType::Time => Self::Time(Time64MicrosecondBuilder::with_capacity(capacity)),
            PgType::Interval => {
                Self::Interval(IntervalMonthDayNanoBuilder::with_capacity(capacity))
            }
            PgType::Timestamp => {
                Self::Timestamp(TimestampMicrosecondBuilder::with_capacity(capacity))
            }
            PgType::Timestamptz => Self::Timestamp(
                TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC"),
            ),
        }
    }

    fn as_builder(&mut self) -> &mut dyn ArrayBuilder {
        match self {
            Self::Bool(b) => b,
            Self::Int2(b) => b,
            Self::Int4(b) => b,
            Self::Int8(b) => b,
            Self::Float4(b) => b,
            Self::Float8(b) => b,
            Self::Decimal128(b, ..) => b,
            Self::Decimal256(b, ..) => b,
            Self::Numeric(b, _) | Self::Text(b) | Self::Jsonb(b) | Self::Uuid(b) => b,
            Self::Bytea(b) => b,
            Self::Date(b) => b,
            Self::Time(b) => b,
            Self::Timestamp(b) => b,
            Self::Interval(b) => b,
        }
    }

    /// Appends one field's binary value, or NULL.
    fn append(&mut self, value: Option<&[u8]>, column: &str) -> Result<()> {
        let Some(value) = value else {
            self.append_null();
            return Ok(());
        };
        match self {
            Self::Bool(b) => b.append_value(fixed::<1>(value, column)?[0] != 0),
            Self::Int2(b) => b.append_value(i16::from_be_bytes(fixed(value, column)?)),
            Self::Int4(b) => b.append_value(i32::from_be_bytes(fixed(value, column)?)),
            Self::Int8(b) => b.append_value(i64::from_be_bytes(fixed(value, column)?)),
            Self::Float4(b) => b.append_value(f32::from_be_bytes(fixed(value, column)?)),
            Self::Float8(b) => b.append_value(f64::from_be_bytes(fixed(value, column)?)),
            Self::Decimal128(b, scale, limit) => {
                b.append_value(unscaled(value, column, *scale, *limit)?);
            }
            Self::Decimal256(b, scale, limit) => {
                b.append_value(unscaled(value, column, *scale, *limit)?);
            }
            Self::Numeric(b, text) => {
                text.clear();
                write_numeric_text(value, column, text)?;
                b.append_value(text.as_str());
            }
            Self::Text(b) => b.append_value(utf8(value, column)?),
            Self::Jsonb(b) => match value.split_first() {
                Some((1, json)) => b.append_value(utf8(json, column)?),
                _ => return Err(malformed(&format!("column '{column}' holds unknown jsonb"))),
            },
            Self::Uuid(b) => {
                let uuid = uuid::Uuid::from_bytes(fixed::<16>(value, column)?);
                b.append_value(
                    uuid.hyphenated()
                        .encode_lower(&mut uuid::Uuid::encode_buffer()),
                );
            }
            Self::Bytea(b) => b.append_value(value),
            Self::Date(b) => {
                b.append_value(
                    i32::from_be_bytes(fixed(value, column)?).saturating_add(EPOCH_DAYS),
                );
            }
            Self::Time(b) => b.append_value(i64::from_be_bytes(fixed(value, column)?)),
            Self::Timestamp(b) => b.append_value(
                i64::from_be_bytes(fixed(value, column)?).saturating_add(EPOCH_MICROS),
            ),
            Self::Interval(b) => {
                // Microseconds, days and months, in that order.
                let bytes: [u8; 16] = fixed(value, column)?;
                let part = |at: usize| [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
                let micros = i64::from_be_bytes(fixed(&bytes[..8], column)?);
                b.append_value(IntervalMonthDayNano::new(
                    i32::from_be_bytes(part(12)),
                    i32::from_be_bytes(part(8)),
                    micros.saturating_mul(1000),
                ));
            }
        }
        Ok(())
    }

    fn append_null(&mut self) {
        match self {
            Self::Bool(b) => b.append_null(),
            Self::Int2(b) => b.append_null(),
            Self::Int4(b) => b.append_null(),
            Self::Int8(b) => b.append_null(),
            Self::Float4(b) => b.append_null(),
            Self::Float8(b) => b.append_null(),
            Self::Decimal128(b, ..) => b.append_null(),
            Self::Decimal256(b, ..) => b.append_null(),
            Self::Numeric(b, _) | Self::Text(b) | Self::Jsonb(b) | Self::Uuid(b) => {
                b.append_null();
            }
            Self::Bytea(b) => b.append_null(),
            Self::Date(b) => b.append_null(),
            Self::Time(b) => b.append_null(),
            Self::Timestamp(b) => b.append_null(),
            Self::Interval(b) => b.append_null(),
        }
    }
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

fn utf8<'a>(value: &'a [u8], column: &str) -> Result<&'a str> {
    std::str::from_utf8(value)
        .map_err(|_| malformed(&format!("column '{column}' holds text that is not UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{Int32Type, TimestampMicrosecondType};

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
    fn rows_split_across_chunks_of_any_size_decode_the_same() {
        let columns = vec![
            PgColumn::scalar("id", PgType::Int4),
            PgColumn::scalar("name", PgType::Text),
            PgColumn::scalar("at", PgType::Timestamptz),
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
        let columns = vec![PgColumn::scalar("id", PgType::Int4)];
        let bytes = stream(&[vec![Some(1i32.to_be_bytes().to_vec())]]);
        let mut decoder = CopyDecoder::new(columns.clone(), 10);
        decoder.push(&bytes[..bytes.len() - 3]).unwrap();
        assert!(decoder.finish().is_err());

        let two = stream(&[vec![None, None]]);
        let mut decoder = CopyDecoder::new(columns, 10);
        assert!(decoder.push(&two).is_err());
        assert_eq!(PgColumn::new("shape", 600, -1).pg_type, PgType::AsText);
    }
}
