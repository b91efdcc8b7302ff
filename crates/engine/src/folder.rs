//! The data folder: the one place on disk that data stores may use.

use sluice_domain::data_store::DataPath;
use sluice_domain::ports::LocationPolicy;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use crate::{Error, Result};

/// Resolves data-store paths under one root, refusing any that would leave it through `..`, an
/// absolute path elsewhere or a symlink that points outside, and any that reaches Sluice's own
/// files (see [`DataFolder::protect`]).
#[derive(Debug, Clone)]
pub struct DataFolder {
    root: PathBuf,
    protected: Vec<Protected>,
}

/// A file or folder of Sluice's own that no store may read, write or contain: the state database
/// and its journals, the scratch folder. Kept both as a canonical path (every spelling and
/// symlink of it resolves to that) and, when it exists, as the file's identity (a hard link has
/// another path but the same device and inode).
#[derive(Debug, Clone)]
struct Protected {
    path: PathBuf,
    identity: Option<(u64, u64)>,
}

impl DataFolder {
    /// Creates the folder if needed.
    ///
    /// # Errors
    /// `Io` when the folder cannot be created or read.
    pub fn new(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref();
        std::fs::create_dir_all(root)
            .map_err(|e| Error::io(format!("creating the data folder {}", root.display()), e))?;
        let root = root
            .canonicalize()
            .map_err(|e| Error::io(format!("reading the data folder {}", root.display()), e))?;
        Ok(Self {
            root,
            protected: Vec::new(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Refuses, from now on, any store path that is `path`, lies inside it, or contains it. Given
    /// for each of Sluice's own files and folders before the first request is served; a path
    /// that does not exist yet is protected by name and by every spelling of it.
    ///
    /// # Errors
    /// `Io` when a part of `path` that exists cannot be read.
    pub fn protect(mut self, path: &Path) -> Result<Self> {
        // Relative to the working directory, as Sluice opens it.
        let path = std::path::absolute(path)
            .and_then(|absolute| canonical(&absolute))
            .map_err(|e| Error::io(format!("resolving {}", path.display()), e))?;
        let identity = std::fs::metadata(&path)
            .ok()
            .map(|meta| (meta.dev(), meta.ino()));
        self.protected.push(Protected { path, identity });
        Ok(self)
    }

    /// Whether `resolved` (canonical as far as it exists) touches one of Sluice's own files.
    fn is_protected(&self, resolved: &Path) -> bool {
        let identity = std::fs::metadata(resolved)
            .ok()
            .map(|meta| (meta.dev(), meta.ino()));
        self.protected.iter().any(|own| {
            resolved.starts_with(&own.path)
                || own.path.starts_with(resolved)
                || (identity.is_some() && identity == own.identity)
        })
    }

    /// The absolute path a data path stands for. Symlinks are followed as far as the path exists,
    /// so a link placed after the store was registered is caught here too.
    ///
    /// # Errors
    /// `Location` when the path leaves the data folder.
    pub fn resolve(&self, path: &DataPath) -> Result<PathBuf> {
        let outside = || Error::Location(format!("'{}' is outside the data folder", path.as_str()));
        let raw = Path::new(path.as_str());
        let joined = if raw.is_absolute() {
            raw.to_path_buf()
        } else {
            self.root.join(raw)
        };
        let resolved = canonical(&joined).map_err(|_| outside())?;
        let escapes = resolved
            .components()
            .any(|c| matches!(c, Component::ParentDir));
        if escapes || !resolved.starts_with(&self.root) || resolved == self.root {
            return Err(outside());
        }
        if self.is_protected(&resolved) {
            // Said without naming the file: which of Sluice's files lie where is not a caller's
            // business.
            return Err(Error::Location(format!(
                "'{}' is one of Sluice's own files, which no data store may use",
                path.as_str()
            )));
        }
        Ok(resolved)
    }
}

/// `path` with every symlink followed and `.` removed as far as it exists, the missing rest
/// appended as written. Paths are bounded ([`DataPath::parse`]), so the walk up is short.
fn canonical(path: &Path) -> std::io::Result<PathBuf> {
    let mut existing = path.to_path_buf();
    let mut missing = Vec::new();
    while !existing.exists() {
        if existing.symlink_metadata().is_ok() {
            // A link to nothing: whatever is made through it would land wherever it points.
            return Err(std::io::ErrorKind::NotFound.into());
        }
        match (
            existing.file_name().map(ToOwned::to_owned),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                missing.push(name);
                existing = parent.to_path_buf();
            }
            _ => return Err(std::io::ErrorKind::NotFound.into()),
        }
    }
    let mut resolved = existing.canonicalize()?;
    for name in missing.into_iter().rev() {
        resolved.push(name);
    }
    Ok(resolved)
}

impl LocationPolicy for DataFolder {
    fn check(&self, path: &DataPath) -> std::result::Result<(), String> {
        self.resolve(path)
            .map(|_| ())
            .map_err(|err| err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(raw: &str) -> DataPath {
        DataPath::parse(raw).unwrap()
    }

    #[test]
    fn paths_inside_resolve_under_the_root_even_when_missing() {
        let dir = tempfile::tempdir().unwrap();
        let folder = DataFolder::new(dir.path()).unwrap();
        let resolved = folder.resolve(&path("new/sub/out.csv")).unwrap();
        assert_eq!(resolved, folder.root().join("new/sub/out.csv"));
        let absolute_inside = folder.root().join("a.csv");
        assert!(
            folder
                .resolve(&path(absolute_inside.to_str().unwrap()))
                .is_ok()
        );
    }

    #[test]
    fn absolute_paths_elsewhere_and_the_root_itself_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let folder = DataFolder::new(dir.path().join("data")).unwrap();
        assert!(folder.resolve(&path("/etc/passwd")).is_err());
        assert!(
            folder
                .resolve(&path(dir.path().join("other.csv").to_str().unwrap()))
                .is_err()
        );
        assert!(folder.resolve(&path(".")).is_err());
    }

    #[test]
    fn sluices_own_files_are_refused_by_any_spelling_or_link() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        std::fs::create_dir_all(root.join("state")).unwrap();
        let database = root.join("state/sluice.sqlite");
        std::fs::write(&database, "state").unwrap();
        let folder = DataFolder::new(&root)
            .unwrap()
            .protect(&database)
            .unwrap()
            .protect(&root.join("state/sluice.sqlite-wal"))
            .unwrap()
            .protect(&root.join("scratch"))
            .unwrap();
        std::os::unix::fs::symlink(&database, folder.root().join("link.sqlite")).unwrap();
        std::fs::hard_link(&database, folder.root().join("hard.sqlite")).unwrap();
        let absolute = folder.root().join("state/sluice.sqlite");
        for refused in [
            "state/sluice.sqlite",
            "./state//sluice.sqlite",
            absolute.to_str().unwrap(),
            "state/./sluice.sqlite-wal",
            "link.sqlite",
            "hard.sqlite",
            "state",
            "scratch/sluice-flow-1/x.arrow",
            "scratch",
        ] {
            let refused_path = path(refused);
            let err = folder.resolve(&refused_path).unwrap_err().to_string();
            assert!(err.contains("Sluice's own files"), "{refused}: {err}");
        }
        assert!(folder.resolve(&path("state-other/sluice.sqlite")).is_ok());
        // A file not there yet, named relative to the working directory, is protected too.
        let folder = folder.protect(Path::new("nowhere/yet/x.sqlite")).unwrap();
        assert!(folder.resolve(&path("state-other/sluice.sqlite")).is_ok());
        assert!(folder.resolve(&path("sluice.sqlite")).is_ok());
    }

    #[test]
    fn a_symlink_out_of_the_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let folder = DataFolder::new(dir.path().join("data")).unwrap();
        std::fs::write(dir.path().join("secret.txt"), "x").unwrap();
        std::os::unix::fs::symlink(dir.path(), folder.root().join("out")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), folder.root().join("s.csv"))
            .unwrap();
        assert!(folder.resolve(&path("out/secret.txt")).is_err());
        assert!(folder.resolve(&path("s.csv")).is_err());
        assert!(folder.resolve(&path("out/new.csv")).is_err());
    }
}
