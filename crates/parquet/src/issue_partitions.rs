//! How many rows each `resource=` partition of one dataset's issue log holds, read from the
//! Parquet footers and kept while the files are unchanged.
//!
//! A page of issues is ordered by dataset then resource first, and every row of a partition has
//! the same dataset and resource; so knowing each partition's row count tells which one or two
//! partitions a page falls in, and only those need sorting. Counts come from footers, never
//! from scanning rows.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
use datafusion::execution::cache::cache_manager::{FileMetadataCache, ListFilesCache};
use datafusion::parquet::arrow::ParquetRecordBatchStreamBuilder;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, RowSelection, RowSelector,
};
use datafusion::parquet::arrow::async_reader::AsyncFileReader;
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::metadata::ParquetMetaData;
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Footers read at once while a dataset is first counted: on S3 each is a round trip of tens of
/// milliseconds, so a dataset of a thousand files is counted in a few dozen round trips.
const FOOTER_READS: usize = 64;

/// One partition of a dataset's issue log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Partition {
    pub resource: String,
    pub rows: u64,
    /// Its files in path order (the order a page reads them in), each with its row count.
    pub files: Vec<(ObjectMeta, u64)>,
    /// Which files, of which sizes and times, the partition holds: what a summary of it was
    /// made from, so that a changed partition is summarised again.
    pub fingerprint: u64,
}

/// A file as listed: its identity for the footer cache is its path, size and last change.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct FileVersion {
    pub path: Path,
    pub size: u64,
    /// Nanoseconds since 1970.
    pub modified: i64,
}

impl From<&ObjectMeta> for FileVersion {
    fn from(meta: &ObjectMeta) -> Self {
        Self {
            path: meta.location.clone(),
            size: meta.size,
            modified: meta.last_modified.timestamp_nanos_opt().unwrap_or_default(),
        }
    }
}

/// A dataset's partitions as listed, and when.
type Listing = (Instant, Arc<Vec<Partition>>);

pub(crate) struct PartitionCounts {
    store: Arc<dyn ObjectStore>,
    /// The issue log's folder.
    folder: Path,
    /// How long a dataset's listing is trusted, as the archive's other listings are.
    refresh: Duration,
    listings: Mutex<HashMap<String, Listing>>,
    /// The datasets as listed, and when.
    datasets: Mutex<Option<(Instant, Option<Vec<String>>)>>,
    footers: Mutex<HashMap<FileVersion, u64>>,
    /// How many row counts were read from footers: what the index file has to catch up with.
    learnt: AtomicU64,
    /// The context's footer cache: footers read here serve its scans, and the other way round.
    metadata_cache: Arc<FileMetadataCache>,
    /// The context's listings, forgotten when a listing here finds a dataset changed: a query
    /// then never reads an older listing than the one its dataset's version was taken from.
    context_listings: Option<Arc<ListFilesCache>>,
}

