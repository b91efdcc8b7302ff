use async_trait::async_trait;
use chrono::Utc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::api_key::{ApiKey, ApiKeyName, NewApiKey, StoredApiKey};
use crate::ports::ApiKeyRepository;
use crate::{Error, Result};

/// API keys in memory, counting the lookups that reach it.
#[derive(Default)]
pub struct MemoryApiKeys {
    keys: Mutex<Vec<StoredApiKey>>,
    lookups: AtomicUsize,
}

impl MemoryApiKeys {
    pub fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl ApiKeyRepository for MemoryApiKeys {
    async fn create(&self, new: NewApiKey) -> Result<ApiKey> {
        let mut keys = self.keys.lock().unwrap();
        if keys.iter().any(|k| k.key.name == new.name) {
            return Err(Error::Conflict(format!(
                "a key named '{}' already exists",
                new.name
            )));
        }
        let key = ApiKey {
            name: new.name,
            scopes: new.scopes,
            lookup: new.lookup,
            created_utc: Utc::now(),
        };
        keys.push(StoredApiKey {
            key: key.clone(),
            hash: new.hash,
        });
        Ok(key)
    }

    async fn all_stored(&self) -> Result<Vec<StoredApiKey>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        Ok(self.keys.lock().unwrap().clone())
    }

    async fn list(&self) -> Result<Vec<ApiKey>> {
        let mut keys: Vec<ApiKey> = self
            .keys
            .lock()
            .unwrap()
            .iter()
            .map(|k| k.key.clone())
            .collect();
        keys.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
        Ok(keys)
    }

    async fn delete(&self, name: &ApiKeyName) -> Result<()> {
        let mut keys = self.keys.lock().unwrap();
        let before = keys.len();
        keys.retain(|k| &k.key.name != name);
        if keys.len() == before {
            return Err(Error::NotFound {
                entity: "API key",
                key: name.to_string(),
            });
        }
        Ok(())
    }
}
