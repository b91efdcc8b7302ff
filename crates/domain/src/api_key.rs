//! API keys: who may call the API, and what each key lets its holder do.
//!
//! A key reads `sluice_<lookup>_<secret>`. The lookup part finds the stored key; only the SHA-256
//! of the whole key is stored, and it is compared in constant time. A key is 256 random bits, so a
//! fast hash is enough: nobody can guess one, slowly or quickly (the reason password hashes are
//! slow does not apply).

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// What a key may do. `write` and `run` include `read`; `admin` includes everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Read data stores, flow inputs, flows and the pipeline metadata.
    Read,
    /// Register data stores, create flow inputs, start and cancel flows.
    Write,
    /// Report pipeline runs.
    Run,
    /// Manage API keys.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Write, Scope::Run, Scope::Admin];

    /// # Errors
    /// A message naming the scopes there are.
    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|scope| scope.as_str() == raw)
            .ok_or_else(|| format!("'{raw}' is not a scope: use read, write, run or admin"))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Run => "run",
            Scope::Admin => "admin",
        }
    }

    /// Whether holding `self` allows what `needed` guards: every scope reads; `run` starts and
    /// cancels flows; `write` also registers stores and defines flow inputs, and runs what it
    /// defines; `admin` does everything, keys included.
    pub fn grants(self, needed: Scope) -> bool {
        self == needed
            || self == Scope::Admin
            || needed == Scope::Read
            || (self == Scope::Write && needed == Scope::Run)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scopes of one key: at least one, each once, in a fixed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    /// # Errors
    /// When there is no scope.
    pub fn new(mut scopes: Vec<Scope>) -> Result<Self, String> {
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            return Err("a key needs at least one scope".into());
        }
        Ok(Self(scopes))
    }

    /// `read,write`, as stored.
    ///
    /// # Errors
    /// A message naming the unknown scope.
    pub fn parse_list(raw: &str) -> Result<Self, String> {
        let scopes = raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(Scope::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(scopes)
    }

    pub fn allows(&self, needed: Scope) -> bool {
        self.0.iter().any(|scope| scope.grants(needed))
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }

    pub fn to_list(&self) -> String {
        self.0
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A key's name, unique among keys: 1 to 64 letters, digits, `_`, `-` and `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApiKeyName(String);

impl ApiKeyName {
    /// # Errors
    /// A message saying what is wrong with the name.
    pub fn parse(raw: &str) -> Result<Self, String> {
        crate::names::check_resource_name(raw)?;
        Ok(Self(raw.to_owned()))
    }

    /// The name of a key being made: [`ApiKeyName::parse`]'s rule, starting with a letter (as
    /// store and flow input names do, so that `.` and `..` never name a path), and not
    /// `current`, which `/v2/keys/current` answers for the calling key (a key of that name
    /// could not be revoked over HTTP). Keys made before this rule keep their names.
    ///
    /// # Errors
    /// A message saying what is wrong with the name.
    pub fn new_key(raw: &str) -> Result<Self, String> {
        let name = Self::parse(raw)?;
        if !raw.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err("must start with a letter".into());
        }
        if raw.eq_ignore_ascii_case("current") {
            return Err("may not be 'current', which names the key a request comes with".into());
        }
        Ok(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ApiKeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stored key as the API shows it: never its secret nor its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub name: ApiKeyName,
    pub scopes: Scopes,
    /// The key's first characters (`sluice_3f9a…`), so a person can tell which key they hold.
    pub lookup: String,
    pub created_utc: DateTime<Utc>,
}

/// A key to store: what the repository keeps, the hash in place of the key.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub name: ApiKeyName,
    pub scopes: Scopes,
    pub lookup: String,
    pub hash: KeyHash,
}

/// A stored key with its hash, for checking a presented key.
#[derive(Debug, Clone)]
pub struct StoredApiKey {
    pub key: ApiKey,
    pub hash: KeyHash,
}

/// SHA-256 of a whole key.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    pub fn of(key: &str) -> Self {
        Self(Sha256::digest(key.as_bytes()).into())
    }

    /// # Errors
    /// When `hex` is not 64 hexadecimal digits.
    pub fn from_hex(text: &str) -> Result<Self, String> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes)
            .map_err(|_| "a key hash is 64 hexadecimal digits".to_owned())?;
        Ok(Self(bytes))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Equal in time that does not depend on where the hashes differ.
    pub fn matches(&self, other: &KeyHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHash(…)")
    }
}

