//! Columnar stores: a folder of tables, each a folder of Parquet files, in the data folder or on
//! S3. Sources are read by DataFusion's Parquet scanner ([`FileSource`]); a write stages hidden
//! files and renames (or, on S3, copies) them into place on commit.

mod target;
mod target_s3;

use async_trait::async_trait;
use sluice_domain::data_store::DataPath;
use sluice_domain::flow::FlowId;
use sluice_domain::flow_input::SourceRead;

use super::{Connector, FileSource, SourceConnector, TableWrite, leftovers};
use crate::location::{Location, Locator};
use crate::{Error, Result};

/// A columnar store at `path`.
pub struct Columnar {
    path: DataPath,
}

impl Columnar {
    pub fn new(path: DataPath) -> Self {
        Self { path }
    }
}

#[async_trait]
impl Connector for Columnar {
    fn kind(&self) -> &'static str {
        "columnar"
    }

    fn source(&self, read: &SourceRead, locator: &Locator) -> Result<Box<dyn SourceConnector>> {
        Ok(Box::new(self.files(read, locator)?))
    }

    fn files(&self, read: &SourceRead, locator: &Locator) -> Result<FileSource> {
        match read {
            SourceRead::Table(table) => {
                Ok(FileSource::table_folder(locator.locate(&self.path)?, table))
            }
            SourceRead::File | SourceRead::Query(_) => Err(Error::Unsupported(
                "a columnar store is read by table, not whole or by a query".into(),
            )),
        }
    }

    async fn begin_tables(&self, locator: &Locator, flow: FlowId) -> Result<Box<dyn TableWrite>> {
        Ok(match locator.locate(&self.path)? {
            Location::Local(folder) => Box::new(target::ColumnarWrite::new(folder, flow)),
            Location::S3(root) => Box::new(target_s3::S3ColumnarWrite::new(root, flow)),
        })
    }

    async fn discard_leftovers(&self, locator: &Locator, flow: FlowId) -> Result<()> {
        match locator.locate(&self.path)? {
            Location::Local(folder) => leftovers::discard_in_folder(&folder, flow, None),
            Location::S3(root) => leftovers::discard_under(&root, flow, None).await,
        }
    }
}
