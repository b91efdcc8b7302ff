//! The archive: where it is, how its issue log is laid out, and the one DataFusion context that
//! reads it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::object_store::{ObjectStore, ObjectStoreExt};
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext, ident, lit};

use crate::index_file::IndexFile;
use crate::issue_partitions::PartitionCounts;
use crate::issue_summary::SummaryIndex;
use crate::small_files::SmallFiles;

/// How much memory the small files of an archive on S3 may take (see [`SmallFiles`]).
const SMALL_FILES_BUDGET: u64 = 64 << 20;
use crate::{Error, Result};

/// Where the archive is and how it is laid out.
#[derive(Debug, Clone)]
pub struct ArchiveSettings {
    /// A folder, or `s3://bucket/prefix`.
    pub url: String,
    /// An S3-compatible server to use instead of AWS (`http://127.0.0.1:9000`); addressed by path
    /// (`endpoint/bucket/key`), as such servers expect.
    pub endpoint: Option<String>,
    /// The issue log's folder under `url`; empty for `url` itself.
    pub issue_path: String,
    pub performance_path: String,
    pub specification_path: String,
    /// How long a file listing is trusted before the archive is listed again.
    pub listing_refresh: Duration,
    /// How much memory the decoded Parquet footers kept between queries may take. Each file's
    /// footer is otherwise read again (one more request to S3) whenever a query opens the file.
    pub footer_cache_bytes: usize,
    /// A local folder where what is learnt of the archive's files (row counts, summaries) is
    /// kept across restarts; `None` to learn it again in each process.
    pub index_dir: Option<PathBuf>,
}

impl ArchiveSettings {
    /// The layout the pipelines write, at `url`.
    pub fn at(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            endpoint: None,
            issue_path: "log/issue".into(),
            performance_path: "data/performance".into(),
            specification_path: "data/specification".into(),
            listing_refresh: Duration::from_secs(60),
            footer_cache_bytes: 16 << 20,
            index_dir: None,
        }
    }
}

/// How the issue log's files are arranged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueLayout {
    /// `dataset=<d>/resource=<r>/*.parquet`: dataset and resource come from the folder names, so
    /// a filter on them skips whole folders.
    Partitioned,
    /// `*.parquet` holding dataset and resource as columns.
    Flat,
}

/// The name the issue log is registered under in the context.
pub(crate) const ISSUE_TABLE: &str = "issue";

/// The issue log's columns as Sluice reads them, whatever integer width a file wrote (files of
/// the same archive differ); a file missing a column reads it as null.
fn issue_columns() -> Vec<Field> {
    vec![
        Field::new("line-number", DataType::Int64, true),
        Field::new("entry-number", DataType::Int64, true),
        Field::new("field", DataType::Utf8, true),
        Field::new("issue-type", DataType::Utf8, true),
        Field::new("value", DataType::Utf8, true),
        Field::new("message", DataType::Utf8, true),
    ]
}

/// Reads a Parquet collection archive. Cheap to share: one per process.
pub struct ParquetArchive {
    ctx: SessionContext,
    /// A context on the same runtime (object stores, listing and footer caches) that reads each
    /// table as one stream, file after file in path order and each file's rows in the order they
    /// were written: what a row's position in its file is counted from. Made once, as a context
    /// takes a while to make (it registers every function).
    file_order: SessionContext,
    root: String,
    settings: ArchiveSettings,
    issue_layout: IssueLayout,
    /// Row counts of a partitioned issue log's partitions; `None` for a flat log.
    partition_counts: Option<Arc<PartitionCounts>>,
    /// Counts of each partition by field and issue type, made as queries need them.
    summary_index: Arc<SummaryIndex>,
}

impl ParquetArchive {
    /// Opens the archive: checks that it can be listed, finds how its issue log is laid out and
    /// registers it.
    ///
    /// # Errors
    /// `Location` when the archive cannot be listed.
    pub async fn open(settings: ArchiveSettings) -> Result<Self> {
        let store = match bucket_of(&settings.url) {
            Some(bucket) => Some(Arc::new(
                s3_store(bucket, settings.endpoint.as_deref())
                    .map_err(|e| Error::Location(settings.url.clone(), e.to_string()))?,
            ) as Arc<dyn ObjectStore>),
            None => None,
        };
        Self::open_on(settings, store).await
    }

    /// Opens an archive on S3 through a client built elsewhere (with credentials of its own),
    /// rather than one built from this process's AWS settings. `settings.url` names the bucket
    /// and prefix (`s3://bucket/prefix`); `settings.endpoint` is not used.
    ///
    /// # Errors
    /// `Location` when `settings.url` is not an S3 URL or the archive cannot be listed.
    pub async fn open_with_store(
        settings: ArchiveSettings,
        store: Arc<dyn ObjectStore>,
    ) -> Result<Self> {
        if bucket_of(&settings.url).is_none() {
            return Err(Error::Location(
                settings.url.clone(),
                "an archive on a given store is at an s3:// URL".into(),
            ));
        }
        Self::open_on(settings, Some(store)).await
    }

