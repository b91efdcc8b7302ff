//! Binary COPY bytes into Arrow record batches, one column builder per column.

use datafusion::arrow::array::{
    ArrayBuilder, ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Float32Builder,
    Float64Builder, Int16Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use std::ops::Range;

use super::{EPOCH_DAYS, EPOCH_MICROS, PgColumn, PgType, SIGNATURE, malformed, schema_of};
use crate::Result;

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
    builder: ColumnBuilder,
}

impl CopyDecoder {
    pub fn new(columns: Vec<PgColumn>, batch_rows: usize) -> Self {
        Self {
            schema: schema_of(&columns),
            columns: columns
                .into_iter()
                .map(|c| Column {
                    builder: ColumnBuilder::new(c.pg_type, batch_rows),
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

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
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
            column.builder.append(value, &column.name)?;
        }
        self.rows += 1;
        if self.rows == self.batch_rows {
            let batch = self.flush()?;
            self.done.push(batch);
        }
        Ok(Some(at + offset))
    }

    fn flush(&mut self) -> Result<RecordBatch> {
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .map(|c| c.builder.as_builder().finish())
            .collect();
        self.rows = 0;
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)
            .map_err(datafusion::error::DataFusionError::from)?;
        Ok(batch)
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
    /// With the text of the value being written, reused from row to row.
    Numeric(StringBuilder, String),
    /// text and json: the bytes are the text.
    Text(StringBuilder),
    Jsonb(StringBuilder),
    Uuid(StringBuilder),
    Bytea(BinaryBuilder),
    Date(Date32Builder),
    /// timestamp and timestamptz; the builder of the latter is in UTC.
    Timestamp(TimestampMicrosecondBuilder),
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
            PgType::Numeric => Self::Numeric(text(), String::new()),
            PgType::Text | PgType::Json => Self::Text(text()),
            PgType::Jsonb => Self::Jsonb(text()),
            PgType::Uuid => Self::Uuid(text()),
            PgType::Bytea => Self::Bytea(BinaryBuilder::with_capacity(capacity, capacity * 16)),
            PgType::Date => Self::Date(Date32Builder::with_capacity(capacity)),
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
            Self::Numeric(b, _) | Self::Text(b) | Self::Jsonb(b) | Self::Uuid(b) => b,
            Self::Bytea(b) => b,
            Self::Date(b) => b,
            Self::Timestamp(b) => b,
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
            Self::Timestamp(b) => b.append_value(
                i64::from_be_bytes(fixed(value, column)?).saturating_add(EPOCH_MICROS),
            ),
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
            Self::Numeric(b, _) | Self::Text(b) | Self::Jsonb(b) | Self::Uuid(b) => {
                b.append_null();
            }
            Self::Bytea(b) => b.append_null(),
            Self::Date(b) => b.append_null(),
            Self::Timestamp(b) => b.append_null(),
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

/// A binary numeric as exact decimal text: base-10000 digits with a weight (the power of 10000
/// of the first digit), a sign and a display scale (digits after the point).
#[cfg(test)]
pub(super) fn numeric_text(value: &[u8], column: &str) -> Result<String> {
    let mut text = String::new();
    write_numeric_text(value, column, &mut text)?;
    Ok(text)
}

/// [`numeric_text`], written into `out` (one numeric per row: no allocation of its own, and no
/// `fmt`, which cost more than the rest of the decoding of such a column).
fn write_numeric_text(value: &[u8], column: &str, out: &mut String) -> Result<()> {
    let short = || malformed(&format!("column '{column}' holds a short numeric"));
    let field = |i: usize| read_i16(value, i * 2).ok_or_else(short);
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
    let count = usize::try_from(count).unwrap_or(0);
    let Some(stored) = value.get(8..8 + 2 * count) else {
        return Err(short());
    };
    if stored
        .chunks_exact(2)
        .any(|d| !(0..10_000).contains(&i16::from_be_bytes([d[0], d[1]])))
    {
        return Err(malformed(&format!(
            "column '{column}' holds a numeric digit outside 0..9999"
        )));
    }
    // The digit for 10000^power, zero outside the stored ones.
    let digit = |power: i32| -> u16 {
        let index = i32::from(weight) - power;
        usize::try_from(index)
            .ok()
            .filter(|&i| i < count)
            .map_or(0, |i| {
                u16::from_be_bytes([stored[2 * i], stored[2 * i + 1]])
            })
    };
    if sign == 0x4000 {
        out.push('-');
    }
    let mut started = false;
    for power in (0..=i32::from(weight).max(0)).rev() {
        let d = digit(power);
        if started {
            push_group(out, d, true);
        } else if d != 0 || power == 0 {
            push_group(out, d, false);
            started = true;
        }
    }
    if scale > 0 {
        out.push('.');
        let fraction_start = out.len();
        let groups = (i32::from(scale) + 3) / 4;
        for power in 1..=groups {
            push_group(out, digit(-power), true);
        }
        out.truncate(fraction_start + scale as usize);
    }
    Ok(())
}

/// Appends a base-10000 digit as four decimal digits, or without its leading zeros.
fn push_group(out: &mut String, group: u16, padded: bool) {
    let digits = [group / 1000, group / 100 % 10, group / 10 % 10, group % 10];
    let skip = if padded {
        0
    } else {
        digits[..3].iter().take_while(|&&d| d == 0).count()
    };
    for d in &digits[skip..] {
        out.push(char::from(b'0' + *d as u8));
    }
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
            numeric_text(&numeric(1, 0, 1, &[100, 7, 5000]), "n").unwrap(),
            "1000007.5"
        );
        assert!(
            numeric_text(&numeric(0, 0, 0, &[10_000]), "n")
                .unwrap_err()
                .to_string()
                .contains("digit outside")
        );
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
