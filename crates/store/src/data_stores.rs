use async_trait::async_trait;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, EntityTrait, QueryOrder, QuerySelect, Set};
use secrecy::ExposeSecret;
use sluice_domain::data_store::{
    Connection, DataStore, DataStoreId, NewDataStore, RelationalConnection,
};
use sluice_domain::names::DataStoreName;
use sluice_domain::page::Page;
use sluice_domain::ports::DataStoreRepository;
use sluice_domain::{Error, Result};

use crate::Store;
use crate::connection_json::StoredConnection;
use crate::entity::data_store;
use crate::error::{corrupt, map_db_err};

fn to_domain(row: data_store::Model) -> Result<DataStore> {
    let stored: StoredConnection =
        serde_json::from_str(&row.connection).map_err(|e| corrupt("data store", row.id, e))?;
    let connection = stored
        .into_domain(row.password)
        .map_err(|e| corrupt("data store", row.id, e))?;
    let name = DataStoreName::parse(&row.name).map_err(|e| corrupt("data store", row.id, e))?;
    Ok(DataStore {
        id: DataStoreId(row.id),
        name,
        connection,
        created_utc: row.created_utc,
    })
}

#[async_trait]
impl DataStoreRepository for Store {
    async fn create(&self, new: NewDataStore) -> Result<DataStore> {
        let password = match &new.connection {
            Connection::Relational(RelationalConnection::Server(server)) => server
                .password
                .as_ref()
                .map(|p| p.expose_secret().to_owned()),
            _ => None,
        };
        let connection = serde_json::to_string(&StoredConnection::from_domain(&new.connection))
            .map_err(|e| Error::Internal(e.to_string()))?;
        let row = data_store::ActiveModel {
            name: Set(new.name.as_str().to_owned()),
            kind: Set(new.connection.kind().as_str().to_owned()),
            connection: Set(connection),
            password: Set(password),
            created_utc: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&self.db)
        .await
        .map_err(|err| match map_db_err(err) {
            Error::Conflict(_) => {
                Error::Conflict(format!("a data store named '{}' already exists", new.name))
            }
            other => other,
        })?;
        to_domain(row)
    }

    async fn get(&self, id: DataStoreId) -> Result<DataStore> {
        data_store::Entity::find_by_id(id.0)
            .one(&self.db)
            .await
            .map_err(map_db_err)?
            .ok_or(Error::NotFound {
                entity: "data store",
                key: id.0.to_string(),
            })
            .and_then(to_domain)
    }

    async fn list(&self, page: Page) -> Result<Vec<DataStore>> {
        data_store::Entity::find()
            .order_by_asc(data_store::Column::Id)
            .limit(page.limit())
            .offset(page.offset())
            .all(&self.db)
            .await
            .map_err(map_db_err)?
            .into_iter()
            .map(to_domain)
            .collect()
    }
}
