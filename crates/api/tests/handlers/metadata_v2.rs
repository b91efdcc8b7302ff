//! `/v2` metadata on an in-memory archive: typed values, repeatable filters, the organisation
//! filter, count orders and cursor pages.

use actix_web::test;
use serde_json::{Value as Json, json};
use sluice_domain::metadata::{IssueRow, Record, Value};
use sluice_domain::testing::{MemoryMetadata, MemoryStateDatabase};
use std::sync::Arc;

use crate::support::{app_with, body, is_problem};

fn issue(dataset: &str, resource: &str, line: i64, issue_type: &str) -> IssueRow {
    IssueRow {
        dataset: dataset.into(),
        resource: resource.into(),
        line_number: Some(line),
        entry_number: None,
        field: Some("geometry".into()),
        issue_type: Some(issue_type.into()),
        value: Some(String::new()),
        message: None,
    }
}

fn row(pairs: &[(&str, &str)]) -> Record {
    Record(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::Text((*v).to_owned())))
            .collect(),
    )
}

fn metadata() -> Arc<MemoryMetadata> {
    Arc::new(MemoryMetadata {
        issues: vec![
            issue("border", "r1", 1, "invalid geometry"),
            issue("border", "r1", 2, "missing value"),
            issue("border", "r2", 3, "invalid geometry"),
            issue("tree", "r3", 4, "invalid geometry"),
            issue("tree", "r4", 5, "missing value"),
        ],
        resources: vec![
            row(&[
                ("resource", "r1"),
                ("bytes", "120"),
                ("organisations", "org:A"),
                ("datasets", "border"),
                ("endpoints", "e1"),
                ("start-date", "2021-01-01"),
                ("end-date", ""),
            ]),
            row(&[
                ("resource", "r3"),
                ("bytes", ""),
                ("organisations", "org:A;org:B"),
                ("datasets", "tree"),
                ("endpoints", "e2"),
                ("start-date", "2021-02-01"),
                ("end-date", ""),
            ]),
        ],
        collection_log: vec![row(&[
            ("bytes", "226497"),
            ("elapsed", "0.111"),
            ("endpoint", "e1"),
            ("resource", "r1"),
            ("status", "200"),
            ("entry-date", "2021-12-08T00:45:14.095210"),
            ("exception", ""),
        ])],
        ..MemoryMetadata::default()
    })
}

async fn get(uri: &str) -> actix_web::dev::ServiceResponse {
    let app = app_with(Arc::new(MemoryStateDatabase::default()), metadata()).await;
    test::call_service(&app, test::TestRequest::get().uri(uri).to_request()).await
}

async fn ok(uri: &str) -> Json {
    let response = get(uri).await;
    assert_eq!(response.status(), 200, "{uri}");
    body(response).await
}

fn column(page: &Json, name: &str) -> Vec<Json> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item[name].clone())
        .collect()
}

#[actix_web::test]
async fn issues_are_snake_case_typed_and_empty_text_is_null() {
    let page = ok("/v2/issues?dataset=tree").await;
    assert_eq!(
        page,
        json!({
            "items": [
                {"dataset": "tree", "resource": "r3", "line_number": 4, "entry_number": null,
                 "field": "geometry", "issue_type": "invalid geometry", "value": null, "message": null},
                {"dataset": "tree", "resource": "r4", "line_number": 5, "entry_number": null,
                 "field": "geometry", "issue_type": "missing value", "value": null, "message": null},
            ],
            "next_cursor": null,
            "total": 2,
        })
    );
}

#[actix_web::test]
async fn a_repeated_filter_accepts_any_of_its_values() {
    let page = ok("/v2/issues?dataset=border&dataset=tree&issue_type=missing%20value").await;
    assert_eq!(column(&page, "line_number"), [json!(2), json!(5)]);
}

#[actix_web::test]
async fn the_organisation_filter_keeps_the_issues_of_the_resources_it_published() {
    let page = ok("/v2/issues?dataset=border&dataset=tree&organisation=org:A").await;
    assert_eq!(column(&page, "resource"), ["r1", "r1", "r3"]);
    let page = ok("/v2/issues?dataset=border&dataset=tree&organisation=org:B").await;
    assert_eq!(column(&page, "resource"), ["r3"]);
    let page = ok("/v2/issues?dataset=border&organisation=org:B").await;
    assert_eq!(page["items"], json!([]));
    // An organisation and a resource filter: both must hold.
    let page = ok("/v2/issues?dataset=border&resource=r2&organisation=org:A").await;
    assert_eq!(page["items"], json!([]));
    let page = ok("/v2/issues?dataset=border&organisation=nobody").await;
    assert_eq!(page["items"], json!([]));
}

