//! Where a step's rows go as it makes them: kept for the several steps that read them, or handed
//! off to the one step that does (see [`crate::wiring`] for which).

use async_trait::async_trait;
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::dataframe::DataFrame;
use datafusion::execution::SendableRecordBatchStream;
use futures::TryStreamExt;

use std::sync::Arc;

use crate::handoff::{Handoff, Wanted};
use crate::spool::Spool;
use crate::wiring::ReadySignal;
use crate::{Error, Result};

pub enum StepRows {
    /// Kept whole, and ready for readers once complete.
    Kept {
        spool: Spool,
        ready: ReadySignal,
    },
    HandedOff(Handoff),
}

impl StepRows {
    /// The columns of the rows, known before any row (needed for a step that may produce none;
    /// a handed-off table's reader can start only once they are known).
    pub fn declare(&mut self, schema: SchemaRef) -> Result<()> {
        match self {
            Self::Kept { spool, .. } => {
                spool.declare(schema);
                Ok(())
            }
            Self::HandedOff(handoff) => handoff.declare(schema),
        }
    }

    /// Adds one batch. [`Wanted::NoMore`] tells the maker to stop: the one reader is done.
    pub async fn push(&mut self, batch: RecordBatch) -> Result<Wanted> {
        match self {
            Self::Kept { spool, .. } => {
                spool.push(batch)?;
                Ok(Wanted::More)
            }
            Self::HandedOff(handoff) => handoff.push(batch).await,
        }
    }
}

/// Where a step's maker puts its rows.
#[async_trait]
pub trait RowSink: Send {
    /// See [`StepRows::declare`].
    fn declare(&mut self, schema: SchemaRef) -> Result<()>;
    /// See [`StepRows::push`].
    async fn push(&mut self, batch: RecordBatch) -> Result<Wanted>;
}

#[async_trait]
impl RowSink for StepRows {
    fn declare(&mut self, schema: SchemaRef) -> Result<()> {
        StepRows::declare(self, schema)
    }

    async fn push(&mut self, batch: RecordBatch) -> Result<Wanted> {
        StepRows::push(self, batch).await
    }
}

/// A value that does not fit its column's type fails the step rather than becoming NULL.
const STRICT: CastOptions<'static> = CastOptions {
    safe: false,
    format_options: datafusion::arrow::util::display::FormatOptions::new(),
};

/// Rows made elsewhere (a database a transform was pushed down to) given the columns the step
/// makes in Sluice: each batch's columns are cast to them by position and take their names.
pub struct Conformed<'r> {
    rows: &'r mut dyn RowSink,
    schema: SchemaRef,
}

impl<'r> Conformed<'r> {
    pub fn new(rows: &'r mut dyn RowSink, schema: SchemaRef) -> Self {
        Self { rows, schema }
    }
}

#[async_trait]
impl RowSink for Conformed<'_> {
    fn declare(&mut self, made: SchemaRef) -> Result<()> {
        if made.fields().len() != self.schema.fields().len() {
            return Err(Error::Unsupported(format!(
                "the database gave {} columns where the transform has {}",
                made.fields().len(),
                self.schema.fields().len()
            )));
        }
        self.rows.declare(Arc::clone(&self.schema))
    }

    async fn push(&mut self, batch: RecordBatch) -> Result<Wanted> {
        let columns = batch
            .columns()
            .iter()
            .zip(self.schema.fields())
            .map(|(column, field)| cast_with_options(column, field.data_type(), &STRICT))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        let batch = RecordBatch::try_new_with_options(Arc::clone(&self.schema), columns, &options)?;
        self.rows.push(batch).await
    }
}

/// Runs `data` and passes every batch it yields to `rows`, until the rows are no longer wanted.
pub async fn pass_frame(data: DataFrame, rows: &mut dyn RowSink) -> Result<()> {
    pass_stream(data.execute_stream().await?, rows).await
}

/// Passes a running plan's rows to `rows` until they end or the one reader wants no more.
pub async fn pass_stream(
    mut batches: SendableRecordBatchStream,
    rows: &mut dyn RowSink,
) -> Result<()> {
    rows.declare(batches.schema())?;
    while let Some(batch) = batches.try_next().await? {
        if rows.push(batch).await? == Wanted::NoMore {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Schema};

    #[derive(Default)]
    struct Collected(Vec<RecordBatch>);

    #[async_trait]
    impl RowSink for Collected {
        fn declare(&mut self, _schema: SchemaRef) -> Result<()> {
            Ok(())
        }

        async fn push(&mut self, batch: RecordBatch) -> Result<Wanted> {
            self.0.push(batch);
            Ok(Wanted::More)
        }
    }

    fn bigints(values: Vec<Option<i64>>) -> RecordBatch {
        let schema = Schema::new(vec![Field::new("sum", DataType::Int64, true)]);
        RecordBatch::try_new(Arc::new(schema), vec![Arc::new(Int64Array::from(values))]).unwrap()
    }

    #[tokio::test]
    async fn rows_take_the_steps_columns_and_a_value_that_does_not_fit_fails() {
        let wanted = Arc::new(Schema::new(vec![Field::new(
            "total",
            DataType::Int32,
            true,
        )]));
        let mut collected = Collected::default();
        let mut rows = Conformed::new(&mut collected, Arc::clone(&wanted));
        rows.declare(bigints(vec![]).schema()).unwrap();
        let wanted_more = rows.push(bigints(vec![Some(7), None])).await.unwrap();
        assert!(wanted_more == Wanted::More);
        let too_big = rows
            .push(bigints(vec![Some(i64::from(i32::MAX) + 1)]))
            .await;
        assert!(too_big.is_err(), "an overflow became {too_big:?}");
        let two_columns = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Int64, true),
        ]));
        assert!(rows.declare(two_columns).is_err());

        let batch = &collected.0[0];
        assert_eq!(batch.schema(), wanted);
        let totals = batch.column(0).as_primitive::<Int32Type>();
        assert_eq!((totals.value(0), totals.is_null(1)), (7, true));
    }
}
