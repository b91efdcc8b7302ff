//! The metadata endpoints over the real fixtures, checked against DuckDB on the same files.

use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{Options, S3Server, TestServer, duckdb, fixtures};

const ISSUE_ORDER: &str =
    r#"dataset, resource, "line-number", "entry-number", field, "issue-type", value, message"#;

async fn on_fixtures() -> TestServer {
    TestServer::start(Options {
        archive: fixtures().join("collection-archive"),
        env: vec![
            (
                "SLUICE__CONFIGURATION__URL",
                fixtures().join("config").to_string_lossy().into_owned(),
            ),
            (
                "SLUICE__SPECIFICATION__URL",
                fixtures()
                    .join("specification")
                    .to_string_lossy()
                    .into_owned(),
            ),
            (
                "SLUICE__COLLECTION_LOG__URL",
                fixtures()
                    .join("collection-log")
                    .to_string_lossy()
                    .into_owned(),
            ),
        ],
        ..Options::default()
    })
    .await
}

/// Every endpoint's answers on the fixtures, each checked against DuckDB's on the same files.
async fn answers_match_duckdb(server: &TestServer) {
    issue_pages_match_duckdb_row_for_row(server).await;
    issue_counts_match_duckdbs_group_by(server).await;
    the_provision_summary_is_filtered_like_duckdb_filters_it(server).await;
    specifications_list_every_dataset_of_the_specification_file(server).await;
    configuration_tables_match_their_csv_files(server).await;
    specification_tables_match_their_csv_files(server).await;
    the_collection_log_matches_duckdb_on_its_csv_files(server).await;
    v2_issue_pages_walk_the_file_order_of_several_datasets(server).await;
    v2_issue_counts_match_duckdbs_group_by(server).await;
}

async fn the_collection_log_matches_duckdb_on_its_csv_files(server: &TestServer) {
    let folder = fixtures().join("collection-log");
    let csv = |file: &str| {
        format!(
            "read_csv('{}/{file}', all_varchar = true)",
            folder.display()
        )
    };
    let (log, resources) = (csv("log.csv"), csv("resource.csv"));
    let dataset = "listed-building-outline";
    let organisation = "local-authority-eng:SWK";
    // A fetch belongs to the datasets and organisations of the resources its endpoint produced.
    let expected = duckdb(&format!(
        "SELECT l.endpoint, l.resource, l.\"entry-date\" FROM {log} l \
         WHERE EXISTS (SELECT 1 FROM {resources} r \
                       WHERE list_contains(string_split(r.endpoints, ';'), l.endpoint) \
                         AND list_contains(string_split(r.datasets, ';'), '{dataset}') \
                         AND list_contains(string_split(r.organisations, ';'), '{organisation}')) \
         ORDER BY l.\"entry-date\", l.endpoint, l.resource"
    ));
    let (rows, total) = server
        .get_page(&format!(
            "/v1/log/collection?dataset={dataset}&organisation={organisation}&limit=100"
        ))
        .await;
    assert!(total > 0 && total == expected.len() as u64, "{total}");
    let got: Vec<Vec<Value>> = rows
        .iter()
        .map(|r| {
            vec![
                r["endpoint"].clone(),
                r["resource"].clone(),
                r["entry-date"].clone(),
            ]
        })
        .collect();
    assert_eq!(got, expected);

    let (rows, total) = server.get_page("/v1/log/collection?limit=2&offset=1").await;
    assert_eq!(total, count(&format!("SELECT count(*) FROM {log}")));
    assert_eq!(rows.len(), 2);
    assert!(rows[0].get("content-type").is_some(), "{rows:?}");

    let expected = duckdb(&format!(
        "SELECT resource FROM {resources} \
         WHERE list_contains(string_split(datasets, ';'), '{dataset}') \
         ORDER BY \"start-date\", resource"
    ));
    let (rows, total) = server
        .get_page(&format!("/v1/resource?dataset={dataset}&limit=100"))
        .await;
    assert_eq!(total, expected.len() as u64);
    let got: Vec<Vec<Value>> = rows.iter().map(|r| vec![r["resource"].clone()]).collect();
    assert_eq!(got, expected);
}

