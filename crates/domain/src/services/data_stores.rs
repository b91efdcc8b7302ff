use std::sync::Arc;

use crate::data_store::{Connection, DataStore, DataStoreId, NewDataStore, RelationalConnection};
use crate::described_store::{ConnectionPatch, DescribedConnection, FieldPatch};
use crate::names::DataStoreName;
use crate::page::Page;
use crate::ports::{DataStoreRepository, LocationPolicy};
use crate::{Error, FieldPath, Result};

/// How many times a change is made again from the store's newest revision when other changes
/// keep coming between its read and its write.
const MAX_TRIES: u32 = 10;

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
        self.check_location(&new.connection)?;
        self.repository.create(new).await
    }

    /// # Errors
    /// `NotFound`; `Unavailable`.
    pub async fn get_by_name(&self, name: &DataStoreName) -> Result<DataStore> {
        self.repository.get_by_name(name).await
    }

    /// Replaces the connection of the store `name` with `described`, read by the rules of the
    /// store's type (which does not change). Flows already running keep their connection.
    ///
    /// # Errors
    /// `NotFound`; `Invalid` as for `create`; `Unavailable`.
    pub async fn replace_connection(
        &self,
        name: &DataStoreName,
        described: DescribedConnection,
    ) -> Result<DataStore> {
        let mut tries = 0;
        loop {
            let store = self.repository.get_by_name(name).await?;
            let new =
                NewDataStore::describe(name.as_str(), store.connection.kind(), described.clone())
                    .map_err(Error::Invalid)?;
            self.check_location(&new.connection)?;
            match self
                .repository
                .replace_connection(store.id, store.revision, new.connection)
                .await
            {
                // Another change came between the read and the write: this one replaces it.
                Err(Error::Stale { .. }) if tries < MAX_TRIES => tries += 1,
                done => return done,
            }
        }
    }

    /// Changes some fields of a store's connection (RFC 7396: the password alone, or the host
    /// alone), the others kept, and checks the result as a new connection is checked.
    ///
    /// # Errors
    /// `Invalid` for a connection the patch leaves invalid, or when the stored password cannot
    /// be opened and the patch does not replace it (it would be lost); `NotFound`;
    /// `Unavailable`.
    pub async fn patch_connection(
        &self,
        name: &DataStoreName,
        patch: ConnectionPatch,
    ) -> Result<DataStore> {
        let mut tries = 0;
        loop {
            let store = self.repository.get_by_name(name).await?;
            match self.patch(store, patch.clone()).await {
                // Another change came between the read and the write: patch what it left.
                Err(Error::Stale { .. }) if tries < MAX_TRIES => tries += 1,
                done => return done,
            }
        }
    }

    /// [`Self::patch_connection`] of the store as the caller read it (checked against an
    /// `If-Match`): refused if it changed since.
    ///
    /// # Errors
    /// `Stale` when the store changed since `store` was read; as [`Self::patch_connection`].
    pub async fn patch(&self, store: DataStore, patch: ConnectionPatch) -> Result<DataStore> {
        if let Connection::Relational(RelationalConnection::Server(server)) = &store.connection
            && let Some(why) = &server.password_unreadable
            && matches!(patch.password, FieldPatch::Keep)
        {
            return Err(Error::invalid(
                FieldPath::new("connection").field("password"),
                format!("the stored password cannot be opened ({why}): send it with this change"),
            ));
        }
        let described = DescribedConnection::of(&store.connection).patched(patch);
        let new = NewDataStore::describe(store.name.as_str(), store.connection.kind(), described)
            .map_err(Error::Invalid)?;
        self.check_location(&new.connection)?;
        self.repository
            .replace_connection(store.id, store.revision, new.connection)
            .await
    }

    /// # Errors
    /// `NotFound`; `Conflict` while a flow input version uses the store; `Unavailable`.
    pub async fn delete(&self, name: &DataStoreName) -> Result<()> {
        let store = self.repository.get_by_name(name).await?;
        self.repository.delete(store.id).await
    }

    fn check_location(&self, connection: &Connection) -> Result<()> {
        if let Some(path) = connection.data_path() {
            let on_s3 = path.s3().is_some();
            if on_s3 && matches!(connection, Connection::Relational(_)) {
                return Err(Error::invalid(
                    FieldPath::new("connection").field("path"),
                    "a SQLite database must be in the data folder, not on S3",
                ));
            }
            // S3 locations are reached with the process's AWS credentials; only paths on this
            // machine need keeping inside the data folder.
            if !on_s3 {
                self.locations.check(path).map_err(|message| {
                    Error::invalid(FieldPath::new("connection").field("path"), message)
                })?;
            }
        }
        Ok(())
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

    /// How many data stores there are.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn count(&self) -> Result<u64> {
        self.repository.count().await
    }
}
