//! What Sluice has learnt of an archive's files (each file's row count from its footer, each
//! partition's summary), kept in a file on local disk so that a restarted process answers its
//! first queries without reading every footer and scanning every partition again.
//!
//! Entries are keyed as they are in memory: a row count by its file's path, size and last change,
//! a summary by its partition's fingerprint. An entry whose files changed while the process was
//! down never matches again, and what it stood for is learnt anew when a query needs it; so the
//! file can be stale, never wrong. It is written whole (to a temporary name, then renamed, so a
//! crash leaves the old one or the new one) a few seconds after something new was learnt, and
//! read once when the archive is opened. One that cannot be read is ignored with a warning.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::issue_partitions::{FileVersion, PartitionCounts};
use crate::issue_summary::{Group, SummaryIndex};

/// How often the index is checked for something new to write.
const SAVE_INTERVAL: Duration = Duration::from_secs(2);

/// A file larger than this is not read: Sluice never writes one (a 10M-row archive's is a few
/// megabytes), so it is not Sluice's.
const MAX_FILE_BYTES: u64 = 512 << 20;

/// Bumped when the layout changes: a file of another layout is ignored.
const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Stored {
    format: u32,
    /// The archive's URL, so that a file is never read for another archive.
    archive: String,
    footers: Vec<StoredFooter>,
    summaries: Vec<StoredSummary>,
}

#[derive(Serialize, Deserialize)]
struct StoredFooter {
    path: String,
    size: u64,
    modified: i64,
    rows: u64,
}

#[derive(Serialize, Deserialize)]
struct StoredSummary {
    dataset: String,
    resource: String,
    fingerprint: u64,
    groups: Vec<Group>,
}

/// Where an archive's index is kept.
pub(crate) struct IndexFile {
    path: PathBuf,
    archive: String,
}

impl IndexFile {
    /// The index of the archive at `archive` (its URL) in `folder`, named by a hash of the URL.
    pub(crate) fn new(folder: &Path, archive: &str) -> Self {
        let name = hex::encode(&Sha256::digest(archive.as_bytes())[..8]);
        Self {
            path: folder.join(format!("archive-{name}.json")),
            archive: archive.to_owned(),
        }
    }

    /// Fills `counts` and `summaries` with what the file holds, if it holds anything usable.
    pub(crate) fn load(&self, counts: Option<&PartitionCounts>, summaries: &SummaryIndex) {
        let stored = match self.read() {
            Ok(Some(stored)) => stored,
            Ok(None) => return,
            Err(reason) => {
                tracing::warn!(file = %self.path.display(), %reason, "the archive index was not read; it is made again as queries need it");
                return;
            }
        };
        if let Some(counts) = counts {
            counts.learn_footers(stored.footers.into_iter().map(|f| {
                (
                    FileVersion {
                        path: f.path.into(),
                        size: f.size,
                        modified: f.modified,
                    },
                    f.rows,
                )
            }));
        }
        summaries.learn(
            stored
                .summaries
                .into_iter()
                .map(|s| (s.dataset, s.resource, s.fingerprint, Arc::new(s.groups))),
        );
        tracing::info!(file = %self.path.display(), "archive index read");
    }

    fn read(&self) -> Result<Option<Stored>, String> {
        let file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let size = file.metadata().map_err(|e| e.to_string())?.len();
        if size > MAX_FILE_BYTES {
            return Err(format!("{size} bytes is larger than an index can be"));
        }
        let stored: Stored =
            serde_json::from_reader(std::io::BufReader::new(file)).map_err(|e| e.to_string())?;
        if stored.format != FORMAT || stored.archive != self.archive {
            return Err("written for another archive or by another version of Sluice".into());
        }
        Ok(Some(stored))
    }

    /// Writes the index whenever `counts` or `summaries` learnt something since it was last
    /// written, until both are dropped (the archive closed).
    pub(crate) fn keep(
        self,
        counts: Option<Weak<PartitionCounts>>,
        summaries: Weak<SummaryIndex>,
    ) -> tokio::task::JoinHandle<()> {
        let this = Arc::new(self);
        tokio::spawn(async move {
            let mut written = (0, 0);
            let mut ticks = tokio::time::interval(SAVE_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(summaries) = summaries.upgrade() else {
                    return;
                };
                let counts = counts.as_ref().and_then(Weak::upgrade);
                let learnt = (
                    counts.as_ref().map_or(0, |c| c.learnt()),
                    summaries.learnt(),
                );
                if learnt == written {
                    continue;
                }
                let stored = this.snapshot(counts.as_deref(), &summaries);
                drop((counts, summaries));
                let file = this.clone();
                let saved = tokio::task::spawn_blocking(move || file.write(&stored)).await;
                match saved {
                    Ok(Ok(())) => written = learnt,
                    Ok(Err(e)) => {
                        tracing::warn!(file = %this.path.display(), error = %e, "the archive index could not be written");
                    }
                    Err(e) => tracing::warn!(error = %e, "writing the archive index stopped"),
                }
            }
        })
    }

