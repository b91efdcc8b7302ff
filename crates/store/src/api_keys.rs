use async_trait::async_trait;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use sluice_domain::api_key::{ApiKey, ApiKeyName, KeyHash, NewApiKey, Scopes, StoredApiKey};
use sluice_domain::ports::ApiKeyRepository;
use sluice_domain::{Error, Result};

use crate::StateDatabase;
use crate::entity::api_key;
use crate::error::{corrupt, map_db_err};

fn to_domain(row: api_key::Model) -> Result<StoredApiKey> {
    let name = ApiKeyName::parse(&row.name).map_err(|e| corrupt("API key", row.id, e))?;
    let scopes = Scopes::parse_list(&row.scopes).map_err(|e| corrupt("API key", row.id, e))?;
    let hash = KeyHash::from_hex(&row.hash).map_err(|e| corrupt("API key", row.id, e))?;
    Ok(StoredApiKey {
        key: ApiKey {
            name,
            scopes,
            lookup: row.lookup,
            created_utc: row.created_utc,
        },
        hash,
    })
}

#[async_trait]
impl ApiKeyRepository for StateDatabase {
    async fn create(&self, new: NewApiKey) -> Result<ApiKey> {
        let row = api_key::ActiveModel {
            name: Set(new.name.as_str().to_owned()),
            lookup: Set(new.lookup),
            hash: Set(new.hash.to_hex()),
            scopes: Set(new.scopes.to_list()),
            created_utc: Set(Utc::now()),
            ..Default::default()
        }
        .insert(&self.db)
        .await
        .map_err(|err| match map_db_err(err) {
            Error::Conflict(_) => {
                Error::Conflict(format!("a key named '{}' already exists", new.name))
            }
            other => other,
        })?;
        Ok(to_domain(row)?.key)
    }

    async fn all_stored(&self) -> Result<Vec<StoredApiKey>> {
        api_key::Entity::find()
            .all(&self.db)
            .await
            .map_err(map_db_err)?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    async fn list(&self) -> Result<Vec<ApiKey>> {
        api_key::Entity::find()
            .order_by_asc(api_key::Column::Name)
            .all(&self.db)
            .await
            .map_err(map_db_err)?
            .into_iter()
            .map(|row| to_domain(row).map(|stored| stored.key))
            .collect()
    }

    async fn delete(&self, name: &ApiKeyName) -> Result<()> {
        let deleted = api_key::Entity::delete_many()
            .filter(api_key::Column::Name.eq(name.as_str()))
            .exec(&self.db)
            .await
            .map_err(map_db_err)?;
        if deleted.rows_affected == 0 {
            return Err(Error::NotFound {
                entity: "API key",
                key: name.to_string(),
            });
        }
        Ok(())
    }
}
