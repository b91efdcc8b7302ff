//! One contract for the metadata ports, run against every adapter on equivalent data: the
//! Parquet archive (the fixtures) in a folder and on a real S3-compatible server, and the
//! Datasette adapter over a SQLite copy of them built here, both as a file and through a running
//! Datasette. Every adapter must give the same answer
//! to the same query.

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
        ],
        logs: vec![
            (
                "csv",
                Arc::new(
                    CsvCollectionLog::open(&collection_log().to_string_lossy(), None).unwrap(),
                ),
            ),
            ("sqlite", files.clone()),
            ("datasette", http.clone()),
        ],
        catalogs: vec![
            (
                "csv",
                Arc::new(
                    CsvSpecification::open(
                        &fixtures().join("specification").to_string_lossy(),
                        None,
                    )
                    .unwrap(),
                ),
            ),
            ("sqlite", files.clone()),
            ("datasette", http.clone()),
        ],
        configurations: vec![
            (
                "csv",
                Arc::new(
                    CsvConfiguration::open(&fixtures().join("config").to_string_lossy(), None)
                        .unwrap(),
                ),
            ),
            ("sqlite", files),
            ("datasette", http),
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

#[tokio::test]
async fn issue_pages_are_the_same_from_every_adapter() {
    let adapters = adapters().await;
    for (pairs, limit, offset) in [
        (vec![("dataset", "conservation-area")], 100, 0),
        (vec![("dataset", "conservation-area")], 50, 20_000),
        (
            vec![
                ("dataset", "conservation-area-document"),
                ("issue_type", "invalid URI"),
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
        // Repeated filters: rows whose value is any of those given, across datasets.
        (
            vec![
                ("dataset", "conservation-area"),
                ("dataset", "border"),
                ("issue_type", "invalid URI"),
                ("issue_type", "missing value"),
            ],
            100,
            0,
        ),
        (
            vec![
                ("dataset", "conservation-area-document"),
                ("dataset", "conservation-area"),
            ],
            100,
            19_950,
        ),
    ] {
        let query = IssueQuery::new(filters(&pairs), page(limit, offset)).unwrap();
        let answer = same_everywhere!(adapters.all, |m| m.issues(&query)).unwrap();
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
        ("resource,field", vec![("dataset", "conservation-area")], 10),
        (
            "field",
            vec![
                ("dataset", "conservation-area-document"),
                ("issue_type", "invalid URI"),
            ],
            0,
        ),
    ] {
        let query = IssueCountQuery::parse(group_by, filters(&pairs), page(50, offset)).unwrap();
        let answer = same_everywhere!(adapters.all, |m| m.issue_counts(&query)).unwrap();
        assert!(!answer.items.is_empty(), "{group_by}: nothing to compare");
    }
}

#[tokio::test]
async fn issue_counts_come_in_the_order_asked_from_every_adapter() {
    let adapters = adapters().await;
    let by = |order| {
        IssueCountQuery::parse(
            "dataset,issue-type",
            filters(&[("dataset", "conservation-area"), ("dataset", "border")]),
            page(100, 0),
        )
        .unwrap()
        .ordered(order)
    };
    let largest = same_everywhere!(adapters.all, |m| m
        .issue_counts(&by(CountOrder::LargestFirst)))
    .unwrap();
    let smallest = same_everywhere!(adapters.all, |m| m
        .issue_counts(&by(CountOrder::SmallestFirst)))
    .unwrap();
    let by_key =
        same_everywhere!(adapters.all, |m| m.issue_counts(&by(CountOrder::ByKey))).unwrap();
    let counts: Vec<u64> = largest.items.iter().map(|g| g.count).collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
    let counts: Vec<u64> = smallest.items.iter().map(|g| g.count).collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    // Unknown values sort last.
    let keys: Vec<Vec<String>> = by_key
        .items
        .iter()
        .map(|g| {
            g.key
                .iter()
                .map(|(_, v)| v.clone().unwrap_or_else(|| char::MAX.to_string()))
                .collect()
        })
        .collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "{keys:?}");
    let datasets: std::collections::BTreeSet<_> = keys.iter().map(|k| k[0].clone()).collect();
    assert_eq!(datasets.len(), 2, "both datasets are counted: {datasets:?}");
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
        let answer = same_everywhere!(adapters.all, |m| m.rows(&query)).unwrap();
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
        let answer = same_everywhere!(adapters.all, |m| m.datasets(&query)).unwrap();
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
        let answer = same_everywhere!(adapters.all, |m| m.issues(&query)).unwrap();
        assert_eq!(answer.total, 0, "{value}");
        let query = PerformanceQuery {
            table: PerformanceTable::ProvisionSummary,
            dataset: Some(FilterValue::parse("dataset", value.to_owned()).unwrap()),
            organisation: None,
            page: Page::default(),
        };
        let answer = same_everywhere!(adapters.all, |m| m.rows(&query)).unwrap();
        assert_eq!(answer.total, 0, "{value}");
    }
}

#[tokio::test]
async fn a_datasette_that_pages_its_tables_is_read_to_the_end() {
    let copy = legacy_copy().await;
    // Ten rows a page: the sixteen specifications take two pages of `next_url`, and the copy's
    // two dozen tables are listed in several answers.
    let server = DatasetteServer::start(
        copy,
        &[("max_returned_rows", "10"), ("default_page_size", "10")],
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
    assert!(paged.total > 10, "{}", paged.total);
}

fn collection_filters(pairs: &[(&str, &str)]) -> CollectionFilters {
    let mut filters = CollectionFilters::default();
    for (name, value) in pairs {
        let value = FilterValue::parse(name, (*value).to_owned()).unwrap();
        match *name {
            "dataset" => filters.dataset.push(value),
            "organisation" => filters.organisation.push(value),
            "endpoint" => filters.endpoint.push(value),
            "resource" => filters.resource.push(value),
            other => panic!("no filter {other}"),
        }
    }
    filters
}

fn column<'a>(record: &'a sluice_domain::metadata::Record, name: &str) -> &'a str {
    match record.get(name) {
        Some(Value::Text(text)) => text,
        other => panic!("{name}: {other:?}"),
    }
}