/// Whether a value is written the same in a folder name as in the data, so that the folder
/// `dataset=<value>` is the partition DataFusion reads as that value. Other values take the
/// general path.
pub(crate) fn plain(value: &str) -> bool {
    // "dataset=" and the value make one folder name, which file systems bound at 255 bytes.
    !value.is_empty()
        && value.len() <= MAX_PLAIN_BYTES
        && !value.starts_with('.')
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

/// The longest value a partition folder can be named after.
const MAX_PLAIN_BYTES: usize = 200;

/// The most datasets whose listings are kept: every value a client asks for gets one, so without
/// a bound a stream of made-up datasets would grow it for ever.
const MAX_LISTINGS: usize = 4096;

impl PartitionCounts {
    pub fn new(
        store: Arc<dyn ObjectStore>,
        folder: Path,
        refresh: Duration,
        metadata_cache: Arc<FileMetadataCache>,
        context_listings: Option<Arc<ListFilesCache>>,
    ) -> Self {
        Self {
            store,
            folder,
            refresh,
            metadata_cache,
            context_listings,
            listings: Mutex::new(HashMap::new()),
            datasets: Mutex::new(None),
            footers: Mutex::new(HashMap::new()),
            learnt: AtomicU64::new(0),
        }
    }

    /// Row counts known from before (the index file), as if their footers had been read.
    pub fn learn_footers(&self, known: impl IntoIterator<Item = (FileVersion, u64)>) {
        self.footers.lock().unwrap().extend(known);
    }

    /// Every row count known, by file.
    pub fn known_footers(&self) -> Vec<(FileVersion, u64)> {
        let footers = self.footers.lock().unwrap();
        footers.iter().map(|(f, rows)| (f.clone(), *rows)).collect()
    }

    /// How many row counts were read from footers so far.
    pub fn learnt(&self) -> u64 {
        self.learnt.load(Ordering::Relaxed)
    }

    /// The partitions of `dataset` (a [`plain`] value) in ascending order of resource, or `None`
    /// when one of them is named in a way only the general path reads right.
    ///
    /// # Errors
    /// `DataFusion` when the folder cannot be listed or a footer cannot be read.
    pub async fn of(&self, dataset: &str) -> Result<Option<Arc<Vec<Partition>>>> {
        if let Some((listed, partitions)) = self.listings.lock().unwrap().get(dataset)
            && listed.elapsed() < self.refresh
        {
            return Ok(Some(partitions.clone()));
        }
        let Some(partitions) = self.count(dataset).await? else {
            return Ok(None);
        };
        let partitions = Arc::new(partitions);
        let mut listings = self.listings.lock().unwrap();
        // A dataset listed here for the first time may have been listed by the context before.
        let changed = listings
            .get(dataset)
            .is_none_or(|(_, before)| before != &partitions);
        if changed && let Some(context_listings) = &self.context_listings {
            context_listings.clear();
        }
        if listings.len() >= MAX_LISTINGS {
            listings.retain(|_, (listed, _)| listed.elapsed() < self.refresh);
            if listings.len() >= MAX_LISTINGS {
                listings.clear();
            }
        }
        listings.insert(dataset.to_owned(), (Instant::now(), partitions.clone()));
        Ok(Some(partitions))
    }

    /// The datasets the log holds, in order: its `dataset=` folders whose names are [`plain`];
    /// `None` when one is not, as only the general path reads such a name right.
    ///
    /// # Errors
    /// `DataFusion` when the folder cannot be listed.
    pub async fn datasets(&self) -> Result<Option<Vec<String>>> {
        if let Some((listed, datasets)) = self.datasets.lock().unwrap().as_ref()
            && listed.elapsed() < self.refresh
        {
            return Ok(datasets.clone());
        }
        let datasets = self.list_datasets().await?;
        *self.datasets.lock().unwrap() = Some((Instant::now(), datasets.clone()));
        Ok(datasets)
    }

    async fn list_datasets(&self) -> Result<Option<Vec<String>>> {
        let listed = self
            .store
            .list_with_delimiter(Some(&self.folder))
            .await
            .map_err(|e| Error::DataFusion(e.into()))?;
        let mut datasets = Vec::new();
        for folder in listed.common_prefixes {
            let Some(name) = folder.filename().and_then(|f| f.strip_prefix("dataset=")) else {
                continue;
            };
            if !plain(name) {
                return Ok(None);
            }
            datasets.push(name.to_owned());
        }
        datasets.sort();
        Ok(Some(datasets))
    }

    async fn count(&self, dataset: &str) -> Result<Option<Vec<Partition>>> {
        let prefix = self
            .folder
            .clone()
            .join(format!("dataset={dataset}").as_str());
        let files: Vec<ObjectMeta> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| Error::DataFusion(e.into()))?;
        let mut by_resource: HashMap<String, Vec<ObjectMeta>> = HashMap::new();
        for file in &files {
            if file.location.extension() != Some("parquet") {
                continue;
            }
            let Some(mut parts) = file.location.prefix_match(&prefix) else {
                continue;
            };
            // `resource=<r>/…/<file>.parquet`; a file elsewhere is not in a partition.
            let Some(resource) = parts
                .next()
                .and_then(|p| p.as_ref().strip_prefix("resource=").map(str::to_owned))
            else {
                continue;
            };
            if parts.next().is_none() {
                continue;
            }
            if !plain(&resource) {
                return Ok(None);
            }
            by_resource.entry(resource).or_default().push(file.clone());
        }

        let metas: Vec<ObjectMeta> = by_resource.values().flatten().cloned().collect();
        let rows = self.footer_rows(metas).await?;
        let mut partitions: Vec<Partition> = by_resource
            .into_iter()
            .map(|(resource, files)| {
                let mut files: Vec<(ObjectMeta, u64)> = files
                    .into_iter()
                    .map(|meta| {
                        let counted = rows[&FileVersion::from(&meta)];
                        (meta, counted)
                    })
                    .collect();
                files.sort_by(|(a, _), (b, _)| a.location.cmp(&b.location));
                let versions: Vec<FileVersion> = files
                    .iter()
                    .map(|(meta, _)| FileVersion::from(meta))
                    .collect();
                Partition {
                    rows: files.iter().map(|(_, n)| n).sum(),
                    fingerprint: fingerprint(&versions),
                    files,
                    resource,
                }
            })
            .collect();
        partitions.sort_by(|a, b| a.resource.cmp(&b.resource));
        Ok(Some(partitions))
    }

    /// The rows `skip..skip + take` of `file` as it holds them, its columns as written, read
    /// straight from the file with its footer from the cache: no query is planned.
    ///
    /// # Errors
    /// `DataFusion` when the file cannot be read.
    pub async fn read_rows(
        &self,
        file: &ObjectMeta,
        skip: usize,
        take: usize,
    ) -> Result<Vec<RecordBatch>> {
        let metadata = DFParquetMetadata::new(self.store.as_ref(), file)
            .with_file_metadata_cache(Some(self.metadata_cache.clone()))
            .fetch_metadata()
            .await?;
        let reader = ArchiveFile {
            store: self.store.clone(),
            path: file.location.clone(),
            metadata: metadata.clone(),
        };
        let metadata = ArrowReaderMetadata::try_new(metadata, ArrowReaderOptions::default())
            .map_err(|e| Error::DataFusion(e.into()))?;
        let selection =
            RowSelection::from(vec![RowSelector::skip(skip), RowSelector::select(take)]);
        ParquetRecordBatchStreamBuilder::new_with_metadata(reader, metadata)
            .with_row_selection(selection)
            .with_batch_size(take.max(1))
            .build()
            .map_err(|e| Error::DataFusion(e.into()))?
            .try_collect()
            .await
            .map_err(|e| Error::DataFusion(e.into()))
    }

    /// The row count of each file, from the cache or its footer.
    async fn footer_rows(&self, files: Vec<ObjectMeta>) -> Result<HashMap<FileVersion, u64>> {
        let (mut known, unknown): (HashMap<_, _>, Vec<_>) = {
            let cache = self.footers.lock().unwrap();
            let mut known = HashMap::new();
            let mut unknown = Vec::new();
            for meta in files {
                let file = FileVersion::from(&meta);
                match cache.get(&file) {
                    Some(&rows) => {
                        known.insert(file, rows);
                    }
                    None => unknown.push((file, meta)),
                }
            }
            (known, unknown)
        };
        let read: Vec<(FileVersion, u64)> = futures::stream::iter(unknown)
            .map(|(file, meta)| async move {
                let metadata = DFParquetMetadata::new(self.store.as_ref(), &meta)
                    .with_file_metadata_cache(Some(self.metadata_cache.clone()))
                    .fetch_metadata()
                    .await?;
                let rows = metadata.file_metadata().num_rows().max(0) as u64;
                Ok::<_, datafusion::error::DataFusionError>((file, rows))
            })
            .buffer_unordered(FOOTER_READS)
            .try_collect()
            .await?;
        self.learnt.fetch_add(read.len() as u64, Ordering::Relaxed);
        metrics::counter!("sluice_archive_footers_read_total").increment(read.len() as u64);
        let mut cache = self.footers.lock().unwrap();
        for (file, rows) in read {
            cache.insert(file.clone(), rows);
            known.insert(file, rows);
        }
        Ok(known)
    }
}

