use std::sync::Arc;

use crate::data_store::{DataStore, DataStoreId, NewDataStore};
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
            self.locations
                .check(path)
                .map_err(|message| Error::invalid("/connection/path", message))?;
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