async fn specification_tables_match_their_csv_files(server: &TestServer) {
    let csv = |file: &str| {
        format!(
            "read_csv('{}/specification/{file}', all_varchar = true)",
            fixtures().display()
        )
    };
    let (status, dataset) = server
        .get("/v1/specification/datasets/conservation-area")
        .await;
    assert_eq!(status, 200, "{dataset}");
    let expected = duckdb(&format!(
        "SELECT name, typology FROM {} WHERE dataset = 'conservation-area'",
        csv("dataset.csv")
    ));
    assert_eq!(
        vec![dataset["name"].clone(), dataset["typology"].clone()],
        expected[0]
    );
    let fields: Vec<Value> = duckdb(&format!(
        "SELECT field FROM {} WHERE dataset = 'conservation-area'",
        csv("dataset-field.csv")
    ))
    .into_iter()
    .map(|r| r[0].clone())
    .collect();
    let got: Vec<Value> = dataset["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].clone())
        .collect();
    assert_eq!(got, fields);

    let (status, field) = server.get("/v1/specification/fields/geometry").await;
    assert_eq!(status, 200, "{field}");
    assert_eq!(
        field["datasets"].as_array().unwrap().len() as u64,
        count(&format!(
            "SELECT count(*) FROM {} WHERE field = 'geometry'",
            csv("dataset-field.csv")
        ))
    );
    for path in [
        "/v1/specification/datasets/no-such-dataset",
        "/v1/specification/fields/no-such-field",
    ] {
        let (status, problem) = server.get(path).await;
        assert_eq!(status, 404, "{path}: {problem}");
    }
}

async fn configuration_tables_match_their_csv_files(server: &TestServer) {
    let config = fixtures().join("config");
    let csv = |file: &str| {
        format!(
            "read_csv('{}/{file}', all_varchar = true)",
            config.display()
        )
    };
    let (status, overview) = server.get("/v1/configuration/border").await;
    assert_eq!(status, 200, "{overview}");
    for (key, file) in [
        ("endpoints", "collection/border/endpoint.csv"),
        ("sources", "collection/border/source.csv"),
    ] {
        assert_eq!(
            overview[key],
            count(&format!("SELECT count(*) FROM {}", csv(file))),
            "{key}"
        );
    }
    assert_eq!(
        overview["rules"]["lookup"],
        count(&format!(
            "SELECT count(*) FROM {}",
            csv("pipeline/border/lookup.csv")
        ))
    );

    let (rows, total) = server
        .get_page("/v1/configuration/border/endpoints?limit=3&offset=2")
        .await;
    let file = csv("collection/border/endpoint.csv");
    assert_eq!(total, count(&format!("SELECT count(*) FROM {file}")));
    let expected = duckdb(&format!(
        "SELECT endpoint, \"endpoint-url\" FROM {file} LIMIT 3 OFFSET 2"
    ));
    let got: Vec<Vec<Value>> = rows
        .iter()
        .map(|r| vec![r["endpoint"].clone(), r["endpoint-url"].clone()])
        .collect();
    assert_eq!(got, expected);

    let (rows, total) = server
        .get_page("/v1/configuration/border/rules/default-value?limit=100")
        .await;
    assert_eq!(
        total,
        count(&format!(
            "SELECT count(*) FROM {}",
            csv("pipeline/border/default-value.csv")
        ))
    );
    assert!(rows.iter().all(|r| r.get("field").is_some()), "{rows:?}");

    for path in [
        "/v1/configuration/no-such-collection",
        "/v1/configuration/border/rules/no-such-rule",
        "/v1/configuration/border/rules/old-entity",
    ] {
        let (status, problem) = server.get(path).await;
        assert_eq!(status, 404, "{path}: {problem}");
    }
    let (status, problem) = server
        .get("/v1/configuration/..%2F..%2Fetc/endpoints")
        .await;
    assert!(status == 404 || status == 422, "{status}: {problem}");
}

#[tokio::test]
async fn an_archive_in_a_folder_answers_like_duckdb() {
    answers_match_duckdb(&on_fixtures().await).await;
}

#[tokio::test]
async fn an_archive_on_an_s3_compatible_server_answers_like_duckdb() {
    let s3 = S3Server::start().await;
    s3.upload(
        &fixtures().join("collection-archive"),
        "pipelines",
        "archive/v1",
    )
    .await;
    s3.upload(&fixtures().join("config"), "pipelines", "config")
        .await;
    s3.upload(
        &fixtures().join("specification"),
        "pipelines",
        "specification",
    )
    .await;
    s3.upload(
        &fixtures().join("collection-log"),
        "pipelines",
        "collection-log",
    )
    .await;
    let mut env = s3.env();
    env.push(("SLUICE__CONFIGURATION__URL", "s3://pipelines/config".into()));
    env.push((
        "SLUICE__SPECIFICATION__URL",
        "s3://pipelines/specification".into(),
    ));
    env.push((
        "SLUICE__COLLECTION_LOG__URL",
        "s3://pipelines/collection-log".into(),
    ));
    let server = TestServer::start(Options {
        archive: "s3://pipelines/archive/v1".into(),
        env,
        ..Options::default()
    })
    .await;
    answers_match_duckdb(&server).await;
}

fn partitioned_issues() -> String {
    format!(
        "read_parquet('{}/collection-archive/log/issue/*/*/*.parquet', hive_partitioning=true, \
         union_by_name=true, filename=true, file_row_number=true)",
        fixtures().display()
    )
}

/// The order of `/v1/log/issue`: dataset, resource, then each row's position in its file.
const FILE_ORDER: &str = "dataset, resource, filename, file_row_number";

/// DuckDB's rows as the API keys them.
fn issue_objects(rows: Vec<Vec<Value>>) -> Vec<Value> {
    rows.into_iter()
        .map(|r| {
            json!({
                "dataset": r[0], "resource": r[1], "line-number": r[2], "entry-number": r[3],
                "field": r[4], "issue-type": r[5], "value": r[6], "message": r[7],
            })
        })
        .collect()
}

fn count(sql: &str) -> u64 {
    duckdb(sql)[0][0].as_u64().unwrap()
}

async fn issue_pages_match_duckdb_row_for_row(server: &TestServer) {
    let issues = partitioned_issues();
    // A page that starts 3 rows before the end of the dataset's first resource.
    let first_resource = count(&format!(
        "SELECT count(*) FROM {issues} WHERE dataset = 'conservation-area' \
         GROUP BY resource ORDER BY resource LIMIT 1"
    ));
    let across = format!(
        "dataset=conservation-area&offset={}&limit=10",
        first_resource - 3
    );
    for (query, filter) in [
        ("dataset=conservation-area", "dataset = 'conservation-area'"),
        (across.as_str(), "dataset = 'conservation-area'"),
        (
            "dataset=conservation-area-document&issue_type=invalid%20URI&offset=100&limit=100",
            "dataset = 'conservation-area-document' AND \"issue-type\" = 'invalid URI'",
        ),
        (
            "dataset=conservation-area&field=geometry&limit=7&offset=3",
            "dataset = 'conservation-area' AND field = 'geometry'",
        ),
    ] {
        let (rows, total) = server.get_page(&format!("/v1/log/issue?{query}")).await;
        assert_eq!(
            total,
            count(&format!("SELECT count(*) FROM {issues} WHERE {filter}")),
            "{query}"
        );
        let (offset, limit) = page_of(query);
        let expected = issue_objects(duckdb(&format!(
            "SELECT {ISSUE_ORDER} FROM {issues} WHERE {filter} ORDER BY {FILE_ORDER} LIMIT {limit} OFFSET {offset}"
        )));
        assert!(!expected.is_empty(), "{query}");
        assert_eq!(rows, expected, "{query}");
    }
}

fn page_of(query: &str) -> (u64, u64) {
    let param = |name: &str, default: u64| {
        query
            .split('&')
            .find_map(|p| p.strip_prefix(&format!("{name}=")))
            .map_or(default, |v| v.parse().unwrap())
    };
    (param("offset", 0), param("limit", 50))
}

#[tokio::test]
async fn a_resource_filter_and_a_page_past_the_end_answer_with_the_right_total() {
    let server = on_fixtures().await;
    let issues = partitioned_issues();
    let resource = duckdb(&format!(
        "SELECT resource FROM {issues} WHERE dataset = 'conservation-area' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    ))[0][0]
        .as_str()
        .unwrap()
        .to_owned();
    let expected = count(&format!(
        "SELECT count(*) FROM {issues} WHERE dataset = 'conservation-area' AND resource = '{resource}'"
    ));
    let (rows, total) = server
        .get_page(&format!(
            "/v1/log/issue?dataset=conservation-area&resource={resource}&offset={expected}"
        ))
        .await;
    assert_eq!(total, expected);
    assert!(rows.is_empty());
}

#[tokio::test]
async fn a_flat_issue_log_is_read_like_a_partitioned_one() {
    let flat = fixtures().join("issue-log-flat");
    let server = TestServer::start(Options {
        archive: flat.clone(),
        env: vec![("SLUICE__ARCHIVE__ISSUE_PATH", String::new())],
        ..Options::default()
    })
    .await;
    let file = format!(
        "read_parquet('{}/issues.parquet', filename=true, file_row_number=true)",
        flat.display()
    );
    let dataset = duckdb(&format!(
        "SELECT dataset FROM {file} GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    ))[0][0]
        .as_str()
        .unwrap()
        .to_owned();
    let (rows, total) = server
        .get_page(&format!("/v1/log/issue?dataset={dataset}&limit=100"))
        .await;
    let expected = issue_objects(duckdb(&format!(
        "SELECT {ISSUE_ORDER} FROM {file} WHERE dataset = '{dataset}' ORDER BY {FILE_ORDER}"
    )));
    assert_eq!(total, expected.len() as u64);
    assert_eq!(rows, expected);
}

async fn issue_counts_match_duckdbs_group_by(server: &TestServer) {
    let issues = partitioned_issues();
    let (rows, total) = server
        .get_page("/v1/performance/issues?group_by=dataset,issue-type&limit=100")
        .await;
    let expected = duckdb(&format!(
        r#"SELECT dataset, "issue-type", count(*) AS n FROM {issues} GROUP BY ALL ORDER BY n DESC, dataset, "issue-type""#
    ));
    assert_eq!(total, expected.len() as u64);
    let expected: Vec<Value> = expected
        .into_iter()
        .take(100)
        .map(|r| json!({"dataset": r[0], "issue-type": r[1], "count": r[2]}))
        .collect();
    assert_eq!(rows, expected);

    let (rows, _) = server
        .get_page(
            "/v1/performance/issues?group_by=field,resource&dataset=conservation-area&limit=5",
        )
        .await;
    let expected: Vec<Value> = duckdb(&format!(
        "SELECT field, resource, count(*) AS n FROM {issues} WHERE dataset = 'conservation-area' GROUP BY ALL ORDER BY n DESC, field NULLS LAST, resource LIMIT 5"
    ))
    .into_iter()
    .map(|r| json!({"field": r[0], "resource": r[1], "count": r[2]}))
    .collect();
    assert_eq!(rows, expected);
}

async fn the_provision_summary_is_filtered_like_duckdb_filters_it(server: &TestServer) {
    let file = format!(
        "'{}/collection-archive/data/performance/provision_summary.parquet'",
        fixtures().display()
    );
    let (rows, total) = server
        .get_page("/v1/performance/provision_summary?dataset=conservation-area&limit=100")
        .await;
    assert_eq!(
        total,
        count(&format!(
            "SELECT count(*) FROM {file} WHERE dataset = 'conservation-area'"
        ))
    );
    assert!(rows.iter().all(|r| r["dataset"] == "conservation-area"));
    assert!(rows[0]["active_endpoint_count"].is_i64(), "{}", rows[0]);

    let organisation = rows[0]["organisation"].as_str().unwrap().to_owned();
    let (_, total) = server
        .get_page(&format!(
            "/v1/performance/provision_summary?organisation={organisation}"
        ))
        .await;
    assert_eq!(
        total,
        count(&format!(
            "SELECT count(*) FROM {file} WHERE organisation = '{organisation}'"
        ))
    );

    let (status, problem) = server.get("/v1/performance/issue_type_summary").await;
    assert_eq!(status, 404, "{problem}");
}

async fn specifications_list_every_dataset_of_the_specification_file(server: &TestServer) {
    let file = format!(
        "'{}/collection-archive/data/specification/specification.parquet'",
        fixtures().display()
    );
    let expected = count(&format!(
        "SELECT sum(json_array_length(json::JSON)) FROM {file}"
    ));
    let (_, total) = server.get_page("/v1/specification/specification").await;
    assert_eq!(total, expected);

    // Each item is the dataset's entry as the file stores it, every key in its order, nothing
    // added; by specification, then in each specification's own order (offsets across them).
    let mut stored = Vec::new();
    for row in duckdb(&format!(
        "SELECT specification, json FROM {file} ORDER BY specification"
    )) {
        let document: Value = serde_json::from_str(row[1].as_str().unwrap()).unwrap();
        stored.extend(document.as_array().unwrap().iter().map(Value::to_string));
    }
    let mut served = Vec::new();
    while served.len() < stored.len() {
        let (items, _) = server
            .get_page(&format!(
                "/v1/specification/specification?limit=7&offset={}",
                served.len()
            ))
            .await;
        assert!(!items.is_empty(), "a page ended the list early");
        served.extend(items.iter().map(Value::to_string));
    }
    assert_eq!(served, stored);

    let (rows, total) = server
        .get_page("/v1/specification/specification?dataset=conservation-area")
        .await;
    assert!(total >= 1);
    assert!(rows.iter().all(|r| r["dataset"] == "conservation-area"));
    assert!(
        rows[0]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["field"] == "reference")
    );
}

#[tokio::test]
async fn injection_shaped_values_are_only_ever_values() {
    let server = on_fixtures().await;
    for value in [
        "x' OR '1'='1",
        "conservation-area'; DROP TABLE issue; --",
        "SELECT * FROM issue",
        "\" OR 1=1 --",
    ] {
        let encoded: String = url_encode(value);
        for path in [
            format!("/v1/log/issue?dataset={encoded}"),
            format!("/v1/log/issue?dataset=conservation-area&resource={encoded}"),
            format!("/v1/performance/issues?dataset={encoded}"),
            format!("/v1/performance/provision_summary?organisation={encoded}"),
            format!("/v1/specification/specification?dataset={encoded}"),
        ] {
            let (rows, total) = server.get_page(&path).await;
            assert_eq!((rows.len(), total), (0, 0), "{path}");
        }
        let (status, problem) = server
            .get(&format!("/v1/performance/issues?group_by={encoded}"))
            .await;
        assert_eq!(status, 422, "{problem}");
    }
}

fn url_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_folder(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[tokio::test]
async fn files_added_to_the_archive_appear_after_the_listing_refresh_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let issues = fixtures().join("collection-archive/log/issue/dataset=border");
    let mut resources: Vec<_> = std::fs::read_dir(&issues)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    resources.sort();
    let (first, rest) = resources.split_first().unwrap();
    copy_folder(
        first,
        &archive
            .join("log/issue/dataset=border")
            .join(first.file_name().unwrap()),
    );
    let server = TestServer::start(Options {
        archive: archive.clone(),
        env: vec![("SLUICE__ARCHIVE__LISTING_REFRESH_SECS", "1".into())],
        ..Options::default()
    })
    .await;
    let (_, before) = server.get_page("/v1/log/issue?dataset=border").await;
    // Counts answered now are kept (the partitions' summaries); they must not outlive the files.
    assert_eq!(border_issues_counted(&server).await, before);

    for resource in rest {
        copy_folder(
            resource,
            &archive
                .join("log/issue/dataset=border")
                .join(resource.file_name().unwrap()),
        );
    }
    let expected = count(&format!(
        "SELECT count(*) FROM read_parquet('{}/*/*.parquet')",
        issues.display()
    ));
    assert!(expected > before, "the fixture should add rows");
    let started = Instant::now();
    loop {
        let (_, total) = server.get_page("/v1/log/issue?dataset=border").await;
        if total == expected {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still {total} rows, not {expected}, long after the refresh interval"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(border_issues_counted(&server).await, expected);

    // A partition whose file is replaced is counted anew.
    let changed = archive
        .join("log/issue/dataset=border")
        .join(first.file_name().unwrap());
    for file in std::fs::read_dir(&changed).unwrap() {
        std::fs::remove_file(file.unwrap().path()).unwrap();
    }
    write_issue_file(&changed, &[(1, "geometry", "x")]);
    let kept = expected
        - count(&format!(
            "SELECT count(*) FROM read_parquet('{}/*.parquet')",
            first.display()
        ))
        + 1;
    let started = Instant::now();
    while border_issues_counted(&server).await != kept {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the replaced file is still counted long after the refresh interval"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A restarted process reads what the one before learnt of the archive (each file's row count,
/// each partition's summary) from `archive.index_dir`, rather than every footer and partition.
#[tokio::test]
async fn a_restart_answers_from_the_archive_index_without_reading_the_archive_again() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let border = fixtures().join("collection-archive/log/issue/dataset=border");
    copy_folder(&border, &archive.join("log/issue/dataset=border"));
    let options = || Options {
        archive: archive.clone(),
        ..Options::default()
    };
    let server = TestServer::start(options()).await;
    let counts = "/v2/issues/counts?dataset=border&group_by=resource,field,issue_type&limit=1000";
    let page = "/v1/log/issue?dataset=border&offset=40&limit=20";
    let (_, counted) = server.get(counts).await;
    let (_, paged) = server.get(page).await;
    assert!(counted["items"].as_array().unwrap().len() > 1, "{counted}");
    assert_eq!(
        read_archive_metrics(&server).await,
        [true, true],
        "the first process reads the archive"
    );

    // Written a little after it was learnt: wait for every file and partition to be in it.
    let files = count(&format!(
        "SELECT count(*) FROM glob('{}/*/*.parquet')",
        border.display()
    ));
    let partitions = std::fs::read_dir(&border).unwrap().count();
    let index_dir = server.data.parent().unwrap().join("state/archive-index");
    let started = Instant::now();
    loop {
        let index: Option<Value> = std::fs::read_dir(&index_dir)
            .ok()
            .and_then(|mut entries| {
                entries.find_map(|e| {
                    let path = e.ok()?.path();
                    (path.extension()? == "json").then_some(path)
                })
            })
            .and_then(|path| serde_json::from_slice(&std::fs::read(path).ok()?).ok());
        let held = index.as_ref().map_or((0, 0), |index| {
            (
                index["footers"].as_array().map_or(0, Vec::len),
                index["summaries"].as_array().map_or(0, Vec::len),
            )
        });
        if held == (files as usize, partitions) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the index holds {held:?} footers and summaries, not {:?}",
            (files, partitions)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let server = server.restart(options()).await;
    assert_eq!(server.get(counts).await.1, counted);
    assert_eq!(server.get(page).await.1, paged);
    assert_eq!(
        read_archive_metrics(&server).await,
        [false, false],
        "the restarted process answered from the index"
    );
}

/// Whether the process read any footer for its row count, and summarised any partition.
async fn read_archive_metrics(server: &TestServer) -> [bool; 2] {
    let text = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    [
        "sluice_archive_footers_read_total",
        "sluice_archive_partitions_summarised_total",
    ]
    .map(|name| {
        text.lines()
            .filter(|line| line.starts_with(name))
            .any(|line| line.rsplit(' ').next() != Some("0"))
    })
}

/// The issues of `border`, as its counts by resource add up.
async fn border_issues_counted(server: &TestServer) -> u64 {
    let (groups, _) = server
        .get_page("/v1/performance/issues?dataset=border&group_by=resource&limit=100")
        .await;
    groups.iter().map(|g| g["count"].as_u64().unwrap()).sum()
}

#[tokio::test]
async fn the_embedded_default_serves_the_sample_archive() {
    let server = TestServer::start(Options::default()).await;
    let (rows, total) = server
        .get_page("/v1/log/issue?dataset=conservation-area&limit=1")
        .await;
    assert!(total > 1000, "{total}");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["dataset"], "conservation-area");
    let (rows, total) = server.get_page("/v1/log/collection?limit=1").await;
    assert!(total > 0, "{total}");
    assert_eq!(rows.len(), 1);
    let (_, total) = server.get_page("/v1/resource").await;
    assert!(total > 0, "{total}");
}

/// Writes one resource's issue file with its rows in the order given (not sorted any way).
fn write_issue_file(folder: &Path, rows: &[(i64, &str, &str)]) {
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::parquet::arrow::ArrowWriter;
    use std::sync::Arc;

    std::fs::create_dir_all(folder).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("line-number", DataType::Int64, true),
        Field::new("entry-number", DataType::Int64, true),
        Field::new("field", DataType::Utf8, true),
        Field::new("issue-type", DataType::Utf8, true),
        Field::new("value", DataType::Utf8, true),
        Field::new("message", DataType::Utf8, true),
    ]));
    let text = |values: Vec<&str>| Arc::new(StringArray::from(values));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.0 * 10).collect::<Vec<_>>(),
            )),
            text(rows.iter().map(|r| r.1).collect()),
            text(vec!["invalid"; rows.len()]),
            text(rows.iter().map(|r| r.2).collect()),
            text(vec!["a message"; rows.len()]),
        ],
    )
    .unwrap();
    let file = std::fs::File::create(folder.join("issues.parquet")).unwrap();
    let mut writer = ArrowWriter::try_new(file, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// `/v1/log/issue` answers each resource's rows in the order its file holds them, as the
/// service Sluice replaces does: by dataset, resource, then position in the file, whatever the
/// rows' values; pages run across resources.
#[tokio::test]
async fn issue_pages_follow_each_file_s_row_order_across_resources() {
    let archive = tempfile::tempdir().unwrap();
    let issues = archive.path().join("log/issue/dataset=tree");
    let first = [(9, "z", "9"), (2, "b", "2"), (5, "a", "5"), (1, "m", "1")];
    let second = [(3, "y", "3"), (3, "a", "3"), (1, "q", "1")];
    write_issue_file(&issues.join("resource=r1"), &first);
    write_issue_file(&issues.join("resource=r2"), &second);
    let server = TestServer::start(Options {
        archive: archive.path().to_owned(),
        ..Options::default()
    })
    .await;
    let written: Vec<(String, i64, String)> = first
        .iter()
        .map(|r| ("r1", r))
        .chain(second.iter().map(|r| ("r2", r)))
        .map(|(resource, r)| (resource.to_owned(), r.0, r.1.to_owned()))
        .collect();
    for filter in ["", "&issue_type=invalid"] {
        let mut served = Vec::new();
        for offset in (0..written.len()).step_by(3) {
            let (rows, total) = server
                .get_page(&format!(
                    "/v1/log/issue?dataset=tree{filter}&limit=3&offset={offset}"
                ))
                .await;
            assert_eq!(total, written.len() as u64);
            served.extend(rows.iter().map(|r| {
                (
                    r["resource"].as_str().unwrap().to_owned(),
                    r["line-number"].as_i64().unwrap(),
                    r["field"].as_str().unwrap().to_owned(),
                )
            }));
        }
        assert_eq!(served, written, "{filter}");
    }
}

/// DuckDB's issue rows as `/v2` answers them: snake_case keys, empty text `null`.
fn v2_issue_objects(rows: Vec<Vec<Value>>) -> Vec<Value> {
    let text = |v: &Value| match v {
        Value::String(s) if s.is_empty() => Value::Null,
        other => other.clone(),
    };
    rows.into_iter()
        .map(|r| {
            json!({
                "dataset": r[0], "resource": r[1], "line_number": r[2], "entry_number": r[3],
                "field": text(&r[4]), "issue_type": text(&r[5]), "value": text(&r[6]),
                "message": text(&r[7]),
            })
        })
        .collect()
}

/// Every page of a `/v2` list, following `next_cursor` from `path`.
async fn walk(server: &TestServer, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut next = path.to_owned();
    loop {
        let (status, page) = server.get(&next).await;
        assert_eq!(status, 200, "{next}: {page}");
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => next = format!("{path}&cursor={cursor}"),
            None => return items,
        }
    }
}

