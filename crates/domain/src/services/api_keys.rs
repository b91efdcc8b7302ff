use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};

use crate::api_key::{self, ApiKey, ApiKeyName, KeyHash, Scopes, StoredApiKey};
use crate::ports::ApiKeyRepository;
use crate::{Error, Result};

/// Issues, checks and revokes API keys.
///
/// Presented keys are checked against every key, read from the state database at most once per
/// `cache_for` and held in memory: a request costs no state-database read, and a key with an
/// existing id costs what any other does (with a cache of checked keys only, a known id was
/// answered from memory and an unknown one from the database, which told them apart). A key
/// revoked through another process is therefore refused here at most `cache_for` later (at once
/// when revoked through this one).
#[derive(Clone)]
pub struct ApiKeyService {
    repository: Arc<dyn ApiKeyRepository>,
    cache_for: Duration,
    known: Arc<Mutex<Option<Known>>>,
}

/// Every key, by its lookup part, as read at some moment.
struct Known {
    keys: HashMap<String, StoredApiKey>,
    until: Instant,
}

impl ApiKeyService {
    pub fn new(repository: Arc<dyn ApiKeyRepository>, cache_for: Duration) -> Self {
        Self {
            repository,
            cache_for,
            known: Arc::default(),
        }
    }

    /// A new key named `name`: the stored key and its text, which exists nowhere else.
    ///
    /// # Errors
    /// `Conflict` when a key has that name; `Unavailable`; `Internal` without random bytes.
    pub async fn create(&self, name: ApiKeyName, scopes: Scopes) -> Result<(ApiKey, SecretString)> {
        let issued = api_key::issue(name, scopes).map_err(Error::Internal)?;
        let key = self.repository.create(issued.stored).await?;
        // Usable at once through this process.
        self.forget();
        Ok((key, issued.secret))
    }

    /// The key `presented` is, when it is one; `None` for anything else.
    ///
    /// # Errors
    /// `Unavailable` when the state database does not answer.
    pub async fn authenticate(&self, presented: &SecretString) -> Result<Option<ApiKey>> {
        let presented = presented.expose_secret();
        // Hashed before anything is looked up, whatever the key looks like: an unknown id then
        // costs what a known one does, and the time of an answer says nothing of which exist.
        let hash = KeyHash::of(presented);
        let Some(lookup) = api_key::lookup_of(presented) else {
            return Ok(None);
        };
        let stored = self.known(lookup).await?;
        Ok(stored
            .filter(|stored| hash.matches(&stored.hash))
            .map(|stored| stored.key))
    }

    /// The key whose lookup part is `lookup`, from memory, read again once `cache_for` is over.
    async fn known(&self, lookup: &str) -> Result<Option<StoredApiKey>> {
        if let Some(known) = self.lock().as_ref()
            && known.until > Instant::now()
        {
            return Ok(known.keys.get(lookup).cloned());
        }
        let keys: HashMap<String, StoredApiKey> = (self.repository.all_stored().await?)
            .into_iter()
            .map(|stored| (stored.key.lookup.clone(), stored))
            .collect();
        let found = keys.get(lookup).cloned();
        if !self.cache_for.is_zero() {
            *self.lock() = Some(Known {
                keys,
                until: Instant::now() + self.cache_for,
            });
        }
        Ok(found)
    }

    fn forget(&self) {
        *self.lock() = None;
    }

    /// # Errors
    /// `Unavailable`.
    pub async fn list(&self) -> Result<Vec<ApiKey>> {
        self.repository.list().await
    }

    /// # Errors
    /// `NotFound`; `Unavailable`.
    pub async fn revoke(&self, name: &ApiKeyName) -> Result<()> {
        self.repository.delete(name).await?;
        self.forget();
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Known>> {
        // The map holds no invariant a panic could break.
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_key::Scope;
    use crate::testing::MemoryApiKeys;

    fn service(cache_for: Duration) -> (ApiKeyService, Arc<MemoryApiKeys>) {
        let keys = Arc::new(MemoryApiKeys::default());
        (ApiKeyService::new(keys.clone(), cache_for), keys)
    }

    async fn create(service: &ApiKeyService, name: &str) -> SecretString {
        let scopes = Scopes::new(vec![Scope::Write]).unwrap();
        service
            .create(ApiKeyName::parse(name).unwrap(), scopes)
            .await
            .unwrap()
            .1
    }

    #[tokio::test]
    async fn a_created_key_authenticates_and_a_changed_one_does_not() {
        let (service, _) = service(Duration::from_secs(60));
        let secret = create(&service, "ci").await;
        let key = service.authenticate(&secret).await.unwrap().unwrap();
        assert_eq!(key.name.as_str(), "ci");
        assert!(key.scopes.allows(Scope::Write));

        let mut forged = secret.expose_secret().to_owned();
        let last = forged.pop().unwrap();
        forged.push(if last == 'a' { 'b' } else { 'a' });
        assert!(
            service
                .authenticate(&forged.into())
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            service
                .authenticate(&"garbage".into())
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_key_checked_again_is_answered_from_memory() {
        let (service, keys) = service(Duration::from_secs(60));
        let secret = create(&service, "ci").await;
        for _ in 0..3 {
            assert!(service.authenticate(&secret).await.unwrap().is_some());
        }
        assert_eq!(keys.lookups(), 1);
    }

    #[tokio::test]
    async fn known_and_unknown_ids_are_answered_from_the_same_read() {
        let (service, keys) = service(Duration::from_secs(60));
        let secret = create(&service, "ci").await;
        let known = secret.expose_secret().to_owned();
        // The same id with another secret, and an id that exists nowhere.
        let mut wrong_secret = known.clone();
        let last = wrong_secret.pop().unwrap();
        wrong_secret.push(if last == 'a' { 'b' } else { 'a' });
        let unknown_id = format!("sluice_{}_{}", "0".repeat(12), "a".repeat(64));
        for presented in [known.as_str(), wrong_secret.as_str(), unknown_id.as_str()] {
            service
                .authenticate(&presented.to_owned().into())
                .await
                .unwrap();
        }
        assert_eq!(keys.lookups(), 1, "one read of every key answers them all");
    }

    #[tokio::test]
    async fn a_revoked_key_is_refused_at_once_by_the_process_that_revoked_it() {
        let (service, _) = service(Duration::from_secs(60));
        let secret = create(&service, "ci").await;
        assert!(service.authenticate(&secret).await.unwrap().is_some());
        service
            .revoke(&ApiKeyName::parse("ci").unwrap())
            .await
            .unwrap();
        assert!(service.authenticate(&secret).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn two_keys_cannot_share_a_name() {
        let (service, _) = service(Duration::ZERO);
        create(&service, "ci").await;
        let scopes = Scopes::new(vec![Scope::Read]).unwrap();
        let err = service
            .create(ApiKeyName::parse("ci").unwrap(), scopes)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Conflict(_)));
    }
}