    fn snapshot(&self, counts: Option<&PartitionCounts>, summaries: &SummaryIndex) -> Stored {
        let footers = counts
            .map(|c| {
                c.known_footers()
                    .into_iter()
                    .map(|(file, rows)| StoredFooter {
                        path: file.path.to_string(),
                        size: file.size,
                        modified: file.modified,
                        rows,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let summaries = summaries
            .known()
            .into_iter()
            .map(|(dataset, resource, fingerprint, groups)| StoredSummary {
                dataset,
                resource,
                fingerprint,
                groups: groups.as_ref().clone(),
            })
            .collect();
        Stored {
            format: FORMAT,
            archive: self.archive.clone(),
            footers,
            summaries,
        }
    }

    fn write(&self, stored: &Stored) -> std::io::Result<()> {
        if let Some(folder) = self.path.parent() {
            std::fs::create_dir_all(folder)?;
        }
        // Named by process: two processes sharing the folder never write into one file.
        let temporary = self
            .path
            .with_extension(format!("json.{}.partial", std::process::id()));
        let file = std::fs::File::create(&temporary)?;
        let mut writer = std::io::BufWriter::new(file);
        serde_json::to_writer(&mut writer, stored)?;
        let file = writer
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)?;
        file.sync_all()?;
        std::fs::rename(&temporary, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_archive::write_issues;
    use crate::{ArchiveSettings, ParquetArchive};
    use sluice_domain::metadata::{IssueCountQuery, IssueFilters, IssueLog};
    use sluice_domain::page::Page;

    async fn open(archive: &Path, index: &Path) -> ParquetArchive {
        let mut settings = ArchiveSettings::at(archive.to_string_lossy());
        settings.index_dir = Some(index.to_owned());
        ParquetArchive::open(settings).await.unwrap()
    }

    async fn counts_by_field(archive: &ParquetArchive) -> Vec<(Option<String>, u64)> {
        let query =
            IssueCountQuery::parse("field", IssueFilters::default(), Page::default()).unwrap();
        let mut counts: Vec<_> = archive
            .issue_counts(&query)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|c| (c.key[0].1.clone(), c.count))
            .collect();
        counts.sort();
        counts
    }

    #[tokio::test]
    async fn a_restart_knows_what_the_process_before_learnt_and_trusts_none_of_it_for_changed_files()
     {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("archive");
        let index = dir.path().join("index");
        let log = root.join("log/issue/dataset=d");
        write_issues(&log.join("resource=r1"), &["a", "a", "b"]);
        write_issues(&log.join("resource=r2"), &["b", "c"]);

        let first = open(&root, &index).await;
        let counted = counts_by_field(&first).await;
        assert_eq!(
            counted,
            [
                (Some("a".into()), 2),
                (Some("b".into()), 2),
                (Some("c".into()), 1)
            ]
        );
        let started = std::time::Instant::now();
        while IndexFile::new(&index, &first.url_of(""))
            .read()
            .ok()
            .flatten()
            .is_none_or(|s| s.footers.len() < 2 || s.summaries.len() < 2)
        {
            assert!(started.elapsed() < Duration::from_secs(10), "never written");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        drop(first);

        let second = open(&root, &index).await;
        assert_eq!(second.summary_index().known().len(), 2, "read at open");
        assert_eq!(second.partition_counts().unwrap().known_footers().len(), 2);
        assert_eq!(counts_by_field(&second).await, counted);
        assert_eq!(
            second.summary_index().learnt(),
            0,
            "nothing summarised again"
        );
        assert_eq!(
            second.partition_counts().unwrap().learnt(),
            0,
            "no footer read again"
        );
        drop(second);

        // A partition whose file changed while no process ran is counted from its files.
        write_issues(&log.join("resource=r2"), &["c", "c", "c", "c"]);
        let third = open(&root, &index).await;
        assert_eq!(
            counts_by_field(&third).await,
            [
                (Some("a".into()), 2),
                (Some("b".into()), 1),
                (Some("c".into()), 4)
            ]
        );
        assert_eq!(
            third.summary_index().learnt(),
            1,
            "only the changed partition"
        );
    }

    #[tokio::test]
    async fn an_index_of_another_archive_or_not_an_index_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("archive");
        let index = dir.path().join("index");
        write_issues(&root.join("log/issue/dataset=d/resource=r1"), &["a"]);
        let archive = open(&root, &index).await;
        let file = IndexFile::new(&index, &archive.url_of(""));
        std::fs::create_dir_all(&index).unwrap();
        std::fs::write(&file.path, "not json").unwrap();
        assert!(file.read().is_err());
        let other = IndexFile::new(&index, "s3://elsewhere/");
        let stored = Stored {
            format: FORMAT,
            archive: "s3://elsewhere/".into(),
            footers: Vec::new(),
            summaries: Vec::new(),
        };
        // Written under this archive's name, it is still another archive's.
        std::fs::write(&file.path, serde_json::to_vec(&stored).unwrap()).unwrap();
        assert!(file.read().is_err());
        other.write(&stored).unwrap();
        assert!(other.read().unwrap().is_some());
        drop(archive);
        let reopened = open(&root, &index).await;
        assert!(reopened.summary_index().known().is_empty());
        assert_eq!(counts_by_field(&reopened).await, [(Some("a".into()), 1)]);
    }
}
