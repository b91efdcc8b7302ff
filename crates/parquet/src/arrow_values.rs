//! Reading Arrow columns into the domain's plain values.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use sluice_domain::metadata::{Record, Value};

use crate::{Error, Result};

/// A column as optional strings, whatever string or dictionary type it has.
pub(crate) fn strings(batch: &RecordBatch, index: usize) -> Result<Vec<Option<String>>> {
    let column = cast(batch.column(index), &DataType::Utf8)
        .map_err(|e| Error::Shape(format!("column {index} is not text: {e}")))?;
    Ok(column
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_owned))
        .collect())
}

/// A column as optional 64-bit integers, whatever integer width it has.
pub(crate) fn integers(batch: &RecordBatch, index: usize) -> Result<Vec<Option<i64>>> {
    let column = cast(batch.column(index), &DataType::Int64)
        .map_err(|e| Error::Shape(format!("column {index} is not an integer: {e}")))?;
    Ok(column.as_primitive::<Int64Type>().iter().collect())
}

/// Every row of `batches` as a record keyed by column name.
pub(crate) fn records(batches: &[RecordBatch]) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    for batch in batches {
        let schema = batch.schema();
        let columns: Vec<Vec<Value>> = batch.columns().iter().map(values).collect::<Result<_>>()?;
        for row in 0..batch.num_rows() {
            out.push(Record(
                schema
                    .fields()
                    .iter()
                    .zip(&columns)
                    .map(|(field, column)| (field.name().clone(), column[row].clone()))
                    .collect(),
            ));
        }
    }
    Ok(out)
}

/// A column as values: integers and floats as numbers, text as text, anything else (dates,
/// timestamps) as its display text.
fn values(column: &ArrayRef) -> Result<Vec<Value>> {
    let shape = |e: datafusion::arrow::error::ArrowError| Error::Shape(e.to_string());
    let data_type = column.data_type();
    Ok(match data_type {
        DataType::Null => vec![Value::Null; column.len()],
        DataType::Boolean => column
            .as_boolean()
            .iter()
            .map(|v| v.map_or(Value::Null, Value::Bool))
            .collect(),
        t if t.is_integer() => cast(column, &DataType::Int64)
            .map_err(shape)?
            .as_primitive::<Int64Type>()
            .iter()
            .map(|v| v.map_or(Value::Null, Value::Int))
            .collect(),
        t if t.is_floating()
            || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..)) =>
        {
            cast(column, &DataType::Float64)
                .map_err(shape)?
                .as_primitive::<Float64Type>()
                .iter()
                .map(|v| v.map_or(Value::Null, Value::Float))
                .collect()
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(..) => {
            cast(column, &DataType::Utf8)
                .map_err(shape)?
                .as_string::<i32>()
                .iter()
                .map(|v| v.map_or(Value::Null, |s| Value::Text(s.to_owned())))
                .collect()
        }
        _ => {
            let formatter = ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())
                .map_err(shape)?;
            (0..column.len())
                .map(|i| {
                    if column.is_null(i) {
                        Value::Null
                    } else {
                        Value::Text(formatter.value(i).to_string())
                    }
                })
                .collect()
        }
    })
}