#[actix_web::test]
async fn cursors_walk_every_issue_once_and_the_link_header_names_the_next_page() {
    let mut uri = "/v2/issues?dataset=border&dataset=tree&limit=2".to_owned();
    let mut lines = Vec::new();
    loop {
        let response = get(&uri).await;
        assert_eq!(response.status(), 200);
        let link = response
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_owned());
        let page = body(response).await;
        lines.extend(column(&page, "line_number"));
        let Some(cursor) = page["next_cursor"].as_str() else {
            assert_eq!(link, None);
            break;
        };
        let link = link.expect("a Link header beside a next cursor");
        assert!(link.contains(&format!("cursor={cursor}")), "{link}");
        uri = format!("/v2/issues?dataset=border&dataset=tree&limit=2&cursor={cursor}");
    }
    assert_eq!(lines, [1, 2, 3, 4, 5].map(|n| json!(n)));
}

#[actix_web::test]
async fn counts_group_on_snake_case_columns_in_the_order_asked() {
    let page = ok("/v2/issues/counts?group_by=issue_type&dataset=border&dataset=tree").await;
    assert_eq!(
        page["items"],
        json!([
            {"issue_type": "invalid geometry", "count": 3},
            {"issue_type": "missing value", "count": 2},
        ])
    );
    let page =
        ok("/v2/issues/counts?group_by=issue_type&dataset=border&dataset=tree&order_by=count")
            .await;
    assert_eq!(column(&page, "count"), [json!(2), json!(3)]);
    let page = ok("/v2/issues/counts?group_by=resource&order_by=key&organisation=org:A").await;
    assert_eq!(
        page["items"],
        json!([{"resource": "r1", "count": 2}, {"resource": "r3", "count": 1}])
    );
}

#[actix_web::test]
async fn the_collection_log_and_resources_answer_numbers_lists_and_nulls() {
    let page = ok("/v2/collection-log?dataset=border").await;
    assert_eq!(
        page["items"],
        json!([{
            "bytes": 226497, "elapsed": 0.111, "endpoint": "e1", "resource": "r1", "status": 200,
            "entry_date": "2021-12-08T00:45:14.095210Z", "exception": null,
        }])
    );
    let page = ok("/v2/resources?organisation=org:B").await;
    assert_eq!(
        page["items"],
        json!([{
            "resource": "r3", "bytes": null, "organisations": ["org:A", "org:B"],
            "datasets": ["tree"], "endpoints": ["e2"], "start_date": "2021-02-01", "end_date": null,
        }])
    );
}

#[actix_web::test]
async fn bad_parameters_are_422_problems_naming_them() {
    for (uri, pointer) in [
        ("/v2/issues?resource=r1", Some("/dataset")),
        ("/v2/issues?dataset=border&limit=0", Some("/limit")),
        ("/v2/issues?dataset=border&limit=1001", Some("/limit")),
        ("/v2/issues?dataset=border&limit=ten", Some("/limit")),
        ("/v2/issues?dataset=border&cursor=garbage", Some("/cursor")),
        ("/v2/issues?dataset=border&dataset=", Some("/dataset")),
        ("/v2/issues?dataset=border&offset=10", None),
        ("/v2/issues/counts?group_by=value", Some("/group_by")),
        (
            "/v2/issues/counts?group_by=dataset&order_by=count%20desc",
            Some("/order_by"),
        ),
        ("/v2/issues/counts?dataset=border", None),
        ("/v2/resources?colour=red", None),
    ] {
        let response = get(uri).await;
        assert_eq!(response.status(), 422, "{uri}");
        assert!(is_problem(&response), "{uri}");
        let problem = body(response).await;
        if let Some(pointer) = pointer {
            assert_eq!(problem["errors"][0]["pointer"], pointer, "{uri}: {problem}");
        }
    }
    let many: String = (0..101).map(|n| format!("&dataset=d{n}")).collect();
    let response = get(&format!("/v2/issues?{}", &many[1..])).await;
    assert_eq!(response.status(), 422);
    assert_eq!(body(response).await["errors"][0]["pointer"], "/dataset");
}

