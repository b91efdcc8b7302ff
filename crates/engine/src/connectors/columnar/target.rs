use async_trait::async_trait;
use datafusion::dataframe::DataFrame;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::prelude::SessionContext;
use sluice_domain::flow::FlowId;
use sluice_domain::flow_input::WriteMode;
use sluice_domain::names::TableName;
use std::path::PathBuf;

use crate::Result;
use crate::connectors::target::{
    StagedWrite, TableWrite, create_dir, parquet_ready, rename, staging_name, written_rows,
};

struct StagedTable {
    table: TableName,
    mode: WriteMode,
    folder: PathBuf,
    file_name: String,
}

/// A columnar store: a folder of tables, each a folder of Parquet files. Each output is written
/// into a hidden staging folder beside its table; the commit swaps it in (replace) or moves its
/// file into the table (append).
pub struct ColumnarWrite {
    root: PathBuf,
    flow: FlowId,
    staged: Vec<StagedTable>,
}

impl ColumnarWrite {
    pub fn new(root: PathBuf, flow: FlowId) -> Self {
        Self {
            root,
            flow,
            staged: Vec::new(),
        }
    }
}

#[async_trait]
impl TableWrite for ColumnarWrite {
    async fn write(
        &mut self,
        _ctx: &SessionContext,
        table: &TableName,
        mode: WriteMode,
        data: DataFrame,
    ) -> Result<u64> {
        let folder = self.root.join(staging_name(table.as_str(), self.flow, ""));
        create_dir(&folder)?;
        let file_name = format!("part-{}.parquet", uuid::Uuid::new_v4().simple());
        self.staged.push(StagedTable {
            table: table.clone(),
            mode,
            folder: folder.clone(),
            file_name: file_name.clone(),
        });
        let file = folder.join(&file_name);
        let report = parquet_ready(data)?
            .write_parquet(
                &file.to_string_lossy(),
                DataFrameWriteOptions::new().with_single_file_output(true),
                None,
            )
            .await?;
        Ok(written_rows(&report))
    }
}

#[async_trait]
impl StagedWrite for ColumnarWrite {
    async fn commit(mut self: Box<Self>) -> Result<()> {
        for staged in std::mem::take(&mut self.staged) {
            let target = self.root.join(staged.table.as_str());
            match staged.mode {
                WriteMode::Replace => {
                    let old =
                        self.root
                            .join(staging_name(staged.table.as_str(), self.flow, ".old"));
                    let had_old = target.exists();
                    if had_old {
                        rename(&target, &old)?;
                    }
                    rename(&staged.folder, &target)?;
                    if had_old {
                        let _ = std::fs::remove_dir_all(&old);
                    }
                }
                WriteMode::Append => {
                    create_dir(&target)?;
                    rename(
                        &staged.folder.join(&staged.file_name),
                        &target.join(&staged.file_name),
                    )?;
                    let _ = std::fs::remove_dir_all(&staged.folder);
                }
            }
        }
        Ok(())
    }
}

impl Drop for ColumnarWrite {
    /// Anything still staged was never committed: remove it.
    fn drop(&mut self) {
        for staged in &self.staged {
            let _ = std::fs::remove_dir_all(&staged.folder);
        }
    }
}
