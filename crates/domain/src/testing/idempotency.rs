use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

use crate::Result;
use crate::idempotency::{Claim, Fingerprint, IdempotencyKey, NewClaim, StoredResponse};
use crate::ports::IdempotencyRepository;

struct Record {
    fingerprint: Fingerprint,
    response: Option<StoredResponse>,
    created: DateTime<Utc>,
}

/// Idempotency records in memory.
#[derive(Default)]
pub struct MemoryIdempotency {
    records: Mutex<HashMap<IdempotencyKey, Record>>,
}

#[async_trait]
impl IdempotencyRepository for MemoryIdempotency {
    async fn claim(&self, claim: NewClaim) -> Result<Claim> {
        let mut records = self.records.lock().unwrap();
        let fresh = Record {
            fingerprint: claim.fingerprint.clone(),
            response: None,
            created: claim.now,
        };
        let Some(record) = records.get(&claim.key) else {
            records.insert(claim.key, fresh);
            return Ok(Claim::Claimed);
        };
        let stale = record.created < claim.expired_before
            || (record.response.is_none() && record.created < claim.abandoned_before);
        Ok(if stale {
            records.insert(claim.key, fresh);
            Claim::Claimed
        } else if record.fingerprint != claim.fingerprint {
            Claim::Mismatch
        } else if let Some(response) = &record.response {
            Claim::Replay(response.clone())
        } else {
            Claim::InFlight
        })
    }

    async fn complete(&self, key: &IdempotencyKey, response: StoredResponse) -> Result<()> {
        if let Some(record) = self.records.lock().unwrap().get_mut(key) {
            record.response = Some(response);
        }
        Ok(())
    }

    async fn release(&self, key: &IdempotencyKey) -> Result<()> {
        let mut records = self.records.lock().unwrap();
        if records.get(key).is_some_and(|r| r.response.is_none()) {
            records.remove(key);
        }
        Ok(())
    }

    async fn purge(&self, before: DateTime<Utc>) -> Result<u64> {
        let mut records = self.records.lock().unwrap();
        let count = records.len();
        records.retain(|_, r| r.created >= before);
        Ok((count - records.len()) as u64)
    }
}
