use async_trait::async_trait;
use datafusion::dataframe::{DataFrame, DataFrameWriteOptions};
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use sluice_domain::flow::FlowId;
use sluice_domain::flow_input::WriteMode;
use sluice_domain::names::TableName;

use crate::Result;
use crate::connectors::target::{
    StagedWrite, TableWrite, discard_on_s3, parquet_ready, staging_name, written_rows,
};
use crate::location::S3Location;

struct StagedObject {
    table: TableName,
    mode: WriteMode,
    staged: S3Location,
    file_name: String,
}

/// A columnar store on S3: a prefix of tables, each a prefix of Parquet objects. Each output is
/// written as one object under a hidden prefix `.<table>.sluice-<id>/` beside its table; the
/// commit copies it into the table, and for a replace then deletes the table's other objects.
/// S3 cannot rename a prefix, so a reader listing a table while a replace commits may see the
/// new object beside old ones for a moment; it never sees the table empty or half-written.
pub struct S3ColumnarWrite {
    root: S3Location,
    flow: FlowId,
    staged: Vec<StagedObject>,
}

impl S3ColumnarWrite {
    pub fn new(root: S3Location, flow: FlowId) -> Self {
        Self {
            root,
            flow,
            staged: Vec::new(),
        }
    }
}

#[async_trait]
impl TableWrite for S3ColumnarWrite {
    async fn write(
        &mut self,
        ctx: &SessionContext,
        table: &TableName,
        mode: WriteMode,
        data: DataFrame,
    ) -> Result<u64> {
        self.root.register(ctx)?;
        let file_name = format!("part-{}.parquet", uuid::Uuid::new_v4().simple());
        let staged = self
            .root
            .join(&staging_name(table.as_str(), self.flow, ""))
            .join(&file_name);
        self.staged.push(StagedObject {
            table: table.clone(),
            mode,
            staged: staged.clone(),
            file_name,
        });
        let report = parquet_ready(data)?
            .write_parquet(
                &staged.url(),
                DataFrameWriteOptions::new().with_single_file_output(true),
                None,
            )
            .await?;
        Ok(written_rows(&report))
    }
}

#[async_trait]
impl StagedWrite for S3ColumnarWrite {
    async fn commit(mut self: Box<Self>) -> Result<()> {
        let store = self.root.store.clone();
        for object in std::mem::take(&mut self.staged) {
            let table = self.root.join(object.table.as_str());
            let target = table.join(&object.file_name);
            store
                .copy(&object.staged.path(), &target.path())
                .await
                .map_err(|e| target.failed("writing", e))?;
            if object.mode == WriteMode::Replace {
                let old: Vec<_> = store
                    .list(Some(&table.path()))
                    .map_ok(|meta| meta.location)
                    .try_filter(|location| std::future::ready(*location != target.path()))
                    .try_collect()
                    .await
                    .map_err(|e| table.failed("listing", e))?;
                for location in old {
                    store
                        .delete(&location)
                        .await
                        .map_err(|e| table.failed("replacing", e))?;
                }
            }
            store
                .delete(&object.staged.path())
                .await
                .map_err(|e| object.staged.failed("removing", e))?;
        }
        Ok(())
    }
}

impl Drop for S3ColumnarWrite {
    /// Anything still staged was never committed: remove it.
    fn drop(&mut self) {
        discard_on_s3(self.staged.drain(..).map(|object| object.staged).collect());
    }
}
