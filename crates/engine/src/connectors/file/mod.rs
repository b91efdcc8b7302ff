//! CSV and Parquet files, in the data folder or on S3: read by DataFusion's own scanners, and
//! written whole to a hidden file that replaces the old one on commit.

mod source;
mod target;

pub use source::FileSource;

use async_trait::async_trait;
use sluice_domain::data_store::{DataPath, FileFormat};
use sluice_domain::flow::FlowId;
use sluice_domain::flow_input::SourceRead;

use super::{Connector, FileWrite, SourceConnector, leftovers};
use crate::location::Locator;
use crate::{Error, Result};

/// A store that is one file.
pub struct File {
    path: DataPath,
    format: FileFormat,
}

impl File {
    pub fn new(path: DataPath, format: FileFormat) -> Self {
        Self { path, format }
    }
}

#[async_trait]
impl Connector for File {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn source(&self, read: &SourceRead, locator: &Locator) -> Result<Box<dyn SourceConnector>> {
        Ok(Box::new(self.files(read, locator)?))
    }

    fn files(&self, read: &SourceRead, locator: &Locator) -> Result<FileSource> {
        match read {
            SourceRead::File => Ok(FileSource::file(locator.locate(&self.path)?, self.format)),
            SourceRead::Table(_) | SourceRead::Query(_) => Err(Error::Unsupported(
                "a file store is read whole, not by a table or a query".into(),
            )),
        }
    }

    async fn begin_file(&self, locator: &Locator, flow: FlowId) -> Result<Box<dyn FileWrite>> {
        let location = locator.locate(&self.path)?;
        Ok(Box::new(target::StagedFile::new(
            location,
            self.format,
            flow,
        )))
    }

    async fn discard_leftovers(&self, locator: &Locator, flow: FlowId) -> Result<()> {
        leftovers::discard_beside_file(&locator.locate(&self.path)?, flow).await
    }
}
