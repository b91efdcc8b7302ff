//! Data store passwords at rest: sealed with AES-256-GCM before they reach the state database,
//! so a dump or a backup of it shows none. A sealed value names the key that sealed it, so keys
//! can rotate: a process knows the current key (what it seals with) and any previous ones (what
//! it can still open), and `sluice secrets rotate` seals every password again under the current.
//!
//! Stored form: `sluice-sealed:v1:<key id>:<base64 of nonce (12 bytes) and ciphertext>`. The
//! store's name is the associated data, so a sealed password moved to another store's row does
//! not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

const PREFIX: &str = "sluice-sealed:v1:";
const NONCE_LEN: usize = 12;

/// The bytes of an AES-256 key.
pub const KEY_LEN: usize = 32;

struct SealingKey {
    id: String,
    cipher: Aes256Gcm,
}

impl SealingKey {
    fn new(id: &str, key: &[u8; KEY_LEN]) -> Result<Self, String> {
        let valid = !id.is_empty()
            && id.len() <= 32
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(format!(
                "key id '{id}' must be 1 to 32 letters, digits, '-' and '_'"
            ));
        }
        Ok(Self {
            id: id.to_owned(),
            cipher: Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key)),
        })
    }
}

/// The keys a process seals and opens passwords with.
pub struct Keyring {
    current: SealingKey,
    previous: Vec<SealingKey>,
}

/// What opening a stored password found.
#[derive(Debug, PartialEq, Eq)]
pub enum Opened {
    /// Sealed under the current key.
    Current(String),
    /// Sealed under a previous key, or stored before passwords were sealed: to seal again.
    Stale(String),
}

impl Opened {
    pub fn into_password(self) -> String {
        match self {
            Self::Current(password) | Self::Stale(password) => password,
        }
    }
}

impl Keyring {
    /// # Errors
    /// A message naming a malformed or repeated key id.
    pub fn new(
        current: (&str, &[u8; KEY_LEN]),
        previous: &[(String, [u8; KEY_LEN])],
    ) -> Result<Self, String> {
        let current = SealingKey::new(current.0, current.1)?;
        let mut ids = vec![current.id.clone()];
        let mut keys = Vec::new();
        for (id, key) in previous {
            if ids.contains(id) {
                return Err(format!("key id '{id}' is given twice"));
            }
            ids.push(id.clone());
            keys.push(SealingKey::new(id, key)?);
        }
        Ok(Self {
            current,
            previous: keys,
        })
    }

    /// Decodes a key written as base64 (what `secrets.key` holds).
    ///
    /// # Errors
    /// A message saying what is wrong with it, never the key itself.
    pub fn decode_key(base64: &str) -> Result<[u8; KEY_LEN], String> {
        let bytes = STANDARD
            .decode(base64.trim())
            .map_err(|_| "a key must be base64".to_owned())?;
        bytes
            .try_into()
            .map_err(|_| format!("a key must be {KEY_LEN} bytes (44 characters of base64)"))
    }

    /// A new random key, as base64.
    ///
    /// # Errors
    /// When the system's random source fails.
    pub fn generate_key() -> Result<String, String> {
        let mut key = [0_u8; KEY_LEN];
        getrandom::fill(&mut key).map_err(|e| format!("no random bytes: {e}"))?;
        Ok(STANDARD.encode(key))
    }

    /// Seals `password` for the store named `store`.
    ///
    /// # Errors
    /// When the system's random source fails.
    pub fn seal(&self, password: &str, store: &str) -> Result<String, String> {
        let mut nonce = [0_u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| format!("no random bytes: {e}"))?;
        let sealed = self
            .current
            .cipher
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: password.as_bytes(),
                    aad: aad(store).as_bytes(),
                },
            )
            .map_err(|_| "sealing failed".to_owned())?;
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        Ok(format!(
            "{PREFIX}{}:{}",
            self.current.id,
            STANDARD.encode(bytes)
        ))
    }

    /// Opens what the state database holds for the store named `store`. A value without the
    /// sealed prefix was stored before passwords were sealed, and is the password itself.
    ///
    /// # Errors
    /// A message for a value sealed under a key this process does not have, or that does not
    /// open (altered, or moved from another store).
    pub fn open(&self, stored: &str, store: &str) -> Result<Opened, String> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(Opened::Stale(stored.to_owned()));
        };
        let (id, encoded) = rest
            .split_once(':')
            .ok_or_else(|| "a sealed password is malformed".to_owned())?;
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
            .ok_or_else(|| {
                format!(
                    "the password was sealed under key '{id}', which this process does not have \
                     (secrets.key or secrets.previous_keys)"
                )
            })?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| "a sealed password is malformed".to_owned())?;
        if bytes.len() < NONCE_LEN {
            return Err("a sealed password is malformed".into());
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().unwrap_or([0; NONCE_LEN]);
        let password = key
            .cipher
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: sealed,
                    aad: aad(store).as_bytes(),
                },
            )
            .map_err(|_| format!("the password sealed under key '{id}' does not open"))?;
        let password =
            String::from_utf8(password).map_err(|_| "a sealed password is not text".to_owned())?;
        Ok(if key.id == self.current.id {
            Opened::Current(password)
        } else {
            Opened::Stale(password)
        })
    }
}

fn aad(store: &str) -> String {
    format!("sluice data store {store}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring(current: u8, previous: &[(&str, u8)]) -> Keyring {
        let previous: Vec<(String, [u8; KEY_LEN])> = previous
            .iter()
            .map(|(id, b)| ((*id).to_owned(), [*b; KEY_LEN]))
            .collect();
        Keyring::new((&format!("k{current}"), &[current; KEY_LEN]), &previous).unwrap()
    }

    #[test]
    fn a_sealed_password_opens_under_its_key_for_its_store_only() {
        let k1 = keyring(1, &[]);
        let sealed = k1.seal("s3cret", "dwh").unwrap();
        assert!(sealed.starts_with("sluice-sealed:v1:k1:"), "{sealed}");
        assert!(!sealed.contains("s3cret"));
        assert_ne!(
            sealed,
            k1.seal("s3cret", "dwh").unwrap(),
            "a fresh nonce each time"
        );
        assert_eq!(
            k1.open(&sealed, "dwh").unwrap(),
            Opened::Current("s3cret".into())
        );
        assert!(k1.open(&sealed, "other").is_err(), "bound to its store");
        let k2 = keyring(2, &[]);
        assert!(k2.open(&sealed, "dwh").unwrap_err().contains("key 'k1'"));
        let rotated = keyring(2, &[("k1", 1)]);
        assert_eq!(
            rotated.open(&sealed, "dwh").unwrap(),
            Opened::Stale("s3cret".into())
        );
        let mut altered = sealed.clone();
        altered.pop();
        altered.push('A');
        assert!(k1.open(&altered, "dwh").is_err());
    }

    #[test]
    fn a_password_stored_before_sealing_reads_as_stale() {
        assert_eq!(
            keyring(1, &[]).open("plain", "dwh").unwrap(),
            Opened::Stale("plain".into())
        );
    }

    #[test]
    fn keys_and_ids_are_checked() {
        assert!(Keyring::decode_key("c2hvcnQ=").is_err());
        let key = Keyring::generate_key().unwrap();
        assert_eq!(Keyring::decode_key(&key).unwrap().len(), KEY_LEN);
        assert!(Keyring::new(("bad:id", &[0; KEY_LEN]), &[]).is_err());
        assert!(Keyring::new(("k1", &[0; KEY_LEN]), &[("k1".into(), [1; KEY_LEN])]).is_err());
    }
}
