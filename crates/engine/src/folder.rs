//! The data folder: the one place on disk that data stores may use.

use sluice_domain::data_store::DataPath;
use sluice_domain::ports::LocationPolicy;
use std::path::{Component, Path, PathBuf};

use crate::{Error, Result};

/// Resolves data-store paths under one root, refusing any that would leave it through `..`, an
/// absolute path elsewhere or a symlink that points outside.
#[derive(Debug, Clone)]
pub struct DataFolder {
    root: PathBuf,
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
        Ok(Self { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
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

        let mut existing = joined.clone();
        let mut missing = Vec::new();
        while !existing.exists() {
            match (
                existing.file_name().map(ToOwned::to_owned),
                existing.parent(),
            ) {
                (Some(name), Some(parent)) => {
                    missing.push(name);
                    existing = parent.to_path_buf();
                }
                _ => return Err(outside()),
            }
        }
        let mut resolved = existing
            .canonicalize()
            .map_err(|e| Error::io(format!("resolving '{}'", path.as_str()), e))?;
        for name in missing.into_iter().rev() {
            resolved.push(name);
        }
        let escapes = resolved
            .components()
            .any(|c| matches!(c, Component::ParentDir));
        if escapes || !resolved.starts_with(&self.root) || resolved == self.root {
            return Err(outside());
        }
        Ok(resolved)
    }
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
