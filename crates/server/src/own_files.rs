//! Sluice's own files, kept out of every data store's reach: the SQLite state database (by
//! default outside the data folder) with its journals, the flows' scratch folders, and the
//! metadata sources it serves from disk.

use sluice_engine::DataFolder;
use std::path::{Path, PathBuf};

use crate::{Settings, StartError};

/// The suffixes SQLite gives a database's journal files.
const JOURNALS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Where the embedded default kept its state database before it moved out of the data folder.
const OLD_STATE_FILE: &str = "sluice.sqlite";

/// The SQLite file a `sqlite:` URL names; `None` for another database or an in-memory one.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let file = rest.split('?').next().unwrap_or_default();
    (!file.is_empty() && file != ":memory:").then(|| PathBuf::from(file))
}

/// Makes the SQLite state database's folder, and when it is the embedded default's file
/// (`is_default`), first moves there a state database an earlier Sluice left in the data folder.
///
/// # Errors
/// `StartError::Settings` when the folder cannot be made or the old files cannot be moved.
pub fn prepare_state_file(
    state_file: &Path,
    data_root: &Path,
    is_default: bool,
) -> Result<(), StartError> {
    if is_default {
        move_old_state_database(data_root, state_file)?;
    }
    if let Some(parent) = state_file.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| {
            StartError::Settings(format!(
                "creating the state database's folder {}: {e}",
                parent.display()
            ))
        })?;
    }
    Ok(())
}

/// Moves a state database left in the data folder by an earlier Sluice to its own place, once,
/// so that upgrading keeps every data store, flow input and flow.
///
/// # Errors
/// `StartError::Settings` when the files cannot be moved.
fn move_old_state_database(data_root: &Path, state_file: &Path) -> Result<(), StartError> {
    let old = data_root.join(OLD_STATE_FILE);
    if !old.is_file() || state_file.exists() {
        return Ok(());
    }
    let moved = |from: &Path, to: &Path| -> std::io::Result<()> {
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // A rename within a file system, else a copy: the state folder may be another volume.
        std::fs::rename(from, to).or_else(|_| {
            std::fs::copy(from, to)?;
            std::fs::remove_file(from)
        })
    };
    for suffix in std::iter::once("").chain(JOURNALS) {
        let from = with_suffix(&old, suffix);
        if from.exists() {
            moved(&from, &with_suffix(state_file, suffix)).map_err(|e| {
                StartError::Settings(format!(
                    "moving the state database {} to {}: {e}",
                    from.display(),
                    state_file.display()
                ))
            })?;
        }
    }
    tracing::info!(from = %old.display(), to = %state_file.display(), "moved the state database out of the data folder");
    Ok(())
}

/// The data folder with every one of Sluice's own files protected.
///
/// # Errors
/// `StartError::Settings` when the scratch folder is the data folder itself (every flow's
/// scratch files would be store paths), `StartError::DataFolder` when a path cannot be resolved.
pub fn protect(
    folder: DataFolder,
    settings: &Settings,
    state_file: Option<&Path>,
    scratch: &Path,
) -> Result<DataFolder, StartError> {
    let mut own: Vec<PathBuf> = Vec::new();
    if let Some(file) = state_file {
        own.push(file.to_owned());
        own.extend(JOURNALS.iter().map(|suffix| with_suffix(file, suffix)));
    }
    let scratch_inside = std::fs::create_dir_all(scratch)
        .and_then(|()| scratch.canonicalize())
        .is_ok_and(|dir| dir.starts_with(folder.root()));
    if scratch_inside {
        if scratch.canonicalize().is_ok_and(|dir| dir == folder.root()) {
            return Err(StartError::Settings(
                "engine.scratch_dir must not be the data folder itself".into(),
            ));
        }
        own.push(scratch.to_owned());
    }
    // What the metadata endpoints serve: a flow may not rewrite it.
    for url in [
        &settings.archive.url,
        &settings.configuration.url,
        &settings.specification.url,
        &settings.collection_log.url,
    ] {
        if !url.contains("://") {
            own.push(PathBuf::from(url));
        }
    }
    own.extend(settings.datasette.paths());
    // What Sluice learnt of the archive: a flow that rewrote it could make counts lie.
    if let Some(index) = settings.archive.index_dir() {
        std::fs::create_dir_all(index).map_err(|e| {
            StartError::Settings(format!("creating archive.index_dir {index}: {e}"))
        })?;
        own.push(PathBuf::from(index));
    }
    // The key data store passwords are sealed with: no store may read it.
    if !settings.secrets.key_file.is_empty() {
        own.push(PathBuf::from(&settings.secrets.key_file));
    }
    own.into_iter()
        .try_fold(folder, |folder, path| folder.protect(&path))
        .map_err(StartError::DataFolder)
}

fn with_suffix(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file("sqlite://state/sluice.sqlite?mode=rwc"),
            Some(PathBuf::from("state/sluice.sqlite"))
        );
        assert_eq!(
            sqlite_file("sqlite:/abs/x.db"),
            Some(PathBuf::from("/abs/x.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
    }

    #[test]
    fn an_old_state_database_and_its_journals_move_out_of_the_data_folder() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("sluice.sqlite"), "db").unwrap();
        std::fs::write(data.join("sluice.sqlite-wal"), "wal").unwrap();
        let state = dir.path().join("state/sluice.sqlite");
        move_old_state_database(&data, &state).unwrap();
        assert_eq!(std::fs::read_to_string(&state).unwrap(), "db");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("state/sluice.sqlite-wal")).unwrap(),
            "wal"
        );
        assert!(!data.join("sluice.sqlite").exists());
        // A second start leaves both places alone.
        std::fs::write(data.join("sluice.sqlite"), "other").unwrap();
        move_old_state_database(&data, &state).unwrap();
        assert_eq!(std::fs::read_to_string(&state).unwrap(), "db");
    }
}
