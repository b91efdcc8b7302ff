use async_trait::async_trait;
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, SqlErr,
};
use secrecy::ExposeSecret;
use sluice_domain::data_store::{
    Connection, DataStore, DataStoreId, NewDataStore, RelationalConnection,
};
use sluice_domain::names::DataStoreName;
use sluice_domain::page::Page;
use sluice_domain::ports::DataStoreRepository;
use sluice_domain::{Error, Result};

use crate::connection_json::StoredConnection;
use crate::entity::{data_store, flow_input, flow_input_store};
use crate::error::{corrupt, map_db_err};
use crate::sealed::Opened;
use crate::{StateDatabase, id_order};
use sea_orm::sea_query::Expr;

impl StateDatabase {
    fn to_domain(&self, row: data_store::Model) -> Result<DataStore> {
        let (password, unreadable) = match (&row.password, &self.keyring) {
            (Some(stored), Some(keyring)) => match keyring.open(stored, &row.name) {
                Ok(opened) => (Some(opened.into_password()), None),
                // The store stays usable as a record (shown, changed, deleted); only what
                // needs the password fails, saying why. Debug, not a warning: every read of
                // the store list would repeat it; the failing flow says it where it matters.
                Err(reason) => {
                    tracing::debug!(store = %row.name, %reason, "a data store's password does not open");
                    (None, Some(reason))
                }
            },
            (password, None) => (password.clone(), None),
            (None, Some(_)) => (None, None),
        };
        to_domain(row, password, unreadable)
    }

    /// The password as the state database keeps it: sealed when the store has a keyring.
    fn seal(&self, password: Option<String>, store: &DataStoreName) -> Result<Option<String>> {
        match (password, &self.keyring) {
            (Some(password), Some(keyring)) => keyring
                .seal(&password, store.as_str())
                .map(Some)
                .map_err(Error::Internal),
            (password, _) => Ok(password),
        }
    }

    /// Seals every stored password again under the current key: those sealed under a previous
    /// one, and any stored before passwords were sealed. Returns how many it sealed.
    ///
    /// # Errors
    /// `Internal` when the store has no keyring or a password does not open; `Unavailable`.
    pub async fn reseal_passwords(&self) -> Result<usize> {
        let Some(keyring) = &self.keyring else {
            return Err(Error::Internal("no key to seal passwords with".into()));
        };
        let rows = data_store::Entity::find()
            .filter(data_store::Column::Password.is_not_null())
            .all(&self.db)
            .await
            .map_err(map_db_err)?;
        let mut sealed = 0;
        for row in rows {
            let Some(stored) = &row.password else {
                continue;
            };
            let opened = keyring
                .open(stored, &row.name)
                .map_err(|e| corrupt("data store", row.id, e))?;
            if let Opened::Stale(password) = opened {
                let again = keyring
                    .seal(&password, &row.name)
                    .map_err(Error::Internal)?;
                data_store::Entity::update_many()
                    .col_expr(data_store::Column::Password, Expr::value(again))
                    .filter(data_store::Column::Id.eq(row.id))
                    .filter(data_store::Column::Password.eq(stored.as_str()))
                    .exec(&self.db)
                    .await
                    .map_err(map_db_err)?;
                sealed += 1;
            }
        }
        Ok(sealed)
    }
}

fn to_domain(
    row: data_store::Model,
    password: Option<String>,
    unreadable: Option<String>,
) -> Result<DataStore> {
    let stored: StoredConnection =
        serde_json::from_str(&row.connection).map_err(|e| corrupt("data store", row.id, e))?;
    let connection = stored
        .into_domain(password, unreadable)
        .map_err(|e| corrupt("data store", row.id, e))?;
    let name = DataStoreName::parse(&row.name).map_err(|e| corrupt("data store", row.id, e))?;
    Ok(DataStore {
        id: DataStoreId(row.id),
        name,
        connection,
        created_utc: row.created_utc,
        revision: u64::try_from(row.revision).unwrap_or(0),
    })
}

