//! The collection log from its CSV folder, in a folder or on S3: `log.csv` (one row per fetch of
//! an endpoint) and `resource.csv` (the resources those fetches produced). A missing file is an
//! empty table. Each request reads the files it needs, so a new run's log shows at once.

use async_trait::async_trait;
use sluice_domain::metadata::collection::{select_log, select_resources};
use sluice_domain::metadata::{CollectionLog, CollectionLogQuery, Paged, Record, ResourceQuery};

use crate::Result;
use crate::csv_folder::CsvFolder;

const LOG_FILE: &str = "log.csv";
const RESOURCE_FILE: &str = "resource.csv";

pub struct CsvCollectionLog {
    folder: CsvFolder,
}

impl CsvCollectionLog {
    /// `url` is a folder or `s3://bucket/prefix`; `endpoint` an S3-compatible server.
    ///
    /// # Errors
    /// `Location` when the folder does not exist or the bucket cannot be addressed.
    pub fn open(url: &str, endpoint: Option<&str>) -> Result<Self> {
        Ok(Self {
            folder: CsvFolder::open(url, endpoint)?,
        })
    }

    async fn table(&self, file: &str) -> Result<Vec<Record>> {
        Ok(self.folder.read(file).await?.unwrap_or_default())
    }
}

#[async_trait]
impl CollectionLog for CsvCollectionLog {
    async fn log_entries(
        &self,
        query: &CollectionLogQuery,
    ) -> sluice_domain::Result<Paged<Record>> {
        let filters = &query.filters;
        let (log, resources) = if !filters.dataset.is_empty() || !filters.organisation.is_empty() {
            tokio::try_join!(self.table(LOG_FILE), self.table(RESOURCE_FILE))?
        } else {
            (self.table(LOG_FILE).await?, Vec::new())
        };
        Ok(select_log(log, &resources, query))
    }

    async fn resources(&self, query: &ResourceQuery) -> sluice_domain::Result<Paged<Record>> {
        Ok(select_resources(self.table(RESOURCE_FILE).await?, query))
    }
}
