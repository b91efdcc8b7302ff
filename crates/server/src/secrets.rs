//! The keys data store passwords are sealed with (`sluice_store::Keyring`): `secrets.key` from
//! the environment (production: Secrets Manager), or on a machine of one's own a key file made on
//! first start beside the state database, readable by its owner only.

use secrecy::ExposeSecret;
use sluice_store::Keyring;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::StartError;
use crate::settings::SecretsSettings;

/// The keyring the settings describe.
///
/// # Errors
/// `StartError::Settings` saying what is missing or malformed (never a key).
pub fn keyring(settings: &SecretsSettings) -> Result<Keyring, StartError> {
    let bad = |why: String| StartError::Settings(format!("secrets: {why}"));
    let key = if settings.key.expose_secret().is_empty() {
        if settings.key_file.is_empty() {
            return Err(bad(
                "set secrets.key (SLUICE__SECRETS__KEY: 32 bytes, base64; `sluice secrets generate-key` makes one)".into(),
            ));
        }
        key_file(Path::new(&settings.key_file)).map_err(bad)?
    } else {
        settings.key.expose_secret().to_owned()
    };
    let current = Keyring::decode_key(&key).map_err(|why| bad(format!("secrets.key: {why}")))?;
    let mut previous = Vec::new();
    for entry in settings
        .previous_keys
        .expose_secret()
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let (id, key) = entry.split_once(':').ok_or_else(|| {
            bad("secrets.previous_keys: write each as id:base64, comma-separated".into())
        })?;
        let key = Keyring::decode_key(key)
            .map_err(|why| bad(format!("secrets.previous_keys, key '{id}': {why}")))?;
        previous.push((id.to_owned(), key));
    }
    Keyring::new((&settings.key_id, &current), &previous).map_err(bad)
}

/// The key kept in `path`, made first when there is none. A new key is written to a file of its
/// own and linked into place, so that processes starting at once agree on one key.
fn key_file(path: &Path) -> Result<String, String> {
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .map(|key| key.trim().to_owned())
            .map_err(|e| format!("reading the key file {}: {e}", path.display()))
    };
    if path.exists() {
        return read(path);
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("making the key file's folder {}: {e}", parent.display()))?;
    }
    let fresh = path.with_extension(format!("new-{}", std::process::id()));
    let key = Keyring::generate_key()?;
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&fresh)
        .and_then(|mut file| {
            file.write_all(key.as_bytes())
                .and_then(|()| file.sync_all())
        });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&fresh);
        return Err(format!("writing the key file {}: {e}", fresh.display()));
    }
    // Fails when another process linked its key first: then that one is the key.
    let linked = std::fs::hard_link(&fresh, path);
    let _ = std::fs::remove_file(&fresh);
    match linked {
        Ok(()) => {
            tracing::info!(key_file = %path.display(), "made a key to seal data store passwords with; keep it with the state database's backups");
            Ok(key)
        }
        Err(_) => read(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn settings(key: &str, file: &Path, previous: &str) -> SecretsSettings {
        SecretsSettings {
            key: SecretString::from(key.to_owned()),
            key_id: "k1".into(),
            previous_keys: SecretString::from(previous.to_owned()),
            key_file: file.display().to_string(),
        }
    }

    #[test]
    fn a_key_file_is_made_once_for_its_owner_only_and_then_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state/secret.key");
        let first = keyring(&settings("", &file, "")).unwrap();
        let sealed = first.seal("pw", "dwh").unwrap();
        let again = keyring(&settings("", &file, "")).unwrap();
        assert_eq!(again.open(&sealed, "dwh").unwrap().into_password(), "pw");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_missing_or_malformed_key_is_refused_without_showing_it() {
        let none = settings("", Path::new(""), "");
        let err = keyring(&SecretsSettings {
            key_file: String::new(),
            ..none
        })
        .err()
        .unwrap();
        assert!(err.to_string().contains("SLUICE__SECRETS__KEY"), "{err}");
        let err = keyring(&settings("not-a-key", Path::new(""), ""))
            .err()
            .unwrap();
        assert!(!err.to_string().contains("not-a-key"), "{err}");
        let key = Keyring::generate_key().unwrap();
        assert!(keyring(&settings(&key, Path::new(""), "k0")).is_err());
        assert!(keyring(&settings(&key, Path::new(""), &format!("k0:{key}"))).is_ok());
    }
}
