use std::sync::Arc;

use crate::data_store::{Connection, DataStore, DataStoreId, NewDataStore};
use crate::page::Page;
use crate::ports::{DataStoreRepository, LocationPolicy};
use crate::{Error, Result};

/// Registers and reads data stores.
#[derive(Clone)]
pub struct DataStoreService {
    repository: Arc<dyn DataStoreRepository>,
    locations: Arc<dyn LocationPolicy>,
}

impl DataStoreService {
    pub fn new(
        repository: Arc<dyn DataStoreRepository>,
        locations: Arc<dyn LocationPolicy>,
    ) -> Self {
        Self {
            repository,
            locations,
        }
    }

    /// # Errors
    /// `Invalid` at `/connection/path` for a path outside the data folder; `Conflict` for a name in
    /// use; `Unavailable`.
    pub async fn create(&self, new: NewDataStore) -> Result<DataStore> {
        if let Some(path) = new.connection.data_path() {
            let on_s3 = path.s3().is_some();
            if on_s3 && matches!(new.connection, Connection::Relational(_)) {
                return Err(Error::invalid(
                    "/connection/path",
                    "a SQLite database must be in the data folder, not on S3",
                ));
            }
            // S3 locations are reached with the process's AWS credentials; only paths on this
            // machine need keeping inside the data folder.
            if !on_s3 {
                self.locations
                    .check(path)
                    .map_err(|message| Error::invalid("/connection/path", message))?;
            }
        }
        self.repository.create(new).await
    }

    /// # Errors
    /// `NotFound`; `Unavailable`.
    pub async fn get(&self, id: DataStoreId) -> Result<DataStore> {
        self.repository.get(id).await
    }

    /// # Errors
    /// `Unavailable`.
    pub async fn list(&self, page: Page) -> Result<Vec<DataStore>> {
        self.repository.list(page).await
    }
}
