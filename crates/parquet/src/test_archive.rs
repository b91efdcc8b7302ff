//! Small issue logs written for the adapter's own tests.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;

/// One partition's file in `folder`: a row per field given, numbered from 1, all of issue type
/// `invalid` but every third, which is `missing`.
pub(crate) fn write_issues(folder: &Path, fields: &[&str]) {
    write_issue_file(folder, "issues.parquet", fields);
}

/// As [`write_issues`], in a file of the given name.
pub(crate) fn write_issue_file(folder: &Path, name: &str, fields: &[&str]) {
    std::fs::create_dir_all(folder).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("line-number", DataType::Int64, true),
        Field::new("field", DataType::Utf8, true),
        Field::new("issue-type", DataType::Utf8, true),
    ]));
    let lines: Vec<i64> = (1..=fields.len() as i64).collect();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(lines)),
            Arc::new(StringArray::from(fields.to_vec())),
            Arc::new(StringArray::from(
                (1..=fields.len())
                    .map(|i| if i % 3 == 0 { "missing" } else { "invalid" })
                    .collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap();
    let file = std::fs::File::create(folder.join(name)).unwrap();
    let mut writer = ArrowWriter::try_new(file, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}
