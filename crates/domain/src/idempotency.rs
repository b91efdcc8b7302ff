//! Idempotent writes: a client sends an `Idempotency-Key` with a POST, and a retry with the same
//! key and the same request gets the first answer again instead of doing the work twice, on any
//! process sharing the state database.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// The longest key a client may send.
pub const MAX_KEY_LEN: usize = 255;

/// Whose key it is and the key: two clients (two API keys) may use the same key text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey {
    /// The API key's name, or empty for a request without one.
    pub owner: String,
    pub key: String,
}

impl IdempotencyKey {
    /// # Errors
    /// A message for a key that is empty, longer than [`MAX_KEY_LEN`] or not printable ASCII.
    pub fn parse(owner: &str, raw: &str) -> Result<Self, String> {
        if raw.is_empty() || raw.len() > MAX_KEY_LEN {
            return Err(format!("must be 1 to {MAX_KEY_LEN} characters long"));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
            return Err("must be printable ASCII".into());
        }
        Ok(Self {
            owner: owner.to_owned(),
            key: raw.to_owned(),
        })
    }
}

/// What identifies a request: its method, path and body. The same key with another fingerprint
/// is another request, which the key cannot stand for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(pub String);

impl Fingerprint {
    pub fn of(method: &str, path: &str, body: &[u8]) -> Self {
        let mut hash = Sha256::new();
        for part in [method.as_bytes(), b"\n", path.as_bytes(), b"\n", body] {
            hash.update(part);
        }
        Self(hex::encode(hash.finalize()))
    }
}

/// The answer a first request got, as it is replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub body: Vec<u8>,
}

/// What a request with a key may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is new (or its record expired, or its first request was abandoned): go on, then
    /// complete or release it.
    Claimed,
    /// The first request with this key finished: answer what it answered.
    Replay(StoredResponse),
    /// The first request with this key is still being answered.
    InFlight,
    /// The key was used for another request.
    Mismatch,
}

/// A request being answered under a key.
#[derive(Debug, Clone)]
pub struct NewClaim {
    pub key: IdempotencyKey,
    pub fingerprint: Fingerprint,
    pub now: DateTime<Utc>,
    /// Records made before this are gone: their keys may be used afresh.
    pub expired_before: DateTime<Utc>,
    /// A request claimed before this and never completed was abandoned (its process died).
    pub abandoned_before: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_printable_and_bounded() {
        assert!(IdempotencyKey::parse("ci", "3f0c-42").is_ok());
        assert!(IdempotencyKey::parse("ci", "").is_err());
        assert!(IdempotencyKey::parse("ci", &"x".repeat(256)).is_err());
        assert!(IdempotencyKey::parse("ci", "a\u{7f}").is_err());
    }

    #[test]
    fn a_fingerprint_changes_with_the_body_and_the_path() {
        let a = Fingerprint::of("POST", "/v2/flows", b"{}");
        assert_eq!(a, Fingerprint::of("POST", "/v2/flows", b"{}"));
        assert_ne!(a, Fingerprint::of("POST", "/v2/flows", b"{ }"));
        assert_ne!(a, Fingerprint::of("POST", "/v2/keys", b"{}"));
    }
}
