//! One contract for the metadata ports, run against every adapter on equivalent data: the
//! Parquet archive (the fixtures) in a folder and on a real S3-compatible server, the Datasette
//! adapter over a SQLite copy of them built here, both as a file and through a running
//! Datasette, and the in-memory fake the handler tests use, holding the same rows. Every adapter
//! must give the same answer to the same query.

use sluice_datasette::Datasette;
use sluice_domain::Error;
use sluice_domain::metadata::{
    CollectionFilters, CollectionLog, CollectionLogQuery, CollectionName, ConfigurationQuery,
    ConfigurationRepository, ConfigurationTable, CountOrder, FilterValue, IssueCountQuery,
    IssueFilters, IssueLog, IssueQuery, PerformanceQuery, PerformanceRepository, PerformanceTable,
    ResourceQuery, RuleKind, SpecificationCatalog, SpecificationQuery, SpecificationRepository,
    Value,
};
use sluice_domain::page::Page;
use sluice_parquet::{
    ArchiveSettings, CsvCollectionLog, CsvConfiguration, CsvSpecification, ParquetArchive,
};
use sluice_test_support::{S3Server, fixtures};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// The fixtures' collection log with what they lack: a failed fetch (no resource) from an
/// endpoint that feeds a dataset, two entries at one time, and a resource of several datasets,
/// organisations and endpoints. Built once per run.
fn collection_log() -> &'static Path {
    static LOG: std::sync::OnceLock<(tempfile::TempDir, PathBuf)> = std::sync::OnceLock::new();
    let (_, path) = LOG.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let source = fixtures().join("collection-log");
        let mut log = std::fs::read_to_string(source.join("log.csv")).unwrap();
        log.push_str(&format!(
            ",,0.5,{FED},,404,2021-12-09T00:00:00,,,\n\
             10,text/csv,0.1,{SHARED},{MULTI},200,2021-12-09T00:00:00,,,\n"
        ));
        let mut resources = std::fs::read_to_string(source.join("resource.csv")).unwrap();
        resources.push_str(&format!(
            "{MULTI},10,local-authority-eng:SWK;local-authority-eng:CAT,listed-building-outline;tree,{SHARED};{FED},2021-12-09,\n"
        ));
        std::fs::write(dir.path().join("log.csv"), log).unwrap();
        std::fs::write(dir.path().join("resource.csv"), resources).unwrap();
        let path = dir.path().to_owned();
        (dir, path)
    });
    path
}

/// An endpoint of the fixtures' log, feeding listed-building-outline for local-authority-eng:SWK.
const FED: &str = "25763ee988ddbee9003f2dd58941c01b166e1a61e88b956f1f734c4dc4584021";

const SHARED: &str = "0000000000000000000000000000000000000000000000000000000000000001";

const MULTI: &str = "0000000000000000000000000000000000000000000000000000000000000002";

/// The legacy SQLite copy of the fixtures, built once per run.
async fn legacy_copy() -> &'static Path {
    static COPY: OnceCell<(tempfile::TempDir, PathBuf)> = OnceCell::const_new();
    let (_, path) = COPY
        .get_or_init(|| async {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("legacy.sqlite");
            let status = Command::new("python3")
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/legacy_copy.py"))
                .arg(fixtures().join("collection-archive"))
                .arg(&path)
                .arg(collection_log())
                .arg(fixtures().join("specification"))
                .arg(fixtures().join("config"))
                .status()
                .expect("run python3");
            assert!(
                status.success(),
                "building the SQLite copy failed (pip install duckdb)"
            );
            (dir, path)
        })
        .await;
    path
}

/// A Datasette serving the copy on a free loopback port, stopped when dropped.
struct DatasetteServer {
    process: Child,
    url: String,
}

impl DatasetteServer {
    async fn start(database: &Path, settings: &[(&str, &str)]) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut command = Command::new("datasette");
        command
            .arg("serve")
            .arg(database)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (name, value) in settings {
            command.args(["--setting", name, value]);
        }
        let process = command
            .spawn()
            .expect("these tests need Datasette (pip install datasette)");
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while reqwest::get(format!("{base}/-/versions.json"))
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "datasette did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let name = database.file_stem().unwrap().to_string_lossy();
        Self {
            process,
            url: format!("{base}/{name}"),
        }
    }
}

impl Drop for DatasetteServer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

trait Metadata: IssueLog + PerformanceRepository + SpecificationRepository {}

impl<T: IssueLog + PerformanceRepository + SpecificationRepository> Metadata for T {}