    async fn open_on(
        settings: ArchiveSettings,
        store: Option<Arc<dyn ObjectStore>>,
    ) -> Result<Self> {
        let root = root_url(&settings.url)?;
        let cache = CacheManagerConfig::default()
            .with_list_files_cache_ttl(Some(settings.listing_refresh))
            // Large archives hold tens of thousands of files; a listing must fit whole.
            .with_list_files_cache_limit(64 << 20)
            .with_metadata_cache_limit(settings.footer_cache_bytes);
        let runtime = RuntimeEnvBuilder::new()
            .with_cache_manager(cache)
            .build_arc()?;
        // No per-file statistics: every query here filters on values the statistics cannot
        // prune (a dataset is a folder, not a range), and kept for tens of thousands of files
        // their min/max strings (whole geometries in `value`) cost hundreds of megabytes.
        let config = SessionConfig::new()
            .with_information_schema(false)
            .with_collect_statistics(false);
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        if let (Some(bucket), Some(store)) = (bucket_of(&root), store) {
            let url = ObjectStoreUrl::parse(format!("s3://{bucket}"))?;
            let store = SmallFiles::new(store, settings.listing_refresh, SMALL_FILES_BUDGET);
            ctx.register_object_store(url.as_ref(), Arc::new(store));
        }

        let file_order = SessionContext::new_with_config_rt(
            SessionConfig::new()
                .with_information_schema(false)
                .with_collect_statistics(false)
                .with_target_partitions(1)
                .with_repartition_file_scans(false),
            ctx.runtime_env(),
        );
        let mut archive = Self {
            ctx,
            file_order,
            root,
            settings,
            issue_layout: IssueLayout::Partitioned,
            partition_counts: None,
            summary_index: Arc::default(),
        };
        archive.issue_layout = archive.detect_issue_layout().await?;
        archive.register_issue_log().await?;
        if archive.issue_layout == IssueLayout::Partitioned {
            let url = ListingTableUrl::parse(archive.issue_folder())?;
            let store = archive.ctx.runtime_env().object_store(url.object_store())?;
            archive.partition_counts = Some(Arc::new(PartitionCounts::new(
                store,
                url.prefix().clone(),
                archive.settings.listing_refresh,
                archive
                    .ctx
                    .runtime_env()
                    .cache_manager
                    .get_file_metadata_cache(),
                archive
                    .ctx
                    .runtime_env()
                    .cache_manager
                    .get_list_files_cache(),
            )));
        }
        if let Some(folder) = &archive.settings.index_dir {
            let index = IndexFile::new(folder, &archive.root);
            index.load(archive.partition_counts.as_deref(), &archive.summary_index);
            index.keep(
                archive.partition_counts.as_ref().map(Arc::downgrade),
                Arc::downgrade(&archive.summary_index),
            );
        }
        tracing::info!(archive = %archive.settings.url, issue_layout = ?archive.issue_layout, "archive opened");
        Ok(archive)
    }

    pub fn issue_layout(&self) -> IssueLayout {
        self.issue_layout
    }

    /// The URL of a folder or file under the archive root.
    pub(crate) fn url_of(&self, relative: &str) -> String {
        let relative = relative.trim_matches('/');
        if relative.is_empty() {
            self.root.clone()
        } else {
            format!("{}{relative}", self.root)
        }
    }

    pub(crate) fn performance_url(&self, file: &str) -> String {
        self.url_of(&format!(
            "{}/{file}",
            self.settings.performance_path.trim_matches('/')
        ))
    }

    pub(crate) fn specification_url(&self, file: &str) -> String {
        self.url_of(&format!(
            "{}/{file}",
            self.settings.specification_path.trim_matches('/')
        ))
    }

    pub(crate) fn summary_index(&self) -> &SummaryIndex {
        &self.summary_index
    }

    pub(crate) fn partition_counts(&self) -> Option<&PartitionCounts> {
        self.partition_counts.as_deref()
    }

    pub(crate) fn context(&self) -> &SessionContext {
        &self.ctx
    }

    pub(crate) async fn issue_frame(&self) -> Result<DataFrame> {
        Ok(self.ctx.table(ISSUE_TABLE).await?)
    }

    /// The issue log read as one stream, file after file in path order and each file's rows in
    /// the order they were written (see `file_order`).
    pub(crate) async fn issue_frame_in_file_order(&self) -> Result<DataFrame> {
        Ok(self.file_order.table(ISSUE_TABLE).await?)
    }

