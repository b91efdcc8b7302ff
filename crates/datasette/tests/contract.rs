//! One contract for the metadata ports, run against every adapter on equivalent data: the
//! Parquet archive (the fixtures), and the Datasette adapter over a SQLite copy of them built
//! here, both as a file and through a running Datasette. Every adapter must give the same answer
//! to the same query.

use sluice_datasette::Datasette;
use sluice_domain::Error;
use sluice_domain::metadata::{
    FilterValue, IssueCountQuery, IssueFilters, IssueLog, IssueQuery, PerformanceQuery,
    PerformanceRepository, PerformanceTable, SpecificationQuery, SpecificationRepository,
};
use sluice_domain::page::Page;
use sluice_parquet::{ArchiveSettings, ParquetArchive};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

fn fixtures() -> PathBuf {
    let path = std::env::var_os("SLUICE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"));
    assert!(
        path.join("collection-archive").is_dir(),
        "the contract tests need the shared fixtures at {} (set SLUICE_FIXTURES)",
        path.display()
    );
    path.canonicalize().unwrap()
}

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
    _datasette: DatasetteServer,
}

async fn adapters() -> Adapters {
    let archive = ParquetArchive::open(ArchiveSettings::at(
        fixtures().join("collection-archive").to_string_lossy(),
    ))
    .await
    .unwrap();
    let copy = legacy_copy().await;
    let files = Datasette::open_files(&[copy.to_owned()]).await.unwrap();
    // The legacy Datasette's one-second limit is too short for counts over the whole log.
    let server = DatasetteServer::start(copy, &[("sql_time_limit_ms", "30000")]).await;
    let http = Datasette::open_http(std::slice::from_ref(&server.url))
        .await
        .unwrap();
    Adapters {
        all: vec![
            ("parquet", Arc::new(archive)),
            ("sqlite", Arc::new(files)),
            ("datasette", Arc::new(http)),
        ],
        _datasette: server,
    }
}

fn filters(pairs: &[(&str, &str)]) -> IssueFilters {
    let mut filters = IssueFilters::default();
    for (name, value) in pairs {
        let value = Some(FilterValue::parse(name, (*value).to_owned()).unwrap());
        match *name {
            "dataset" => filters.dataset = value,
            "resource" => filters.resource = value,
            "field" => filters.field = value,
            "issue_type" => filters.issue_type = value,
            other => panic!("no filter {other}"),
        }
    }
    filters
}

fn page(limit: u64, offset: u64) -> Page {
    Page::new(Some(limit), Some(offset)).unwrap()
}

