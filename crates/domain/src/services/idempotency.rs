use chrono::{TimeDelta, Utc};
use std::sync::Arc;
use std::time::Duration;

use crate::Result;
use crate::idempotency::{Claim, Fingerprint, IdempotencyKey, NewClaim, StoredResponse};
use crate::ports::IdempotencyRepository;

/// Answers retried writes with their first answer for `keep_for` (24 h by default).
#[derive(Clone)]
pub struct IdempotencyService {
    repository: Arc<dyn IdempotencyRepository>,
    keep_for: TimeDelta,
}

/// A claim not completed within this was abandoned by a process that died: a write answers in
/// well under it.
const ABANDONED_AFTER: TimeDelta = TimeDelta::minutes(5);

impl IdempotencyService {
    pub fn new(repository: Arc<dyn IdempotencyRepository>, keep_for: Duration) -> Self {
        Self {
            repository,
            keep_for: TimeDelta::from_std(keep_for).unwrap_or(TimeDelta::MAX),
        }
    }

    /// # Errors
    /// `Unavailable`.
    pub async fn claim(&self, key: IdempotencyKey, fingerprint: Fingerprint) -> Result<Claim> {
        let now = Utc::now();
        self.repository
            .claim(NewClaim {
                key,
                fingerprint,
                now,
                expired_before: now.checked_sub_signed(self.keep_for).unwrap_or(now),
                abandoned_before: now - ABANDONED_AFTER,
            })
            .await
    }

    /// # Errors
    /// `Unavailable`.
    pub async fn complete(&self, key: &IdempotencyKey, response: StoredResponse) -> Result<()> {
        self.repository.complete(key, response).await
    }

    /// # Errors
    /// `Unavailable`.
    pub async fn release(&self, key: &IdempotencyKey) -> Result<()> {
        self.repository.release(key).await
    }

    /// Removes the records past their keeping time; how many.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn purge_expired(&self) -> Result<u64> {
        let now = Utc::now();
        self.repository
            .purge(now.checked_sub_signed(self.keep_for).unwrap_or(now))
            .await
    }
}
