use async_trait::async_trait;
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionContext};
use futures::StreamExt;
use object_store::ObjectStoreExt;
use sluice_domain::data_store::FileFormat;

use crate::connectors::SourceConnector;
use crate::location::Location;
use crate::rows::{RowSink, pass_frame};
use crate::{Error, Result};

/// A CSV or Parquet file, or a table folder of Parquet files, in the data folder or on S3, read
/// by DataFusion's own scanners.
pub struct FileSource {
    location: Location,
    format: FileFormat,
    is_folder: bool,
}

impl FileSource {
    pub fn file(location: Location, format: FileFormat) -> Self {
        Self {
            location,
            format,
            is_folder: false,
        }
    }

    /// The folder of table `table` in a columnar store at `root`.
    pub fn table_folder(root: Location, table: &str) -> Self {
        let location = match root {
            Location::Local(path) => Location::Local(path.join(table)),
            Location::S3(s3) => Location::S3(s3.join(table)),
        };
        Self {
            location,
            format: FileFormat::Parquet,
            is_folder: true,
        }
    }

    fn what(&self) -> &'static str {
        if self.is_folder {
            "table folder"
        } else {
            "file"
        }
    }

    /// Where DataFusion reads from, once the location is known to exist.
    async fn readable_location(&self, ctx: &SessionContext) -> Result<String> {
        let missing = |place: String| {
            Error::Location(format!("the {} '{place}' does not exist", self.what()))
        };
        let mut location = match &self.location {
            Location::Local(path) => {
                let exists = if self.is_folder {
                    path.is_dir()
                } else {
                    path.is_file()
                };
                if !exists {
                    return Err(missing(path.display().to_string()));
                }
                path.to_string_lossy().into_owned()
            }
            Location::S3(s3) => {
                s3.register(ctx)?;
                let exists = if self.is_folder {
                    let first = s3.store.list(Some(&s3.path())).next().await;
                    first
                        .transpose()
                        .map_err(|e| s3.failed("listing", e))?
                        .is_some()
                } else {
                    match s3.store.head(&s3.path()).await {
                        Ok(_) => true,
                        Err(object_store::Error::NotFound { .. }) => false,
                        Err(e) => return Err(s3.failed("reading", e)),
                    }
                };
                if !exists {
                    return Err(missing(s3.url()));
                }
                s3.url()
            }
        };
        if self.is_folder {
            location.push('/');
        }
        Ok(location)
    }
}

impl FileSource {
    /// Registers the file or folder as the table `alias` of `ctx` without reading it: a Ballista
    /// session's executors read it where it lies.
    ///
    /// # Errors
    /// `Location` when it does not exist; DataFusion's when its columns cannot be read.
    pub async fn register(&self, ctx: &SessionContext, alias: &str) -> Result<()> {
        let location = self.readable_location(ctx).await?;
        match self.format {
            FileFormat::Csv => ctx.register_csv(alias, &location, csv_options()).await?,
            FileFormat::Parquet => {
                ctx.register_parquet(alias, &location, parquet_options())
                    .await?;
            }
        }
        Ok(())
    }
}

/// A file store's file is read whatever its name ends with.
fn csv_options() -> CsvReadOptions<'static> {
    CsvReadOptions::new().file_extension("")
}

/// The files' field metadata is kept: it remembers a column's PostgreSQL type where Arrow has
/// none (an unconstrained numeric, jsonb), for a PostgreSQL target.
fn parquet_options() -> ParquetReadOptions<'static> {
    ParquetReadOptions::default()
        .file_extension(".parquet")
        .skip_metadata(false)
}

#[async_trait]
impl SourceConnector for FileSource {
    async fn read(&self, ctx: &SessionContext, rows: &mut dyn RowSink) -> Result<()> {
        let location = self.readable_location(ctx).await?;
        let data = match self.format {
            FileFormat::Csv => ctx.read_csv(location, csv_options()).await?,
            FileFormat::Parquet => ctx.read_parquet(location, parquet_options()).await?,
        };
        pass_frame(data, rows).await
    }
}
