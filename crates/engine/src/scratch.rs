//! Each flow's scratch folder, `sluice-flow-<pid>-<random>` in the scratch directory: removed when
//! the flow ends, and, when its process was killed first, by the next Sluice process on the
//! machine that finds the owner gone.

use std::path::Path;
use tempfile::TempDir;

use crate::{Error, Result};

/// What every scratch folder's name starts with.
pub const PREFIX: &str = "sluice-flow-";

/// How often, half a second apart, a scratch folder that could not be removed at once is tried
/// again: a minute, as long as a stopping flow's runtime waits for its tasks.
const REMOVAL_TRIES: u32 = 120;

/// One flow's scratch folder, removed when dropped. A spill write handed to a blocking thread
/// goes on after its flow is cancelled and may add a file while the folder is being removed, which
/// then fails (not empty): the removal is tried again on a thread of its own until it holds.
pub struct Scratch(Option<TempDir>);

impl Scratch {
    pub fn path(&self) -> &Path {
        self.0
            .as_ref()
            .expect("the folder is only taken by drop")
            .path()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let Some(folder) = self.0.take() else {
            return;
        };
        let path = folder.keep();
        let removed = |path: &Path| std::fs::remove_dir_all(path).is_ok() || !path.exists();
        if removed(&path) {
            return;
        }
        std::thread::spawn(move || {
            for _ in 0..REMOVAL_TRIES {
                std::thread::sleep(std::time::Duration::from_millis(500));
                if removed(&path) {
                    return;
                }
            }
            tracing::warn!(folder = %path.display(), "a flow's scratch folder could not be removed");
        });
    }
}

/// A new scratch folder for one flow of this process, removed when dropped.
///
/// # Errors
/// `Io` when the folder cannot be made.
pub fn create(dir: &Path) -> Result<Scratch> {
    std::fs::create_dir_all(dir)
        .and_then(|()| {
            tempfile::Builder::new()
                .prefix(&format!("{PREFIX}{}-", std::process::id()))
                .tempdir_in(dir)
        })
        .map(|folder| Scratch(Some(folder)))
        .map_err(|e| Error::io(format!("creating a scratch folder in {}", dir.display()), e))
}

/// Removes the scratch folders whose process no longer runs; returns how many.
pub fn sweep_abandoned(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            let owner = name
                .to_str()
                .and_then(|n| n.strip_prefix(PREFIX))
                .and_then(|rest| rest.split('-').next())
                .and_then(|pid| pid.parse::<u32>().ok());
            owner.is_some_and(|pid| !runs(pid)) && std::fs::remove_dir_all(entry.path()).is_ok()
        })
        .count()
}

/// Whether process `pid` runs on this machine; `true` where that cannot be told (no /proc), so
/// that nothing is removed on a guess.
fn runs(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_of_processes_that_are_gone_are_swept_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let own = create(dir.path()).unwrap();
        // Far above any pid the kernel hands out (pid_max is at most 2^22).
        let gone = dir.path().join(format!("{PREFIX}4000000000-abc"));
        let other = dir.path().join("not-a-flow-folder");
        std::fs::create_dir_all(gone.join("part")).unwrap();
        std::fs::create_dir_all(&other).unwrap();

        assert_eq!(sweep_abandoned(dir.path()), 1);
        assert!(!gone.exists());
        assert!(own.path().exists());
        assert!(other.exists());
    }
}
