//! Parquet exports: issues are written into row groups as their batches come, and each finished
//! row group is sent before the next is begun, so a Parquet export is streamed with the memory of
//! one row group, as CSV and NDJSON are with that of one batch.

use std::sync::Arc;

use actix_web::web::Bytes;
use arrow_array::builder::{Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use sluice_domain::metadata::IssueRow;

use crate::v2::metadata::typed::text;

/// Rows per row group: large enough for good compression and few footer entries, small enough
/// that one group's encoded columns stay a few megabytes.
const ROWS_PER_ROW_GROUP: usize = 64 * 1024;

/// A row group is closed early once its encoded columns pass this: issue values can be whole
/// geometries, and 64k of those would hold hundreds of megabytes.
const ROW_GROUP_BYTES: usize = 16 << 20;

/// A Parquet file being written: what has been encoded and not yet sent is in the writer's
/// buffer.
pub(super) struct ParquetFile {
    writer: ArrowWriter<Vec<u8>>,
    schema: SchemaRef,
}

impl ParquetFile {
    /// A file of `/v2`'s issue columns, compressed with Snappy (fast to write and read).
    pub(super) fn begin() -> Result<Self, ParquetError> {
        let schema = issue_schema();
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROWS_PER_ROW_GROUP))
            .build();
        let writer = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(properties))?;
        Ok(Self { writer, schema })
    }

    /// Adds `rows`; the bytes of any row group this completed (the file's first bytes, on the
    /// first call), which may be none.
    pub(super) fn write(&mut self, rows: Vec<IssueRow>) -> Result<Bytes, ParquetError> {
        let batch = self.batch(rows)?;
        self.writer.write(&batch)?;
        if self.writer.in_progress_size() > ROW_GROUP_BYTES {
            self.writer.flush()?;
        }
        Ok(self.take())
    }

    /// The rest of the file: its last row group and its footer.
    pub(super) fn finish(mut self) -> Result<Bytes, ParquetError> {
        self.writer.finish()?;
        Ok(self.take())
    }

    /// What the writer has written out so far. Taking it is safe: the writer counts the offsets
    /// its footer records itself, not from its buffer.
    fn take(&mut self) -> Bytes {
        Bytes::from(std::mem::take(self.writer.inner_mut()))
    }

    fn batch(&self, rows: Vec<IssueRow>) -> Result<RecordBatch, ParquetError> {
        let bytes: usize = rows
            .iter()
            .map(|r| r.value.as_ref().map_or(0, String::len))
            .sum();
        let mut dataset = StringBuilder::with_capacity(rows.len(), rows.len() * 24);
        let mut resource = StringBuilder::with_capacity(rows.len(), rows.len() * 64);
        let mut line_number = Int64Builder::with_capacity(rows.len());
        let mut entry_number = Int64Builder::with_capacity(rows.len());
        let mut field = StringBuilder::with_capacity(rows.len(), rows.len() * 16);
        let mut issue_type = StringBuilder::with_capacity(rows.len(), rows.len() * 24);
        let mut value = StringBuilder::with_capacity(rows.len(), bytes);
        let mut message = StringBuilder::with_capacity(rows.len(), rows.len() * 32);
        for row in rows {
            dataset.append_value(row.dataset);
            resource.append_value(row.resource);
            line_number.append_option(row.line_number);
            entry_number.append_option(row.entry_number);
            // Empty text is null, as in the JSON and NDJSON of the same issues.
            field.append_option(text(row.field));
            issue_type.append_option(text(row.issue_type));
            value.append_option(text(row.value));
            message.append_option(text(row.message));
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(dataset.finish()),
            Arc::new(resource.finish()),
            Arc::new(line_number.finish()),
            Arc::new(entry_number.finish()),
            Arc::new(field.finish()),
            Arc::new(issue_type.finish()),
            Arc::new(value.finish()),
            Arc::new(message.finish()),
        ];
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

/// The columns of a Parquet export: those of a `/v2` issue, with its types.
fn issue_schema() -> SchemaRef {
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        text("dataset", false),
        text("resource", false),
        Field::new("line_number", DataType::Int64, true),
        Field::new("entry_number", DataType::Int64, true),
        text("field", true),
        text("issue_type", true),
        text("value", true),
        text("message", true),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn issue(n: i64) -> IssueRow {
        IssueRow {
            dataset: "conservation-area".into(),
            resource: format!("r{}", n / 100_000),
            line_number: Some(n),
            entry_number: (n % 2 == 0).then_some(n),
            field: Some("geometry".into()),
            issue_type: Some(String::new()),
            value: Some(format!("v{n}")),
            message: None,
        }
    }

    #[test]
    fn row_groups_are_sent_as_they_fill_and_the_pieces_make_one_readable_file() {
        let mut file = ParquetFile::begin().unwrap();
        let mut pieces = Vec::new();
        let rows = 150_000_i64;
        for start in (0..rows).step_by(10_000) {
            pieces.push(
                file.write((start..start + 10_000).map(issue).collect())
                    .unwrap(),
            );
        }
        let before_the_footer: usize = pieces.iter().map(Bytes::len).sum();
        assert!(
            before_the_footer > 0 && pieces.iter().filter(|p| !p.is_empty()).count() >= 2,
            "the first row groups left before the end"
        );
        pieces.push(file.finish().unwrap());
        let whole = Bytes::from(pieces.concat());

        let reader = ParquetRecordBatchReaderBuilder::try_new(whole).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 3);
        let batches: Vec<RecordBatch> = reader.build().unwrap().map(Result::unwrap).collect();
        let read: usize = batches.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(read, 150_000);
        let first = &batches[0];
        let lines = first
            .column(2)
            .as_any()
            .downcast_ref::<arrow_array::Int64Array>()
            .unwrap();
        assert_eq!(lines.value(7), 7);
        assert!(
            first.column(3).is_null(1),
            "odd entries have no entry number"
        );
        assert!(first.column(5).is_null(0), "empty text is null");
        assert!(first.column(7).is_null(0));
    }
}
