use async_trait::async_trait;
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionContext};
use sluice_domain::data_store::FileFormat;
use std::path::PathBuf;

use super::SourceConnector;
use crate::spool::{Spool, spool_frame};
use crate::{Error, Result};

/// A CSV or Parquet file, or a table folder of Parquet files, read by DataFusion's own scanners.
pub struct FileSource {
    path: PathBuf,
    format: FileFormat,
    is_folder: bool,
}

impl FileSource {
    pub fn file(path: PathBuf, format: FileFormat) -> Self {
        Self {
            path,
            format,
            is_folder: false,
        }
    }

    pub fn table_folder(path: PathBuf) -> Self {
        Self {
            path,
            format: FileFormat::Parquet,
            is_folder: true,
        }
    }
}

#[async_trait]
impl SourceConnector for FileSource {
    async fn read(&self, ctx: &SessionContext, rows: &mut Spool) -> Result<()> {
        let exists = if self.is_folder {
            self.path.is_dir()
        } else {
            self.path.is_file()
        };
        if !exists {
            let what = if self.is_folder {
                "table folder"
            } else {
                "file"
            };
            return Err(Error::Location(format!(
                "the {what} '{}' does not exist",
                self.path.display()
            )));
        }
        let mut location = self.path.to_string_lossy().into_owned();
        if self.is_folder {
            location.push('/');
        }
        let data = match self.format {
            FileFormat::Csv => {
                ctx.read_csv(location, CsvReadOptions::new().file_extension(""))
                    .await?
            }
            FileFormat::Parquet => {
                ctx.read_parquet(
                    location,
                    ParquetReadOptions::default().file_extension(".parquet"),
                )
                .await?
            }
        };
        spool_frame(data, rows).await
    }
}