const PREFIX: &str = "sluice_";
const LOOKUP_BYTES: usize = 6;
const SECRET_BYTES: usize = 32;

/// A new key: its text, shown once, and what to store.
pub struct IssuedKey {
    pub secret: secrecy::SecretString,
    pub stored: NewApiKey,
}

/// Makes a key from the operating system's random source.
///
/// # Errors
/// When the operating system gives no random bytes.
pub fn issue(name: ApiKeyName, scopes: Scopes) -> Result<IssuedKey, String> {
    let mut lookup = [0u8; LOOKUP_BYTES];
    let mut secret = [0u8; SECRET_BYTES];
    getrandom::fill(&mut lookup).map_err(|e| format!("no random bytes: {e}"))?;
    getrandom::fill(&mut secret).map_err(|e| format!("no random bytes: {e}"))?;
    let lookup = hex::encode(lookup);
    let key = format!("{PREFIX}{lookup}_{}", hex::encode(secret));
    Ok(IssuedKey {
        stored: NewApiKey {
            name,
            scopes,
            lookup,
            hash: KeyHash::of(&key),
        },
        secret: key.into(),
    })
}

/// The lookup part of a presented key; `None` for text that is not shaped like a key.
pub fn lookup_of(presented: &str) -> Option<&str> {
    let rest = presented.strip_prefix(PREFIX)?;
    let (lookup, secret) = rest.split_once('_')?;
    let hex_of =
        |s: &str, bytes: usize| s.len() == 2 * bytes && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex_of(lookup, LOOKUP_BYTES) && hex_of(secret, SECRET_BYTES)).then_some(lookup)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn a_new_key_is_named_from_a_letter_and_never_current() {
        assert!(ApiKeyName::new_key("ci-2026.main").is_ok());
        for refused in [".", "..", "_x", "1st", "current", "Current", "a b", ""] {
            assert!(ApiKeyName::new_key(refused).is_err(), "{refused}");
        }
        // Names kept from before the rule still read.
        assert!(ApiKeyName::parse("current").is_ok());
    }

    #[test]
    fn write_and_run_include_read_and_admin_includes_everything() {
        let write = Scopes::new(vec![Scope::Write]).unwrap();
        assert!(write.allows(Scope::Read) && write.allows(Scope::Write));
        assert!(write.allows(Scope::Run), "who defines an input may run it");
        assert!(!write.allows(Scope::Admin));
        let run = Scopes::new(vec![Scope::Run]).unwrap();
        assert!(run.allows(Scope::Read) && run.allows(Scope::Run));
        assert!(!run.allows(Scope::Write) && !run.allows(Scope::Admin));
        let read = Scopes::new(vec![Scope::Read]).unwrap();
        assert!(!read.allows(Scope::Write));
        let admin = Scopes::new(vec![Scope::Admin]).unwrap();
        assert!(Scope::ALL.into_iter().all(|s| admin.allows(s)));
    }

    #[test]
    fn scopes_parse_from_their_stored_list_and_name_an_unknown_one() {
        let scopes = Scopes::parse_list("write, read,write").unwrap();
        assert_eq!(scopes.to_list(), "read,write");
        assert!(
            Scopes::parse_list("read,root")
                .unwrap_err()
                .contains("'root'")
        );
        assert!(Scopes::parse_list("").is_err());
    }

    #[test]
    fn an_issued_key_is_found_by_its_lookup_and_matches_only_its_own_hash() {
        let issued = issue(
            ApiKeyName::parse("ci").unwrap(),
            Scopes::new(vec![Scope::Write]).unwrap(),
        )
        .unwrap();
        let text = issued.secret.expose_secret();
        assert_eq!(lookup_of(text), Some(issued.stored.lookup.as_str()));
        assert!(KeyHash::of(text).matches(&issued.stored.hash));
        let mut other = text.to_owned();
        other.pop();
        other.push(if text.ends_with('0') { '1' } else { '0' });
        assert!(!KeyHash::of(&other).matches(&issued.stored.hash));
        let hash = &issued.stored.hash;
        assert!(KeyHash::from_hex(&hash.to_hex()).unwrap().matches(hash));
    }

    #[test]
    fn text_not_shaped_like_a_key_has_no_lookup() {
        for bad in [
            "",
            "sluice_",
            "sluice_abc_def",
            "Bearer x",
            "sluice_0123456789ab_zz",
        ] {
            assert_eq!(lookup_of(bad), None, "{bad}");
        }
    }
}