struct Adapters {
    all: Vec<(&'static str, Arc<dyn Metadata>)>,
    /// The collection log has its own source beside the archive: its CSV folder.
    logs: Vec<(&'static str, Arc<dyn CollectionLog>)>,
    /// So have the specification's tables.
    catalogs: Vec<(&'static str, Arc<dyn SpecificationCatalog>)>,
    /// And the pipeline configuration.
    configurations: Vec<(&'static str, Arc<dyn ConfigurationRepository>)>,
    _datasette: DatasetteServer,
    _s3: S3Server,
}

/// The fixtures' archive on a real S3-compatible server, read through its own client.
async fn archive_on_s3() -> (ParquetArchive, S3Server) {
    let s3 = S3Server::start().await;
    s3.upload(
        &fixtures().join("collection-archive"),
        "pipelines",
        "archive",
    )
    .await;
    let archive = ParquetArchive::open_with_store(
        ArchiveSettings::at("s3://pipelines/archive"),
        Arc::new(s3.bucket("pipelines")),
    )
    .await
    .unwrap();
    (archive, s3)
}

async fn adapters() -> Adapters {
    let archive = ParquetArchive::open(ArchiveSettings::at(
        fixtures().join("collection-archive").to_string_lossy(),
    ))
    .await
    .unwrap();
    let log = CsvCollectionLog::open(&collection_log().to_string_lossy(), None).unwrap();
    let catalog =
        CsvSpecification::open(&fixtures().join("specification").to_string_lossy(), None).unwrap();
    let configuration =
        CsvConfiguration::open(&fixtures().join("config").to_string_lossy(), None).unwrap();
    // Built once per run: the copy reads every row, and the rows do not change.
    static MEMORY: OnceCell<Arc<sluice_domain::testing::MemoryMetadata>> = OnceCell::const_new();
    let memory = MEMORY
        .get_or_init(|| async {
            Arc::new(memory_copy(&archive, &log, &catalog, &configuration).await)
        })
        .await
        .clone();
    let (on_s3, s3) = archive_on_s3().await;
    let copy = legacy_copy().await;
    let files = Datasette::open_files(&[copy.to_owned()]).await.unwrap();
    // The legacy Datasette's one-second limit is too short for counts over the whole log.
    let server = DatasetteServer::start(copy, &[("sql_time_limit_ms", "30000")]).await;
    let http = Datasette::open_http(std::slice::from_ref(&server.url))
        .await
        .unwrap();
    let files = Arc::new(files);
    let http = Arc::new(http);
    Adapters {
        all: vec![
            ("parquet", Arc::new(archive)),
            ("parquet on s3", Arc::new(on_s3)),
            ("sqlite", files.clone()),
            ("datasette", http.clone()),
            ("memory", memory.clone()),
        ],
        logs: vec![
            ("csv", Arc::new(log)),
            ("sqlite", files.clone()),
            ("datasette", http.clone()),
            ("memory", memory.clone()),
        ],
        catalogs: vec![
            ("csv", Arc::new(catalog)),
            ("sqlite", files.clone()),
            ("datasette", http.clone()),
            ("memory", memory.clone()),
        ],
        configurations: vec![
            ("csv", Arc::new(configuration)),
            ("sqlite", files),
            ("datasette", http),
            ("memory", memory),
        ],
        _datasette: server,
        _s3: s3,
    }
}

fn filters(pairs: &[(&str, &str)]) -> IssueFilters {
    let mut filters = IssueFilters::default();
    for (name, value) in pairs {
        let value = FilterValue::parse(name, (*value).to_owned()).unwrap();
        match *name {
            "dataset" => filters.dataset.push(value),
            "resource" => filters.resource.push(value),
            "field" => filters.field.push(value),
            "issue_type" => filters.issue_type.push(value),
            other => panic!("no filter {other}"),
        }
    }
    filters
}

fn page(limit: u64, offset: u64) -> Page {
    Page::new(Some(limit), Some(offset)).unwrap()
}

/// Runs `ask` on every adapter of a list and checks they all answer as the first one does.
macro_rules! same_everywhere {
    ($list:expr, |$metadata:ident| $ask:expr) => {{
        let mut answers = Vec::new();
        for (name, $metadata) in &$list {
            answers.push((*name, $ask.await));
        }
        let (first_name, first) = &answers[0];
        for (name, answer) in &answers[1..] {
            assert_eq!(
                format!("{answer:?}"),
                format!("{first:?}"),
                "{name} answers differently from {first_name}"
            );
        }
        answers.swap_remove(0).1
    }};
}

mod catalogs;
mod collection;
mod issues;
mod memory;

use memory::memory_copy;