#[actix_web::test]
async fn configuration_and_specification_answer_snake_case_keys_and_null_for_empty_cells() {
    use sluice_domain::metadata::{ConfigurationTable, DatasetSpecification, RuleKind};
    let metadata = Arc::new(MemoryMetadata {
        configuration: vec![
            (
                "border".into(),
                ConfigurationTable::Endpoints,
                vec![
                    row(&[("endpoint", "e1"), ("end-date", "")]),
                    row(&[("endpoint", "e2"), ("end-date", "2022-01-01")]),
                ],
            ),
            (
                "border".into(),
                ConfigurationTable::Rules(RuleKind::DefaultValue),
                vec![row(&[("field", "name")])],
            ),
        ],
        specifications: vec![DatasetSpecification {
            specification: "tree-preservation-order".into(),
            dataset: "tree".into(),
            item: row(&[("dataset", "tree"), ("key-field", ""), ("name", "Tree")]),
        }],
        ..MemoryMetadata::default()
    });
    let app = app_with(Arc::new(MemoryStateDatabase::default()), metadata).await;
    let get = |uri: &str| test::TestRequest::get().uri(uri).to_request();
    let read = |uri: &'static str| {
        let request = get(uri);
        let app = &app;
        async move {
            let response = test::call_service(app, request).await;
            assert_eq!(response.status(), 200, "{uri}");
            body(response).await
        }
    };

    assert_eq!(
        read("/v2/configuration/border").await,
        json!({"collection": "border", "endpoints": 2, "sources": 0,
               "rules": [{"kind": "default-value", "rows": 1}]})
    );
    let page = read("/v2/configuration/border/endpoints?limit=1").await;
    assert_eq!(page["items"], json!([{"endpoint": "e1", "end_date": null}]));
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let response = test::call_service(
        &app,
        get(&format!(
            "/v2/configuration/border/endpoints?limit=1&cursor={cursor}"
        )),
    )
    .await;
    assert_eq!(
        body(response).await,
        json!({"items": [{"endpoint": "e2", "end_date": "2022-01-01"}], "next_cursor": null, "total": 2})
    );
    assert_eq!(
        read("/v2/configuration/border/rules/default-value").await["items"],
        json!([{"field": "name"}])
    );
    assert_eq!(
        read("/v2/specification/datasets").await["items"],
        json!([{"specification": "tree-preservation-order", "dataset": "tree",
                "entry": {"dataset": "tree", "key_field": null, "name": "Tree"}}])
    );
    for (uri, status) in [
        ("/v2/configuration/border/sources", 404),
        ("/v2/configuration/border/rules/nonsense", 404),
        ("/v2/configuration/Border", 422),
        ("/v2/configuration/border/endpoints?offset=1", 422),
        ("/v2/specification/datasets?limit=0", 422),
    ] {
        let response = test::call_service(&app, get(uri)).await;
        assert_eq!(response.status(), status, "{uri}");
        assert!(is_problem(&response), "{uri}");
    }
}

async fn text_of(response: actix_web::dev::ServiceResponse) -> String {
    String::from_utf8(test::read_body(response).await.to_vec()).unwrap()
}

#[actix_web::test]
async fn an_export_streams_every_matching_issue_as_csv_or_ndjson() {
    let response =
        get("/v2/issues?dataset=border&dataset=tree&organisation=org:A&format=csv").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "text/csv; charset=utf-8"
    );
    assert!(
        response
            .headers()
            .get("content-disposition")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("issues.csv")
    );
    assert_eq!(
        text_of(response).await,
        "dataset,resource,line_number,entry_number,field,issue_type,value,message\n\
         border,r1,1,,geometry,invalid geometry,,\n\
         border,r1,2,,geometry,missing value,,\n\
         tree,r3,4,,geometry,invalid geometry,,\n"
    );

    let app = app_with(Arc::new(MemoryStateDatabase::default()), metadata()).await;
    let request = test::TestRequest::get()
        .uri("/v2/issues?dataset=tree")
        .insert_header(("accept", "application/x-ndjson"))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "application/x-ndjson"
    );
    let lines: Vec<Json> = text_of(response)
        .await
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(
        column(&json!({"items": lines}), "line_number"),
        [json!(4), json!(5)]
    );
    assert_eq!(lines[0]["value"], Json::Null);

    // JSON listed first wins; an export format listed first wins.
    let request = test::TestRequest::get()
        .uri("/v2/issues?dataset=tree")
        .insert_header(("accept", "application/json, text/csv"))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(body(response).await["items"].as_array().unwrap().len(), 2);
}

#[actix_web::test]
async fn a_parquet_export_is_one_file_of_typed_columns() {
    use arrow_array::{Array, Int64Array, StringArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let app = app_with(Arc::new(MemoryStateDatabase::default()), metadata()).await;
    let request = test::TestRequest::get()
        .uri("/v2/issues?dataset=border&dataset=tree")
        .insert_header(("accept", "application/vnd.apache.parquet"))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers().get("content-type").unwrap(),
        "application/vnd.apache.parquet"
    );
    let file = test::read_body(response).await;
    let batches: Vec<_> = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(batches.len(), 1, "five issues are one batch");
    let batch = &batches[0];
    let names: Vec<_> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        [
            "dataset",
            "resource",
            "line_number",
            "entry_number",
            "field",
            "issue_type",
            "value",
            "message"
        ]
    );
    let text = |i: usize| {
        let column = batch
            .column(i)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        (0..column.len())
            .map(|row| column.is_valid(row).then(|| column.value(row).to_owned()))
            .collect::<Vec<_>>()
    };
    let lines = batch
        .column(2)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(lines.values().to_vec(), [1, 2, 3, 4, 5]);
    let resources: Vec<_> = ["r1", "r1", "r2", "r3", "r4"]
        .map(|r| Some(r.to_owned()))
        .into();
    assert_eq!(text(1), resources);
    assert_eq!(
        text(6),
        vec![None::<String>; 5],
        "empty values are null, as in JSON"
    );

    let response = get("/v2/issues?dataset=tree&format=parquet").await;
    assert!(
        response
            .headers()
            .get("content-disposition")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("issues.parquet")
    );
}

