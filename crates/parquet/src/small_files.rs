//! Small archive files kept whole in memory for a while, so that a page over S3 costs what it
//! costs over a folder.
//!
//! A query reads a Parquet file as several ranged requests (the footer, then each column's
//! pages); on S3 each is a round trip, and an archive's issue files are small (tens of kilobytes).
//! The first read of a small file fetches it whole, and later reads of any range of it are served
//! from memory until the entry is as old as the archive's listing refresh: a replaced file shows
//! within that time, as new files do. Large files, and reads with conditions, go to the store.
//!
//! Whether a file is small is known from the listing that found it (a query lists before it
//! reads), so a first read is one request, not a `HEAD` and then a `GET`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::object_store::path::Path;
use datafusion::object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use futures::StreamExt;
use futures::stream::BoxStream;

/// A file no larger than this is kept whole.
const SMALL_FILE_BYTES: u64 = 1 << 20;

/// What a path was found to be when it was first read.
#[derive(Clone)]
enum Kept {
    Whole(ObjectMeta, Bytes),
    /// Too large to keep: its reads go to the store.
    Large,
}

pub(crate) struct SmallFiles {
    inner: Arc<dyn ObjectStore>,
    /// How long an entry is trusted.
    fresh: Duration,
    /// The most bytes kept; past it the oldest entries go.
    budget: u64,
    kept: Mutex<HashMap<Path, (Instant, Kept)>>,
    /// Each file's size and version as its folder was last listed.
    listed: Arc<Listed>,
}

/// Files as listings found them, trusted for as long as a listing is.
struct Listed {
    fresh: Duration,
    files: Mutex<HashMap<Path, (Instant, ObjectMeta)>>,
}

impl Listed {
    fn remember<'a>(&self, metas: impl IntoIterator<Item = &'a ObjectMeta>) {
        let mut files = self.files.lock().unwrap();
        if files.len() >= MAX_LISTED {
            files.retain(|_, (at, _)| at.elapsed() < self.fresh);
            if files.len() >= MAX_LISTED {
                files.clear();
            }
        }
        let now = Instant::now();
        for meta in metas {
            files.insert(meta.location.clone(), (now, meta.clone()));
        }
    }

    fn get(&self, location: &Path) -> Option<ObjectMeta> {
        self.files
            .lock()
            .unwrap()
            .get(location)
            .filter(|(at, _)| at.elapsed() < self.fresh)
            .map(|(_, meta)| meta.clone())
    }
}

/// The most listed files remembered; past it the stale go, then all (a listing is taken again).
const MAX_LISTED: usize = 1 << 20;