#[tokio::test]
async fn the_collection_log_is_the_same_from_every_adapter() {
    let adapters = adapters().await;
    for (pairs, expected) in [
        (vec![], 9),
        // Fetches from the endpoints feeding it for Southwark, the failed one included.
        (
            vec![
                ("dataset", "listed-building-outline"),
                ("organisation", "local-authority-eng:SWK"),
            ],
            5,
        ),
        (vec![("dataset", "tree")], 3),
        (vec![("organisation", "local-authority-eng:CAT")], 5),
        (vec![("endpoint", FED)], 2),
        (vec![("resource", MULTI)], 1),
        (vec![("dataset", "listed-building")], 0),
        (vec![("dataset", "tree"), ("dataset", "listed-building")], 3),
        (vec![("endpoint", FED), ("endpoint", SHARED)], 3),
        (
            vec![
                ("dataset", "x' OR '1'='1"),
                ("endpoint", "'; DROP TABLE log; --"),
            ],
            0,
        ),
    ] {
        let query = CollectionLogQuery {
            filters: collection_filters(&pairs),
            page: page(100, 0),
        };
        let answer = same_everywhere!(adapters.logs, |m| m.log_entries(&query)).unwrap();
        assert_eq!(answer.total, expected, "{pairs:?}");
        let dates: Vec<&str> = answer
            .items
            .iter()
            .map(|r| column(r, "entry-date"))
            .collect();
        assert!(dates.is_sorted(), "{pairs:?}: {dates:?}");
    }
    let second_page = CollectionLogQuery {
        filters: CollectionFilters::default(),
        page: page(3, 6),
    };
    let answer = same_everywhere!(adapters.logs, |m| m.log_entries(&second_page)).unwrap();
    assert_eq!(answer.items.len(), 3);
    assert_eq!(
        column(&answer.items[0], "content-type"),
        "",
        "the failed fetch"
    );
}