async fn v2_issue_pages_walk_the_file_order_of_several_datasets(server: &TestServer) {
    let issues = partitioned_issues();
    let expected = v2_issue_objects(duckdb(&format!(
        "SELECT {ISSUE_ORDER} FROM {issues} \
         WHERE dataset IN ('border', 'conservation-area-document') \
           AND \"issue-type\" IN ('unknown entity', 'invalid URI') \
         ORDER BY {FILE_ORDER}"
    )));
    assert!(expected.len() > 900, "{}", expected.len());
    let served = walk(
        server,
        "/v2/issues?dataset=border&dataset=conservation-area-document\
         &issue_type=unknown%20entity&issue_type=invalid%20URI&limit=300",
    )
    .await;
    assert_eq!(served.len(), expected.len());
    assert_eq!(served, expected);
}

async fn v2_issue_counts_match_duckdbs_group_by(server: &TestServer) {
    let issues = partitioned_issues();
    let expected: Vec<Value> = duckdb(&format!(
        "SELECT dataset, \"issue-type\", count(*) FROM {issues} \
         WHERE dataset IN ('border', 'conservation-area') \
         GROUP BY ALL ORDER BY dataset, \"issue-type\" NULLS LAST"
    ))
    .into_iter()
    .map(|r| json!({"dataset": r[0], "issue_type": r[1], "count": r[2]}))
    .collect();
    let served = walk(
        server,
        "/v2/issues/counts?group_by=dataset,issue_type&order_by=key\
         &dataset=border&dataset=conservation-area&limit=4",
    )
    .await;
    assert!(expected.len() > 4, "more than one page");
    assert_eq!(served, expected);
}

