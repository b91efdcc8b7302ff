use async_trait::async_trait;
use datafusion::common::config::CsvOptions;
use datafusion::dataframe::{DataFrame, DataFrameWriteOptions};
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionContext};
use object_store::ObjectStoreExt;
use sluice_domain::data_store::FileFormat;
use sluice_domain::flow::FlowId;
use sluice_domain::flow_input::WriteMode;

use crate::connectors::target::{
    FileWrite, StagedWrite, create_dir, discard_on_s3, parquet_ready, rename, staging_name,
    written_rows,
};
use crate::location::{Location, S3Location};
use crate::{Error, Result};

/// One CSV or Parquet file, written to a hidden file beside it and moved over it on commit: a
/// rename in the data folder; on S3 a copy (one PUT, so readers see the old object or the new
/// one) and a delete of the hidden object. An append writes the old rows followed by the new ones.
pub struct StagedFile {
    location: Location,
    format: FileFormat,
    flow: FlowId,
    staged: Option<Location>,
}

impl StagedFile {
    pub fn new(location: Location, format: FileFormat, flow: FlowId) -> Self {
        Self {
            location,
            format,
            flow,
            staged: None,
        }
    }

    /// A hidden location beside the file, and where DataFusion writes it.
    fn stage(&self, ctx: &SessionContext) -> Result<(Location, String)> {
        let extension = format!(".{}", self.format.as_str());
        match &self.location {
            Location::Local(path) => {
                let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
                    return Err(Error::Location(format!(
                        "'{}' is not a file path",
                        path.display()
                    )));
                };
                create_dir(parent)?;
                let staged =
                    parent.join(staging_name(&name.to_string_lossy(), self.flow, &extension));
                let url = staged.to_string_lossy().into_owned();
                Ok((Location::Local(staged), url))
            }
            Location::S3(s3) => {
                s3.register(ctx)?;
                let (parent, name) = s3.key.rsplit_once('/').unwrap_or(("", &s3.key));
                let hidden = staging_name(name, self.flow, &extension);
                let staged = S3Location {
                    key: if parent.is_empty() {
                        hidden
                    } else {
                        format!("{parent}/{hidden}")
                    },
                    ..s3.clone()
                };
                let url = staged.url();
                Ok((Location::S3(staged), url))
            }
        }
    }

    /// The file as it is now, for an append; `None` when there is none yet.
    async fn existing(&self, ctx: &SessionContext) -> Result<Option<DataFrame>> {
        let url = match &self.location {
            Location::Local(path) if path.is_file() => path.to_string_lossy().into_owned(),
            Location::Local(_) => return Ok(None),
            Location::S3(s3) => match s3.store.head(&s3.path()).await {
                Ok(_) => s3.url(),
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(s3.failed("reading", e)),
            },
        };
        Ok(Some(match self.format {
            FileFormat::Csv => {
                ctx.read_csv(url, CsvReadOptions::new().file_extension(""))
                    .await?
            }
            FileFormat::Parquet => {
                ctx.read_parquet(url, ParquetReadOptions::default().file_extension(""))
                    .await?
            }
        }))
    }

    fn place(&self) -> String {
        match &self.location {
            Location::Local(path) => path.display().to_string(),
            Location::S3(s3) => s3.url(),
        }
    }
}

#[async_trait]
impl FileWrite for StagedFile {
    async fn write(
        &mut self,
        ctx: &SessionContext,
        mode: WriteMode,
        data: DataFrame,
    ) -> Result<u64> {
        let (staged, url) = self.stage(ctx)?;
        self.staged = Some(staged);
        let existing = match mode {
            WriteMode::Append => self.existing(ctx).await?,
            WriteMode::Replace => None,
        };
        let data = match existing {
            Some(existing) => existing.union(data).map_err(|e| {
                Error::Unsupported(format!(
                    "the rows cannot be appended to '{}': {e}",
                    self.place()
                ))
            })?,
            None => data,
        };
        let options = DataFrameWriteOptions::new().with_single_file_output(true);
        let report = match self.format {
            FileFormat::Csv => {
                data.write_csv(
                    &url,
                    options,
                    Some(CsvOptions::default().with_has_header(true)),
                )
                .await?
            }
            FileFormat::Parquet => {
                parquet_ready(data)?
                    .write_parquet(&url, options, None)
                    .await?
            }
        };
        Ok(written_rows(&report))
    }
}

#[async_trait]
impl StagedWrite for StagedFile {
    async fn commit(mut self: Box<Self>) -> Result<()> {
        match (self.staged.take(), &self.location) {
            (Some(Location::Local(staged)), Location::Local(path)) => rename(&staged, path),
            (Some(Location::S3(staged)), Location::S3(s3)) => {
                s3.store
                    .copy(&staged.path(), &s3.path())
                    .await
                    .map_err(|e| s3.failed("writing", e))?;
                staged
                    .store
                    .delete(&staged.path())
                    .await
                    .map_err(|e| staged.failed("removing", e))
            }
            _ => Ok(()),
        }
    }
}

impl Drop for StagedFile {
    /// A staged file never committed is removed.
    fn drop(&mut self) {
        match self.staged.take() {
            Some(Location::Local(staged)) => {
                let _ = std::fs::remove_file(staged);
            }
            Some(Location::S3(staged)) => discard_on_s3(vec![staged]),
            None => {}
        }
    }
}
