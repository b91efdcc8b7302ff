//! The Parquet archive as a source: paging and filters at its edges, flat and partitioned issue
//! logs, files added while serving, the index that spares a restart from reading it again, and
//! the sample archive the embedded default serves.

use super::*;

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

pub(super) fn url_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(super) fn copy_folder(from: &Path, to: &Path) {
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
pub(super) async fn read_archive_metrics(server: &TestServer) -> [bool; 2] {
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
pub(super) async fn border_issues_counted(server: &TestServer) -> u64 {
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
pub(super) fn write_issue_file(folder: &Path, rows: &[(i64, &str, &str)]) {
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
