//! Pipeline configuration read from its CSV folders, in a folder or on S3:
//!
//! ```text
//! collection/<collection>/endpoint.csv, source.csv
//! pipeline/<collection>/<rule kind>.csv     column.csv, default-value.csv, …
//! ```
//!
//! Files are small and change rarely; each request reads the one it needs, so an edit appears at
//! once.

use async_trait::async_trait;
use sluice_domain::Error as DomainError;
use sluice_domain::metadata::{
    ConfigurationQuery, ConfigurationRepository, ConfigurationTable, Paged, Record,
};

use crate::Result;
use crate::csv_folder::CsvFolder;

pub struct CsvConfiguration {
    folder: CsvFolder,
}

impl CsvConfiguration {
    /// `url` is a folder or `s3://bucket/prefix`; `endpoint` an S3-compatible server.
    ///
    /// # Errors
    /// `Location` when the folder does not exist or the bucket cannot be addressed.
    pub fn open(url: &str, endpoint: Option<&str>) -> Result<Self> {
        Ok(Self {
            folder: CsvFolder::open(url, endpoint)?,
        })
    }
}

#[async_trait]
impl ConfigurationRepository for CsvConfiguration {
    async fn rows(&self, query: &ConfigurationQuery) -> sluice_domain::Result<Paged<Record>> {
        // The collection name is validated: letters, digits and '-' only.
        let collection = query.collection.as_str();
        let file = match query.table {
            ConfigurationTable::Endpoints => format!("collection/{collection}/endpoint.csv"),
            ConfigurationTable::Sources => format!("collection/{collection}/source.csv"),
            ConfigurationTable::Rules(kind) => format!("pipeline/{collection}/{}.csv", kind.name()),
        };
        let rows = self
            .folder
            .read(&file)
            .await?
            .ok_or_else(|| DomainError::NotFound {
                entity: "configuration",
                key: format!("{} of {}", query.table, query.collection),
            })?;
        Ok(Paged::cut(rows, query.page))
    }
}