impl SmallFiles {
    pub(crate) fn new(inner: Arc<dyn ObjectStore>, fresh: Duration, budget: u64) -> Self {
        Self {
            inner,
            fresh,
            budget,
            kept: Mutex::new(HashMap::new()),
            listed: Arc::new(Listed {
                fresh,
                files: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The file's size and version from a fresh listing, or from the store.
    async fn meta(&self, location: &Path) -> Result<ObjectMeta> {
        match self.listed.get(location) {
            Some(meta) => Ok(meta),
            None => self.inner.head(location).await,
        }
    }

    fn lookup(&self, location: &Path) -> Option<Kept> {
        let kept = self.kept.lock().unwrap();
        let (at, entry) = kept.get(location)?;
        (at.elapsed() < self.fresh).then(|| entry.clone())
    }

    fn keep(&self, location: &Path, entry: Kept) {
        let mut kept = self.kept.lock().unwrap();
        kept.retain(|_, (at, _)| at.elapsed() < self.fresh);
        let size = |entry: &Kept| match entry {
            Kept::Whole(_, bytes) => bytes.len() as u64,
            Kept::Large => 0,
        };
        let mut used: u64 = kept.values().map(|(_, e)| size(e)).sum();
        // Oldest first, until the new entry fits.
        while used + size(&entry) > self.budget {
            let Some(oldest) = kept
                .iter()
                .filter(|(_, (_, e))| size(e) > 0)
                .min_by_key(|(_, (at, _))| *at)
                .map(|(path, _)| path.clone())
            else {
                break;
            };
            if let Some((_, e)) = kept.remove(&oldest) {
                used -= size(&e);
            }
        }
        if used + size(&entry) <= self.budget {
            kept.insert(location.clone(), (Instant::now(), entry));
        }
    }

    /// The file whole, from memory or fetched now; `None` when it is too large to keep.
    async fn whole(&self, location: &Path) -> Result<Option<(ObjectMeta, Bytes)>> {
        match self.lookup(location) {
            // Unless a newer listing shows the file replaced since.
            Some(Kept::Whole(meta, bytes))
                if self
                    .listed
                    .get(location)
                    .is_none_or(|listed| same_version(&listed, &meta)) =>
            {
                return Ok(Some((meta, bytes)));
            }
            Some(Kept::Large) => return Ok(None),
            _ => {}
        }
        if self.meta(location).await?.size > SMALL_FILE_BYTES {
            self.keep(location, Kept::Large);
            return Ok(None);
        }
        let got = self.inner.get_opts(location, GetOptions::default()).await?;
        // The version read, which a listing may not have caught up with.
        let meta = got.meta.clone();
        let bytes = got.bytes().await?;
        self.keep(location, Kept::Whole(meta.clone(), bytes.clone()));
        Ok(Some((meta, bytes)))
    }
}

/// Whether two descriptions of a file are of the same version of it: by its ETag when both have
/// one (a listing's time and a read's `Last-Modified` differ in precision), else by its time.
fn same_version(a: &ObjectMeta, b: &ObjectMeta) -> bool {
    a.size == b.size
        && match (&a.e_tag, &b.e_tag) {
            (Some(x), Some(y)) => x == y,
            _ => a.last_modified == b.last_modified,
        }
}

impl fmt::Display for SmallFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SmallFiles({})", self.inner)
    }
}

impl fmt::Debug for SmallFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[async_trait]
impl ObjectStore for SmallFiles {
    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        let plain = options.if_match.is_none()
            && options.if_none_match.is_none()
            && options.if_modified_since.is_none()
            && options.if_unmodified_since.is_none()
            && options.version.is_none()
            && !options.head;
        if !plain {
            return self.inner.get_opts(location, options).await;
        }
        let Some((meta, bytes)) = self.whole(location).await? else {
            return self.inner.get_opts(location, options).await;
        };
        let range = match &options.range {
            None => 0..meta.size,
            Some(asked) => match asked.as_range(meta.size) {
                Ok(range) => range,
                // The store words the error.
                Err(_) => return self.inner.get_opts(location, options).await,
            },
        };
        let part = bytes.slice(
            usize::try_from(range.start).unwrap_or(usize::MAX)
                ..usize::try_from(range.end).unwrap_or(usize::MAX),
        );
        Ok(GetResult {
            payload: GetResultPayload::Stream(futures::stream::once(async { Ok(part) }).boxed()),
            meta,
            range,
            attributes: Default::default(),
        })
    }

    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let listed = self.listed.clone();
        self.inner
            .list(prefix)
            .inspect(move |meta| {
                if let Ok(meta) = meta {
                    listed.remember([meta]);
                }
            })
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let listed = self.inner.list_with_delimiter(prefix).await?;
        self.listed.remember(&listed.objects);
        Ok(listed)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::object_store::GetRange;
    use datafusion::object_store::memory::InMemory;

    #[tokio::test]
    async fn a_small_file_is_read_whole_once_and_its_ranges_served_from_memory_while_fresh() {
        let inner = Arc::new(InMemory::new());
        let path = Path::from("log/issue/a.parquet");
        inner
            .put(&path, PutPayload::from_static(b"0123456789"))
            .await
            .unwrap();
        let cached = SmallFiles::new(inner.clone(), Duration::from_millis(300), 1 << 20);
        assert_eq!(cached.get_range(&path, 2..5).await.unwrap(), "234");
        // Gone from the store, still answered while the entry is fresh: it is served from memory.
        inner.delete(&path).await.unwrap();
        assert_eq!(cached.get_range(&path, 7..10).await.unwrap(), "789");
        let suffix = GetOptions {
            range: Some(GetRange::Suffix(3)),
            ..GetOptions::default()
        };
        let got = cached.get_opts(&path, suffix).await.unwrap();
        assert_eq!(got.range, 7..10);
        assert_eq!(got.bytes().await.unwrap(), "789");
        // Once stale, the store is asked again.
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(cached.get_range(&path, 2..5).await.is_err());
    }

    #[tokio::test]
    async fn a_listed_file_is_known_by_its_listing_until_the_listing_is_stale() {
        let inner = Arc::new(InMemory::new());
        let path = Path::from("log/issue/a.parquet");
        inner
            .put(&path, PutPayload::from_static(b"0123456789"))
            .await
            .unwrap();
        let cached = SmallFiles::new(inner.clone(), Duration::from_millis(300), 1 << 20);
        assert!(cached.listed.get(&path).is_none());
        let listed: Vec<_> = cached.list(Some(&Path::from("log"))).collect().await;
        assert_eq!(listed.len(), 1);
        assert_eq!(cached.listed.get(&path).map(|m| m.size), Some(10));
        cached.listed.files.lock().unwrap().clear();
        cached
            .list_with_delimiter(Some(&Path::from("log/issue")))
            .await
            .unwrap();
        assert_eq!(cached.listed.get(&path).map(|m| m.size), Some(10));
        // Read by the listing's size: one request, the file whole.
        assert_eq!(cached.get_range(&path, 2..5).await.unwrap(), "234");
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(
            cached.listed.get(&path).is_none(),
            "stale listings are not trusted"
        );
    }

    #[tokio::test]
    async fn a_kept_file_a_newer_listing_shows_replaced_is_read_again() {
        let inner = Arc::new(InMemory::new());
        let path = Path::from("log/issue/a.parquet");
        inner
            .put(&path, PutPayload::from_static(b"old"))
            .await
            .unwrap();
        let cached = SmallFiles::new(inner.clone(), Duration::from_secs(60), 1 << 20);
        assert_eq!(cached.get_range(&path, 0..3).await.unwrap(), "old");
        inner
            .put(&path, PutPayload::from_static(b"new!"))
            .await
            .unwrap();
        assert_eq!(
            cached.get_range(&path, 0..3).await.unwrap(),
            "old",
            "kept while no listing says otherwise"
        );
        let _: Vec<_> = cached.list(Some(&Path::from("log"))).collect().await;
        assert_eq!(cached.get_range(&path, 0..4).await.unwrap(), "new!");
    }

    #[tokio::test]
    async fn files_past_the_budget_push_out_the_oldest() {
        let inner = Arc::new(InMemory::new());
        for name in ["a", "b"] {
            inner
                .put(&Path::from(name), PutPayload::from_static(b"12345678"))
                .await
                .unwrap();
        }
        let cached = SmallFiles::new(inner.clone(), Duration::from_secs(60), 10);
        cached.get_range(&Path::from("a"), 0..2).await.unwrap();
        cached.get_range(&Path::from("b"), 0..2).await.unwrap();
        inner.delete(&Path::from("a")).await.unwrap();
        inner.delete(&Path::from("b")).await.unwrap();
        assert!(
            cached.get_range(&Path::from("a"), 0..2).await.is_err(),
            "a made room for b"
        );
        assert_eq!(
            cached.get_range(&Path::from("b"), 0..2).await.unwrap(),
            "12"
        );
    }

    #[tokio::test]
    async fn a_large_file_is_read_from_the_store_each_time() {
        let inner = Arc::new(InMemory::new());
        let path = Path::from("large.parquet");
        let large = vec![7u8; usize::try_from(SMALL_FILE_BYTES).unwrap() + 1];
        inner.put(&path, PutPayload::from(large)).await.unwrap();
        let cached = SmallFiles::new(inner.clone(), Duration::from_secs(60), 64 << 20);
        assert_eq!(cached.get_range(&path, 0..2).await.unwrap(), vec![7u8, 7]);
        inner.delete(&path).await.unwrap();
        assert!(cached.get_range(&path, 0..2).await.is_err());
    }
}