/// A file of the archive as the Parquet reader reads it: byte ranges from the archive's store
/// (through its small-file cache on S3), and the footer already decoded.
struct ArchiveFile {
    store: Arc<dyn ObjectStore>,
    path: Path,
    metadata: Arc<ParquetMetaData>,
}

impl AsyncFileReader for ArchiveFile {
    fn get_bytes(
        &mut self,
        range: std::ops::Range<u64>,
    ) -> BoxFuture<'_, datafusion::parquet::errors::Result<bytes::Bytes>> {
        Box::pin(async move {
            self.store
                .get_range(&self.path, range)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        })
    }

    /// All at once, as the store coalesces nearby ranges (a page's columns are side by side).
    fn get_byte_ranges(
        &mut self,
        ranges: Vec<std::ops::Range<u64>>,
    ) -> BoxFuture<'_, datafusion::parquet::errors::Result<Vec<bytes::Bytes>>> {
        Box::pin(async move {
            self.store
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(|e| ParquetError::External(Box::new(e)))
        })
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, datafusion::parquet::errors::Result<Arc<ParquetMetaData>>> {
        let metadata = self.metadata.clone();
        Box::pin(async move { Ok(metadata) })
    }
}

/// The identity of a partition's files, the same in every process and every build (it is kept
/// on disk in the index file), unlike the standard library's hashers.
fn fingerprint(files: &[FileVersion]) -> u64 {
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(file.path.as_ref().as_bytes());
        hasher.update([0]);
        hasher.update(file.size.to_le_bytes());
        hasher.update(file.modified.to_le_bytes());
    }
    let digest = hasher.finalize();
    u64::from_le_bytes(
        digest[..8]
            .try_into()
            .expect("a SHA-256 digest has 32 bytes"),
    )
}