    /// One partition of a partitioned issue log (its folder's files alone, so a query plans
    /// over a handful of files, not the whole log's), read as
    /// [`Self::issue_frame_in_file_order`] reads the log, with its dataset and resource as
    /// columns. `dataset` and `resource` are plain names.
    pub(crate) async fn partition_in_file_order(
        &self,
        dataset: &str,
        resource: &str,
    ) -> Result<DataFrame> {
        let url = ListingTableUrl::parse(format!(
            "{}/dataset={dataset}/resource={resource}/",
            self.issue_folder().trim_end_matches('/')
        ))?;
        let options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(Arc::new(Schema::new(issue_columns())));
        let table = ListingTable::try_new(config)?;
        let frame = self.file_order.read_table(Arc::new(table))?;
        let mut columns = vec![
            lit(dataset).alias("dataset"),
            lit(resource).alias("resource"),
        ];
        columns.extend(issue_columns().iter().map(|f| ident(f.name())));
        Ok(frame.select(columns)?)
    }

    /// Whether a single file exists in the archive.
    pub(crate) async fn file_exists(&self, url: &str) -> Result<bool> {
        let url = ListingTableUrl::parse(url)?;
        let store = self.ctx.runtime_env().object_store(url.object_store())?;
        match store.head(url.prefix()).await {
            Ok(_) => Ok(true),
            Err(datafusion::object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(Error::DataFusion(e.into())),
        }
    }

    /// Partitioned when the issue folder holds `dataset=` folders, flat when it holds Parquet
    /// files itself; an empty or missing folder reads as an empty partitioned log.
    async fn detect_issue_layout(&self) -> Result<IssueLayout> {
        let url = ListingTableUrl::parse(self.issue_folder())?;
        let store = self.ctx.runtime_env().object_store(url.object_store())?;
        let listing = match store.list_with_delimiter(Some(url.prefix())).await {
            Ok(listing) => listing,
            Err(datafusion::object_store::Error::NotFound { .. }) => {
                return Ok(IssueLayout::Partitioned);
            }
            Err(e) => {
                return Err(Error::Location(self.settings.url.clone(), e.to_string()));
            }
        };
        let partitioned = listing.common_prefixes.iter().any(|p| {
            p.filename()
                .is_some_and(|name| name.starts_with("dataset="))
        });
        let flat = listing
            .objects
            .iter()
            .any(|o| o.location.extension() == Some("parquet"));
        Ok(if flat && !partitioned {
            IssueLayout::Flat
        } else {
            IssueLayout::Partitioned
        })
    }

    fn issue_folder(&self) -> String {
        self.url_of(&format!("{}/", self.settings.issue_path.trim_matches('/')))
    }

    async fn register_issue_log(&self) -> Result<()> {
        let mut options =
            ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
        let mut fields = issue_columns();
        let identity = vec![
            Field::new("dataset", DataType::Utf8, true),
            Field::new("resource", DataType::Utf8, true),
        ];
        match self.issue_layout {
            IssueLayout::Partitioned => {
                options = options.with_table_partition_cols(
                    identity
                        .iter()
                        .map(|f| (f.name().clone(), f.data_type().clone()))
                        .collect(),
                );
            }
            IssueLayout::Flat => {
                fields.splice(0..0, identity);
            }
        }
        let schema: SchemaRef = Arc::new(Schema::new(fields));
        self.ctx
            .register_listing_table(
                ISSUE_TABLE,
                self.issue_folder(),
                options,
                Some(schema),
                None,
            )
            .await?;
        self.file_order
            .register_table(ISSUE_TABLE, self.ctx.table_provider(ISSUE_TABLE).await?)?;
        Ok(())
    }
}

/// A bucket, with credentials from the AWS default chain (see [`sluice_s3`]).
pub(crate) fn s3_store(
    bucket: &str,
    endpoint: Option<&str>,
) -> object_store::Result<object_store::aws::AmazonS3> {
    let mut builder = sluice_s3::builder(bucket);
    if let Some(endpoint) = endpoint {
        builder = builder
            .with_endpoint(endpoint)
            .with_virtual_hosted_style_request(false)
            .with_allow_http(endpoint.starts_with("http://"));
    }
    builder.build()
}

/// The bucket of an `s3://bucket/prefix` URL.
fn bucket_of(url: &str) -> Option<&str> {
    url.strip_prefix("s3://")
        .map(|rest| rest.split('/').next().unwrap_or_default())
}

/// The archive root as a URL ending in `/`: an S3 URL as given, a folder made absolute.
fn root_url(url: &str) -> Result<String> {
    let root = if url.contains("://") {
        url.to_owned()
    } else {
        let path = std::fs::canonicalize(url)
            .map_err(|e| Error::Location(url.to_owned(), e.to_string()))?;
        if !path.is_dir() {
            return Err(Error::Location(url.to_owned(), "not a folder".into()));
        }
        path.to_string_lossy().into_owned()
    };
    Ok(if root.ends_with('/') {
        root
    } else {
        format!("{root}/")
    })
}
