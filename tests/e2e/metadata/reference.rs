//! The checks every metadata source must pass on the fixtures: each endpoint's answers, `/v1`
//! and `/v2`, against DuckDB's on the same files.

use super::*;

pub(super) async fn the_collection_log_matches_duckdb_on_its_csv_files(server: &TestServer) {
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

pub(super) async fn specification_tables_match_their_csv_files(server: &TestServer) {
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

pub(super) async fn configuration_tables_match_their_csv_files(server: &TestServer) {
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

pub(super) async fn issue_pages_match_duckdb_row_for_row(server: &TestServer) {
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

pub(super) async fn issue_counts_match_duckdbs_group_by(server: &TestServer) {
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

pub(super) async fn the_provision_summary_is_filtered_like_duckdb_filters_it(server: &TestServer) {
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

pub(super) async fn specifications_list_every_dataset_of_the_specification_file(
    server: &TestServer,
) {
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

/// DuckDB's issue rows as `/v2` answers them: snake_case keys, empty text `null`.
pub(super) fn v2_issue_objects(rows: Vec<Vec<Value>>) -> Vec<Value> {
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
pub(super) async fn walk(server: &TestServer, path: &str) -> Vec<Value> {
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

pub(super) async fn v2_issue_pages_walk_the_file_order_of_several_datasets(server: &TestServer) {
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

pub(super) async fn v2_issue_counts_match_duckdbs_group_by(server: &TestServer) {
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