/// Which partitions hold the rows `offset..offset + limit` of their concatenation, and how many
/// rows come before the first of them.
pub(crate) fn covering<'a>(
    partitions: impl IntoIterator<Item = (&'a str, u64)>,
    offset: u64,
    limit: u64,
) -> (Vec<&'a str>, u64) {
    let end = offset.saturating_add(limit);
    let mut before = 0;
    let mut start = 0;
    let mut chosen = Vec::new();
    for (resource, rows) in partitions {
        let next = start + rows;
        if next > offset && start < end && rows > 0 {
            if chosen.is_empty() {
                before = start;
            }
            chosen.push(resource);
        }
        start = next;
    }
    (chosen, before)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_falls_in_the_partitions_that_hold_its_rows() {
        let parts = [("a", 10), ("b", 0), ("c", 5), ("d", 20)];
        assert_eq!(covering(parts, 0, 5), (vec!["a"], 0));
        assert_eq!(covering(parts, 8, 5), (vec!["a", "c"], 0));
        assert_eq!(covering(parts, 10, 5), (vec!["c"], 10));
        assert_eq!(covering(parts, 12, 50), (vec!["c", "d"], 10));
        assert_eq!(covering(parts, 35, 5), (vec![], 0));
    }

    #[test]
    fn only_plain_names_are_read_from_folder_names() {
        assert!(plain("conservation-area"));
        assert!(plain("local-authority-eng:SWK"));
        for odd in ["", "..", "a/b", "a b", "x' OR '1'='1", "a%2Fb", ".hidden"] {
            assert!(!plain(odd), "{odd}");
        }
    }
}
