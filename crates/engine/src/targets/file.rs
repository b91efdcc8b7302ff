use async_trait::async_trait;
use datafusion::common::config::CsvOptions;
use datafusion::dataframe::{DataFrame, DataFrameWriteOptions};
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionContext};
use sluice_domain::data_store::FileFormat;
use sluice_domain::flow_input::WriteMode;
use sluice_domain::names::TableName;
use std::path::PathBuf;

use super::{StagedWrite, create_dir, rename, staging_name, written_rows};
use crate::{Error, Result};

/// One CSV or Parquet file, written to a hidden file beside it and renamed over it on commit.
/// An append writes the old rows followed by the new ones.
pub struct FileWrite {
    path: PathBuf,
    format: FileFormat,
    staged: Option<PathBuf>,
}

impl FileWrite {
    pub fn new(path: PathBuf, format: FileFormat) -> Self {
        Self {
            path,
            format,
            staged: None,
        }
    }
}

#[async_trait]
impl StagedWrite for FileWrite {
    async fn write(
        &mut self,
        ctx: &SessionContext,
        _table: Option<&TableName>,
        mode: WriteMode,
        data: DataFrame,
    ) -> Result<u64> {
        let (Some(parent), Some(name)) = (self.path.parent(), self.path.file_name()) else {
            return Err(Error::Location(format!(
                "'{}' is not a file path",
                self.path.display()
            )));
        };
        create_dir(parent)?;
        let extension = format!(".{}", self.format.as_str());
        let staged = parent.join(staging_name(&name.to_string_lossy(), &extension));
        self.staged = Some(staged.clone());

        let data = if mode == WriteMode::Append && self.path.is_file() {
            let location = self.path.to_string_lossy().into_owned();
            let existing = match self.format {
                FileFormat::Csv => {
                    ctx.read_csv(location, CsvReadOptions::new().file_extension(""))
                        .await?
                }
                FileFormat::Parquet => {
                    ctx.read_parquet(location, ParquetReadOptions::default().file_extension(""))
                        .await?
                }
            };
            existing.union(data).map_err(|e| {
                Error::Unsupported(format!(
                    "the rows cannot be appended to '{}': {e}",
                    self.path.display()
                ))
            })?
        } else {
            data
        };

        let location = staged.to_string_lossy().into_owned();
        let options = DataFrameWriteOptions::new().with_single_file_output(true);
        let report = match self.format {
            FileFormat::Csv => {
                data.write_csv(
                    &location,
                    options,
                    Some(CsvOptions::default().with_has_header(true)),
                )
                .await?
            }
            FileFormat::Parquet => data.write_parquet(&location, options, None).await?,
        };
        Ok(written_rows(&report))
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        if let Some(staged) = self.staged.take() {
            rename(&staged, &self.path)?;
        }
        Ok(())
    }
}

impl Drop for FileWrite {
    fn drop(&mut self) {
        if let Some(staged) = &self.staged {
            let _ = std::fs::remove_file(staged);
        }
    }
}
