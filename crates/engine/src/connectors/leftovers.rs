//! What a killed process left staged in a file or columnar target: hidden files, folders and
//! objects named `.<name>.sluice-<flow>-<unique>`, found by the flow's id once the flow is settled
//! and removed. (Database targets find their staging tables the same way, by their prefix.)

use object_store::ObjectStoreExt;
use object_store::path::Path as Key;
use sluice_domain::flow::FlowId;
use std::path::Path;

use crate::location::{Location, S3Location};
use crate::{Error, Result};

/// The part of a staged name that says which flow staged it.
fn flow_mark(flow: FlowId) -> String {
    format!(".sluice-{}-", flow.0)
}

/// Whether `name` is something `flow` staged, beside `final_name` when that is given.
fn staged_by(name: &str, flow: FlowId, final_name: Option<&str>) -> bool {
    let Some(rest) = name.strip_prefix('.') else {
        return false;
    };
    match final_name {
        Some(final_name) => rest
            .strip_prefix(final_name)
            .is_some_and(|rest| rest.starts_with(&flow_mark(flow))),
        None => rest.contains(&flow_mark(flow)),
    }
}

/// The flow that staged `name`, when it is a staged name (`.<name>.sluice-<flow>-…`).
pub fn staging_flow(name: &str) -> Option<FlowId> {
    let rest = name.strip_prefix('.')?;
    let (_, after) = rest.split_once(".sluice-")?;
    let (digits, _) = after.split_once('-')?;
    digits.parse().ok().map(FlowId)
}

/// How deep below the data folder staged entries are looked for: targets are folders of tables.
const MAX_DEPTH: usize = 16;

/// Every staged file and folder under `root`, with the flow that staged it. Staged folders are
/// not entered, links not followed.
pub fn staged_under(root: &Path) -> Vec<(std::path::PathBuf, FlowId)> {
    let mut found = Vec::new();
    let mut folders = vec![(root.to_owned(), 0)];
    while let Some((folder, depth)) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if let Some(flow) = staging_flow(&name.to_string_lossy()) {
                if !kind.is_symlink() {
                    found.push((entry.path(), flow));
                }
            } else if kind.is_dir() && depth < MAX_DEPTH {
                folders.push((entry.path(), depth + 1));
            }
        }
    }
    found
}

/// Removes what `flow` staged in `folder` (beside `final_name`, or beside any table).
///
/// # Errors
/// `Io` when the folder cannot be read or an entry removed.
pub fn discard_in_folder(folder: &Path, flow: FlowId, final_name: Option<&str>) -> Result<()> {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(format!("listing {}", folder.display()), e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", folder.display()), e))?;
        if !staged_by(&entry.file_name().to_string_lossy(), flow, final_name) {
            continue;
        }
        let path = entry.path();
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
        tracing::info!(path = %path.display(), flow = flow.0, "removed what a stopped flow staged");
    }
    Ok(())
}

/// Removes the objects `flow` staged under `prefix` (beside `final_name`, or beside any table),
/// hidden objects and every object under hidden prefixes alike.
///
/// # Errors
/// `Location` when the bucket cannot be listed or an object deleted.
pub async fn discard_under(
    prefix: &S3Location,
    flow: FlowId,
    final_name: Option<&str>,
) -> Result<()> {
    let folder = (!prefix.key.is_empty()).then(|| Key::from(prefix.key.as_str()));
    let listing = prefix
        .store
        .list_with_delimiter(folder.as_ref())
        .await
        .map_err(|e| prefix.failed("listing", e))?;
    let mut doomed: Vec<Key> = listing
        .objects
        .into_iter()
        .map(|object| object.location)
        .filter(|key| {
            key.filename()
                .is_some_and(|name| staged_by(name, flow, final_name))
        })
        .collect();
    for staged in listing.common_prefixes {
        if !staged
            .filename()
            .is_some_and(|name| staged_by(name, flow, final_name))
        {
            continue;
        }
        let mut objects = prefix.store.list(Some(&staged));
        while let Some(object) = futures::TryStreamExt::try_next(&mut objects)
            .await
            .map_err(|e| prefix.failed("listing", e))?
        {
            doomed.push(object.location);
        }
    }
    for key in doomed {
        prefix
            .store
            .delete(&key)
            .await
            .map_err(|e| prefix.failed("deleting", e))?;
        tracing::info!(key = %key, flow = flow.0, "removed what a stopped flow staged");
    }
    Ok(())
}

/// Removes what `flow` staged for the file at `location`.
///
/// # Errors
/// As [`discard_in_folder`] and [`discard_under`].
pub async fn discard_beside_file(location: &Location, flow: FlowId) -> Result<()> {
    match location {
        Location::Local(path) => {
            let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
                return Ok(());
            };
            discard_in_folder(parent, flow, Some(&name.to_string_lossy()))
        }
        Location::S3(s3) => {
            let (parent, name) = s3.key.rsplit_once('/').unwrap_or(("", &s3.key));
            let parent = S3Location {
                key: parent.to_owned(),
                ..s3.clone()
            };
            discard_under(&parent, flow, Some(name)).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_staged_name_says_its_flow() {
        assert_eq!(staging_flow(".orders.sluice-7-abc"), Some(FlowId(7)));
        assert_eq!(staging_flow(".orders.sluice-12-abc.old"), Some(FlowId(12)));
        assert_eq!(staging_flow(".orders"), None);
        assert_eq!(staging_flow("orders.sluice-7-abc"), None);
        assert_eq!(staging_flow(".orders.sluice-x-abc"), None);
    }

    #[test]
    fn staged_entries_are_found_below_the_root_and_nothing_else() {
        let root = tempfile::tempdir().unwrap();
        let lake = root.path().join("lake");
        std::fs::create_dir_all(lake.join(".t.sluice-3-x/inner")).unwrap();
        std::fs::write(lake.join(".u.sluice-4-y"), "").unwrap();
        std::fs::write(lake.join(".keep"), "").unwrap();
        std::fs::write(root.path().join("t.csv"), "").unwrap();
        let mut found = staged_under(root.path());
        found.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            found,
            [
                (lake.join(".t.sluice-3-x"), FlowId(3)),
                (lake.join(".u.sluice-4-y"), FlowId(4))
            ]
        );
    }

    #[test]
    fn only_the_flow_s_own_staged_names_are_taken() {
        let flow = FlowId(7);
        assert!(staged_by(".orders.sluice-7-abc", flow, None));
        assert!(staged_by(".orders.sluice-7-abc.old", flow, Some("orders")));
        assert!(!staged_by(".orders.sluice-77-abc", flow, None));
        assert!(!staged_by(".orders.sluice-7-abc", flow, Some("order")));
        assert!(!staged_by("orders.sluice-7-abc", flow, None));
        assert!(!staged_by(".orders", flow, None));
    }
}