/// Runs `ask` on every adapter and checks they all answer as the first one does.
macro_rules! same_everywhere {
    ($adapters:expr, |$metadata:ident| $ask:expr) => {{
        let mut answers = Vec::new();
        for (name, $metadata) in &$adapters.all {
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

#[tokio::test]
async fn issue_pages_are_the_same_from_every_adapter() {
    let adapters = adapters().await;
    for (pairs, limit, offset) in [
        (vec![("dataset", "conservation-area")], 100, 0),
        (vec![("dataset", "conservation-area")], 50, 20_000),
        (
            vec![
                ("dataset", "ancient-woodland"),
                ("issue_type", "invalid geometry - fixed"),
            ],
            100,
            300,
        ),
        (
            vec![
                ("dataset", "conservation-area-document"),
                ("field", "document-url"),
            ],
            30,
            5,
        ),
        (
            vec![
                ("dataset", "border"),
                (
                    "resource",
                    "4a57239e3c1174c80b6d4a0278ab386a7c3664f2e985b2e07a66bbec84988b30",
                ),
            ],
            100,
            0,
        ),
    ] {
        let query = IssueQuery::new(filters(&pairs), page(limit, offset)).unwrap();
        let answer = same_everywhere!(adapters, |m| m.issues(&query)).unwrap();
        assert!(!answer.items.is_empty(), "{pairs:?}: nothing to compare");
        assert!(answer.total >= answer.items.len() as u64);
    }
}

#[tokio::test]
async fn issue_counts_are_the_same_from_every_adapter() {
    let adapters = adapters().await;
    for (group_by, pairs, offset) in [
        ("dataset,issue-type", vec![], 0),
        ("issue_type", vec![("dataset", "conservation-area")], 0),
        ("resource,field", vec![("dataset", "conservation-area")], 40),
        (
            "field",
            vec![
                ("dataset", "ancient-woodland"),
                ("issue_type", "combined-value"),
            ],
            0,
        ),
    ] {
        let query = IssueCountQuery::parse(group_by, filters(&pairs), page(50, offset)).unwrap();
        let answer = same_everywhere!(adapters, |m| m.issue_counts(&query)).unwrap();
        assert!(!answer.items.is_empty(), "{group_by}: nothing to compare");
    }
}

#[tokio::test]
async fn performance_and_specification_are_the_same_from_every_adapter() {
    let adapters = adapters().await;
    let text = |name: &str, v: &str| Some(FilterValue::parse(name, v.to_owned()).unwrap());
    for (dataset, organisation, offset) in [
        (text("dataset", "conservation-area"), None, 0),
        (None, text("organisation", "local-authority:BST"), 0),
        (None, None, 5_000),
    ] {
        let query = PerformanceQuery {
            table: PerformanceTable::ProvisionSummary,
            dataset,
            organisation,
            page: page(100, offset),
        };
        let answer = same_everywhere!(adapters, |m| m.rows(&query)).unwrap();
        assert!(!answer.items.is_empty(), "{query:?}: nothing to compare");
    }
    let missing = PerformanceQuery {
        table: PerformanceTable::EndpointDatasetSummary,
        dataset: None,
        organisation: None,
        page: Page::default(),
    };
    for (name, metadata) in &adapters.all {
        assert!(
            matches!(metadata.rows(&missing).await, Err(Error::NotFound { .. })),
            "{name}"
        );
        assert_eq!(
            metadata.tables().await.unwrap(),
            [PerformanceTable::ProvisionSummary],
            "{name}"
        );
    }

    for dataset in [None, text("dataset", "conservation-area")] {
        let query = SpecificationQuery {
            dataset,
            page: page(100, 0),
        };
        let answer = same_everywhere!(adapters, |m| m.datasets(&query)).unwrap();
        assert!(!answer.items.is_empty());
    }
}

#[tokio::test]
async fn injection_shaped_values_match_nothing_on_every_adapter() {
    let adapters = adapters().await;
    for value in [
        "x' OR '1'='1",
        "a\"; DROP TABLE issue; --",
        "1 UNION SELECT sql FROM sqlite_master",
    ] {
        let query = IssueQuery::new(
            filters(&[("dataset", value), ("resource", value)]),
            Page::default(),
        )
        .unwrap();
        let answer = same_everywhere!(adapters, |m| m.issues(&query)).unwrap();
        assert_eq!(answer.total, 0, "{value}");
        let query = PerformanceQuery {
            table: PerformanceTable::ProvisionSummary,
            dataset: Some(FilterValue::parse("dataset", value.to_owned()).unwrap()),
            organisation: None,
            page: Page::default(),
        };
        let answer = same_everywhere!(adapters, |m| m.rows(&query)).unwrap();
        assert_eq!(answer.total, 0, "{value}");
    }
}

#[tokio::test]
async fn a_datasette_that_pages_its_tables_is_read_to_the_end() {
    let copy = legacy_copy().await;
    // Four rows a page: the sixteen specifications take several pages of `next_url`.
    let server = DatasetteServer::start(
        copy,
        &[("max_returned_rows", "4"), ("default_page_size", "4")],
    )
    .await;
    let http = Datasette::open_http(std::slice::from_ref(&server.url))
        .await
        .unwrap();
    let files = Datasette::open_files(&[copy.to_owned()]).await.unwrap();
    let query = SpecificationQuery {
        dataset: None,
        page: page(100, 0),
    };
    let paged = http.datasets(&query).await.unwrap();
    assert_eq!(paged, files.datasets(&query).await.unwrap());
    assert!(paged.total > 4, "{}", paged.total);
}