/// `organisation=` keeps the issues of the resources the collection log says it published.
#[tokio::test]
async fn v2_issues_of_an_organisation_are_those_of_its_resources() {
    let issues = partitioned_issues();
    let published = duckdb(&format!(
        "SELECT DISTINCT resource FROM {issues} WHERE dataset = 'conservation-area' \
         ORDER BY resource LIMIT 2"
    ));
    let (first, second) = (
        published[0][0].as_str().unwrap(),
        published[1][0].as_str().unwrap(),
    );
    let log = tempfile::tempdir().unwrap();
    std::fs::write(
        log.path().join("log.csv"),
        "bytes,content-type,elapsed,endpoint,resource,status,entry-date,start-date,end-date,exception\n",
    )
    .unwrap();
    std::fs::write(
        log.path().join("resource.csv"),
        format!(
            "resource,bytes,organisations,datasets,endpoints,start-date,end-date\n\
             {first},10,local-authority-eng:AAA;local-authority-eng:BBB,conservation-area,e1,2021-01-01,\n\
             {second},10,local-authority-eng:BBB,conservation-area,e2,2021-01-02,\n"
        ),
    )
    .unwrap();
    let server = TestServer::start(Options {
        archive: fixtures().join("collection-archive"),
        env: vec![(
            "SLUICE__COLLECTION_LOG__URL",
            log.path().to_string_lossy().into_owned(),
        )],
        ..Options::default()
    })
    .await;
    for (organisation, resources) in [
        ("local-authority-eng:AAA", format!("'{first}'")),
        ("local-authority-eng:BBB", format!("'{first}', '{second}'")),
    ] {
        let expected = v2_issue_objects(duckdb(&format!(
            "SELECT {ISSUE_ORDER} FROM {issues} \
             WHERE dataset = 'conservation-area' AND resource IN ({resources}) \
             ORDER BY {FILE_ORDER}"
        )));
        let served = walk(
            &server,
            &format!("/v2/issues?dataset=conservation-area&organisation={organisation}&limit=1000"),
        )
        .await;
        assert!(!expected.is_empty());
        assert_eq!(served, expected, "{organisation}");
        let (_, counts) = server
            .get(&format!(
                "/v2/issues/counts?group_by=resource&organisation={organisation}&order_by=key"
            ))
            .await;
        let counted: u64 = counts["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["count"].as_u64().unwrap())
            .sum();
        assert_eq!(counted, expected.len() as u64, "{organisation}: {counts}");
    }
    let (_, nothing) = server
        .get("/v2/issues?dataset=conservation-area&organisation=local-authority-eng:ZZZ")
        .await;
    assert_eq!(nothing["items"], json!([]));
}

/// The legacy SQLite copy of the fixtures (issue log, collection log, specification tables).
fn legacy_sqlite(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("legacy.sqlite");
    let status = std::process::Command::new("python3")
        .arg(crate::support::repository().join("crates/datasette/tests/legacy_copy.py"))
        .arg(fixtures().join("collection-archive"))
        .arg(&path)
        .arg(fixtures().join("collection-log"))
        .arg(fixtures().join("specification"))
        .arg(fixtures().join("config"))
        .status()
        .expect("run python3");
    assert!(status.success(), "building the SQLite copy failed");
    path
}

/// A server reading Datasette-style SQLite answers as one reading the archive and the CSV
/// folders does: pages, exports, counts, the specification's tables and the configuration
/// (which the SQLite file holds, so they come from it).
#[tokio::test]
async fn a_datasette_source_answers_as_the_archive_does() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = legacy_sqlite(dir.path());
    let from_archive = on_fixtures().await;
    let from_datasette = TestServer::start(Options {
        archive: fixtures().join("collection-archive"),
        env: vec![
            (
                "SLUICE__DATASETTE__PATHS",
                sqlite.to_string_lossy().into_owned(),
            ),
            // Not the specification's tables nor the configuration: the SQLite file holds them.
            (
                "SLUICE__SPECIFICATION__URL",
                dir.path().to_string_lossy().into_owned(),
            ),
            (
                "SLUICE__CONFIGURATION__URL",
                dir.path().to_string_lossy().into_owned(),
            ),
        ],
        ..Options::default()
    })
    .await;
    for path in [
        "/v2/issues?dataset=border&dataset=conservation-area-document&limit=1000",
        "/v2/issues/counts?group_by=dataset,issue_type&order_by=key&limit=1000",
        "/v1/specification/datasets/conservation-area",
        "/v2/specification/fields/reference",
        "/v2/resources?organisation=local-authority-eng:SWK",
        "/v2/configuration/border",
        "/v2/configuration/listed-building/sources",
        "/v2/configuration/border/rules/column?limit=3",
        "/v1/configuration/listed-building",
    ] {
        let (status, archive) = from_archive.get(path).await;
        assert_eq!(status, 200, "{path}: {archive}");
        let (status, datasette) = from_datasette.get(path).await;
        assert_eq!(status, 200, "{path}: {datasette}");
        assert_eq!(datasette, archive, "{path}");
    }
    let export = |server: &TestServer| {
        server
            .client
            .get(server.url("/v2/issues?dataset=conservation-area&format=csv"))
            .send()
    };
    let archive_csv = export(&from_archive).await.unwrap().text().await.unwrap();
    let datasette_csv = export(&from_datasette).await.unwrap().text().await.unwrap();
    assert!(archive_csv.lines().count() > 20_000);
    assert_eq!(datasette_csv, archive_csv);
}