#[actix_web::test]
async fn an_export_refuses_pages_and_unknown_formats() {
    for (uri, pointer) in [
        ("/v2/issues?dataset=tree&format=csv&limit=10", "/limit"),
        (
            "/v2/issues?dataset=tree&format=ndjson&cursor=abc",
            "/cursor",
        ),
        ("/v2/issues?dataset=tree&format=xlsx", "/format"),
        ("/v2/issues?format=csv", "/dataset"),
    ] {
        let response = get(uri).await;
        assert_eq!(response.status(), 422, "{uri}");
        assert_eq!(
            body(response).await["errors"][0]["pointer"],
            pointer,
            "{uri}"
        );
    }
}

#[actix_web::test]
async fn resources_take_repeated_filters_too() {
    let page = ok("/v2/resources?dataset=border&dataset=tree").await;
    assert_eq!(column(&page, "resource"), ["r1", "r3"]);
    let page = ok("/v2/resources?organisation=org:B&organisation=nobody").await;
    assert_eq!(column(&page, "resource"), ["r3"]);
}

#[actix_web::test]
async fn an_issue_answer_is_tagged_by_the_archive_version_and_not_read_again_while_current() {
    let versioned = |version: &str| {
        let mut metadata = Arc::into_inner(metadata()).unwrap();
        metadata.issue_version = Some(version.to_owned());
        Arc::new(metadata)
    };
    let app = app_with(
        Arc::new(MemoryStateDatabase::default()),
        versioned("files-1"),
    )
    .await;
    let tag_of = |response: &actix_web::dev::ServiceResponse| {
        response
            .headers()
            .get("etag")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    let send = |uri: &str, if_none_match: Option<&str>, accept: Option<&str>| {
        let mut request = test::TestRequest::get().uri(uri);
        if let Some(tag) = if_none_match {
            request = request.insert_header(("if-none-match", tag.to_owned()));
        }
        if let Some(accept) = accept {
            request = request.insert_header(("accept", accept.to_owned()));
        }
        request.to_request()
    };

    let page = "/v2/issues?dataset=border";
    let first = test::call_service(&app, send(page, None, None)).await;
    assert_eq!(first.status(), 200);
    let tag = tag_of(&first);
    assert!(
        tag.starts_with("\"v"),
        "{tag}: a version tag, not a hash of the body"
    );
    assert_eq!(first.headers().get("vary").unwrap(), "Accept");
    let again = test::call_service(&app, send(page, Some(&tag), None)).await;
    assert_eq!(again.status(), 304);
    assert_eq!(tag_of(&again), tag);

    // Another URL, another format or another version is another answer.
    let other = test::call_service(&app, send("/v2/issues?dataset=tree", Some(&tag), None)).await;
    assert_eq!(other.status(), 200);
    let csv = test::call_service(&app, send(page, Some(&tag), Some("text/csv"))).await;
    assert_eq!(csv.status(), 200, "an export is not the page");
    let csv_tag = tag_of(&csv);
    assert_ne!(csv_tag, tag);
    let csv_again = test::call_service(&app, send(page, Some(&csv_tag), Some("text/csv"))).await;
    assert_eq!(csv_again.status(), 304, "exports are tagged too");

    let counts = "/v2/issues/counts?group_by=dataset";
    let counted = test::call_service(&app, send(counts, None, None)).await;
    let counts_tag = tag_of(&counted);
    let counted_again = test::call_service(&app, send(counts, Some(&counts_tag), None)).await;
    assert_eq!(counted_again.status(), 304);

    let changed = app_with(
        Arc::new(MemoryStateDatabase::default()),
        versioned("files-2"),
    )
    .await;
    let after = test::call_service(&changed, send(page, Some(&tag), None)).await;
    assert_eq!(after.status(), 200, "the files changed");
    assert_ne!(tag_of(&after), tag);

    // A request that breaks a rule is told so, whatever tag it sends.
    let bad = test::call_service(&app, send("/v2/issues", Some(&tag), None)).await;
    assert_eq!(bad.status(), 422);
}

#[actix_web::test]
async fn without_a_version_a_page_is_tagged_by_its_body() {
    let response = get("/v2/issues?dataset=border").await;
    let tag = response.headers().get("etag").unwrap().to_str().unwrap();
    assert!(!tag.starts_with("\"v"), "{tag}");
}