#[tokio::test]
async fn resources_are_the_same_from_every_adapter() {
    let adapters = adapters().await;
    for (pairs, expected) in [
        (vec![], 8),
        (vec![("dataset", "listed-building-outline")], 6),
        (vec![("dataset", "tree")], 1),
        (vec![("endpoint", FED)], 2),
        (
            vec![
                ("organisation", "local-authority-eng:CAT"),
                ("dataset", "locally-listed-building"),
            ],
            1,
        ),
        (vec![("resource", MULTI), ("endpoint", SHARED)], 1),
        (vec![("dataset", "listed-building")], 0),
        // A repeated filter accepts any of its values.
        (
            vec![("dataset", "tree"), ("dataset", "listed-building-outline")],
            6,
        ),
        (
            vec![
                ("dataset", "tree"),
                ("dataset", "locally-listed-building"),
                ("organisation", "local-authority-eng:CAT"),
            ],
            2,
        ),
    ] {
        let query = ResourceQuery {
            filters: collection_filters(&pairs),
            page: page(100, 0),
        };
        let answer = same_everywhere!(adapters.logs, |m| m.resources(&query)).unwrap();
        assert_eq!(answer.total, expected, "{pairs:?}");
    }
}

#[tokio::test]
async fn an_export_holds_every_page_in_order_on_every_adapter() {
    use futures::TryStreamExt;
    let adapters = adapters().await;
    for pairs in [
        vec![
            ("dataset", "border"),
            ("dataset", "conservation-area-document"),
        ],
        vec![
            ("dataset", "conservation-area"),
            ("issue_type", "missing value"),
            ("issue_type", "invalid date"),
        ],
    ] {
        let whole = IssueQuery::new(filters(&pairs), Page::default()).unwrap();
        let exported = same_everywhere!(adapters.all, |m| async {
            m.export(&whole).await?.try_concat().await
        })
        .unwrap();
        let (_, parquet) = &adapters.all[0];
        let mut paged = Vec::new();
        for offset in (0..).step_by(100) {
            let query = IssueQuery::new(filters(&pairs), page(100, offset)).unwrap();
            let page = parquet.issues(&query).await.unwrap();
            if page.items.is_empty() {
                break;
            }
            paged.extend(page.items);
        }
        assert!(
            exported.len() > EXPORT_CHUNK_OF_DATASETTE,
            "{pairs:?}: {}",
            exported.len()
        );
        assert_eq!(exported, paged, "{pairs:?}");
    }
}

/// More rows than the Datasette adapter reads at once, so that exports span several chunks.
const EXPORT_CHUNK_OF_DATASETTE: usize = 1000;

#[tokio::test]
async fn the_specification_tables_are_the_same_from_every_adapter() {
    let adapters = adapters().await;
    for dataset in ["conservation-area", "address", "tree", "no-such-dataset"] {
        let entry = same_everywhere!(adapters.catalogs, |c| c.dataset(dataset));
        if dataset == "no-such-dataset" {
            assert!(matches!(entry, Err(Error::NotFound { .. })), "{entry:?}");
        } else {
            let entry = entry.unwrap();
            assert!(!entry.fields.is_empty(), "{dataset}: no fields");
            assert!(
                entry.dataset.get("key-field").is_some(),
                "{dataset}: {entry:?}"
            );
        }
    }
    for field in ["reference", "geometry", "no-such-field"] {
        let entry = same_everywhere!(adapters.catalogs, |c| c.field(field));
        if field == "no-such-field" {
            assert!(matches!(entry, Err(Error::NotFound { .. })), "{entry:?}");
        } else {
            assert!(
                !entry.unwrap().datasets.is_empty(),
                "{field}: in no dataset"
            );
        }
    }
}

#[tokio::test]
async fn the_configuration_is_the_same_from_every_adapter() {
    let adapters = adapters().await;
    let mut tables = vec![ConfigurationTable::Endpoints, ConfigurationTable::Sources];
    tables.extend(RuleKind::ALL.into_iter().map(ConfigurationTable::Rules));
    let mut rows_seen = 0;
    for collection in ["border", "listed-building", "no-such-collection"] {
        for table in &tables {
            for (limit, offset) in [(100, 0), (2, 1)] {
                let query = ConfigurationQuery {
                    collection: CollectionName::parse(collection).unwrap(),
                    table: *table,
                    page: page(limit, offset),
                };
                let answer = same_everywhere!(adapters.configurations, |c| c.rows(&query));
                match answer {
                    Ok(paged) => rows_seen += paged.items.len(),
                    Err(Error::NotFound { .. }) => {}
                    Err(other) => panic!("{collection} {table}: {other:?}"),
                }
            }
        }
    }
    assert!(
        rows_seen > 10,
        "the fixtures' configuration has rows to compare"
    );
}