#[async_trait]
impl DataStoreRepository for StateDatabase {
    async fn create(&self, new: NewDataStore) -> Result<DataStore> {
        let (connection, password) = stored(&new.connection)?;
        let password = self.seal(password, &new.name)?;
        let row = data_store::ActiveModel {
            name: Set(new.name.as_str().to_owned()),
            kind: Set(new.connection.kind().as_str().to_owned()),
            connection: Set(connection),
            password: Set(password),
            created_utc: Set(Utc::now()),
            revision: Set(0),
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
        self.to_domain(row)
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
            .and_then(|row| self.to_domain(row))
    }

    async fn get_by_name(&self, name: &DataStoreName) -> Result<DataStore> {
        data_store::Entity::find()
            .filter(data_store::Column::Name.eq(name.as_str()))
            .one(&self.db)
            .await
            .map_err(map_db_err)?
            .ok_or(Error::NotFound {
                entity: "data store",
                key: name.to_string(),
            })
            .and_then(|row| self.to_domain(row))
    }

    async fn list(&self, page: Page) -> Result<Vec<DataStore>> {
        let mut query = data_store::Entity::find();
        if let Some(after) = page.after() {
            query = query.filter(if page.descending() {
                data_store::Column::Id.lt(after)
            } else {
                data_store::Column::Id.gt(after)
            });
        }
        query
            .order_by(data_store::Column::Id, id_order(page))
            .limit(page.limit())
            .offset(page.offset())
            .all(&self.db)
            .await
            .map_err(map_db_err)?
            .into_iter()
            .map(|row| self.to_domain(row))
            .collect()
    }

    async fn count(&self) -> Result<u64> {
        data_store::Entity::find()
            .count(&self.db)
            .await
            .map_err(map_db_err)
    }

    async fn replace_connection(
        &self,
        id: DataStoreId,
        from: u64,
        connection: Connection,
    ) -> Result<DataStore> {
        let (stored_connection, password) = stored(&connection)?;
        // The name is the sealed password's associated data.
        let name = DataStoreRepository::get(self, id).await?.name;
        let password = self.seal(password, &name)?;
        let from = i64::try_from(from).unwrap_or(i64::MAX);
        // Compare and set on the revision: of two changes made from one revision, one wins and
        // the other is told, whichever replica each ran on.
        let changed = data_store::Entity::update_many()
            .col_expr(
                data_store::Column::Kind,
                Expr::value(connection.kind().as_str()),
            )
            .col_expr(
                data_store::Column::Connection,
                Expr::value(stored_connection),
            )
            .col_expr(data_store::Column::Password, Expr::value(password))
            .col_expr(data_store::Column::Revision, Expr::value(from + 1))
            .filter(data_store::Column::Id.eq(id.0))
            .filter(data_store::Column::Revision.eq(from))
            .exec(&self.db)
            .await
            .map_err(map_db_err)?;
        if changed.rows_affected == 0 {
            // Gone, or moved on: say which.
            DataStoreRepository::get(self, id).await?;
            return Err(Error::Stale {
                entity: "data store",
                key: name.to_string(),
            });
        }
        DataStoreRepository::get(self, id).await
    }

    async fn delete(&self, id: DataStoreId) -> Result<()> {
        // Named for a helpful answer; the foreign key still refuses a use made meanwhile.
        let user = flow_input_store::Entity::find()
            .filter(flow_input_store::Column::DataStoreId.eq(id.0))
            .find_also_related(flow_input::Entity)
            .one(&self.db)
            .await
            .map_err(map_db_err)?;
        if let Some((_, input)) = user {
            return Err(in_use(input.and_then(|i| i.public_id())));
        }
        let deleted = data_store::Entity::delete_by_id(id.0)
            .exec(&self.db)
            .await
            .map_err(|err| match err.sql_err() {
                Some(SqlErr::ForeignKeyConstraintViolation(_)) => in_use(None),
                _ => map_db_err(err),
            })?;
        if deleted.rows_affected == 0 {
            return Err(Error::NotFound {
                entity: "data store",
                key: id.0.to_string(),
            });
        }
        Ok(())
    }
}

fn in_use(input: Option<String>) -> Error {
    match input {
        Some(input) => Error::Conflict(format!(
            "flow input {input} uses this data store: a store stays while any flow input version uses it"
        )),
        None => Error::Conflict(
            "a flow input uses this data store: a store stays while any flow input version uses it"
                .into(),
        ),
    }
}

/// The connection as stored: its JSON without the password, and the password apart.
fn stored(connection: &Connection) -> Result<(String, Option<String>)> {
    let password = match connection {
        Connection::Relational(RelationalConnection::Server(server)) => server
            .password
            .as_ref()
            .map(|p| p.expose_secret().to_owned()),
        _ => None,
    };
    let json = serde_json::to_string(&StoredConnection::from_domain(connection))
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok((json, password))
}
