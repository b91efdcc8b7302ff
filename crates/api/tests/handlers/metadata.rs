//! The metadata handlers on an in-memory archive: the paths and parameters of the services they
//! replace, the pagination headers, and a problem for every bad parameter.

use actix_web::test;
use serde_json::json;
use sluice_domain::metadata::{DatasetSpecification, IssueRow, PerformanceTable, Record, Value};
use sluice_domain::testing::{MemoryMetadata, MemoryStateDatabase};
use std::sync::Arc;

use crate::support::{app_with, body, is_problem};

fn issue(dataset: &str, resource: &str, line: i64, issue_type: &str) -> IssueRow {
    IssueRow {
        dataset: dataset.into(),
        resource: resource.into(),
        line_number: Some(line),
        entry_number: Some(line - 1),
        field: Some("geometry".into()),
        issue_type: Some(issue_type.into()),
        value: Some("x".into()),
        message: None,
    }
}

fn metadata() -> Arc<MemoryMetadata> {
    let text = |s: &str| Value::Text(s.into());
    Arc::new(MemoryMetadata {
        issues: vec![
            issue("border", "r2", 3, "invalid geometry"),
            // In their file's order, which the log keeps.
            issue("border", "r1", 2, "invalid geometry"),
            issue("border", "r1", 9, "missing value"),
            issue("tree", "r3", 1, "invalid geometry"),
        ],
        performance: vec![(
            PerformanceTable::ProvisionSummary,
            vec![
                Record(vec![
                    ("organisation".into(), text("o1")),
                    ("dataset".into(), text("border")),
                ]),
                Record(vec![
                    ("organisation".into(), text("o2")),
                    ("dataset".into(), text("tree")),
                ]),
            ],
        )],
        specifications: vec![DatasetSpecification {
            specification: "tree-preservation-order".into(),
            dataset: "tree".into(),
            item: Record(vec![
                ("dataset".into(), text("tree")),
                ("name".into(), text("Tree")),
                (
                    "fields".into(),
                    Value::List(vec![Value::Object(Record(vec![(
                        "field".into(),
                        text("reference"),
                    )]))]),
                ),
            ]),
        }],
        ..MemoryMetadata::default()
    })
}

async fn get(uri: &str) -> actix_web::dev::ServiceResponse {
    let app = app_with(Arc::new(MemoryStateDatabase::default()), metadata()).await;
    test::call_service(&app, test::TestRequest::get().uri(uri).to_request()).await
}

#[actix_web::test]
async fn an_issue_page_is_ordered_keyed_by_archive_names_and_carries_pagination_headers() {
    let response = get("/v1/log/issue?dataset=border&limit=2&offset=1").await;
    assert_eq!(response.status(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(header("x-pagination-total-results"), "3");
    assert_eq!(header("x-pagination-offset"), "1");
    assert_eq!(header("x-pagination-limit"), "2");
    let rows = body(response).await;
    assert_eq!(
        rows,
        json!([
            {"dataset": "border", "resource": "r1", "line-number": 9, "entry-number": 8,
             "field": "geometry", "issue-type": "missing value", "value": "x", "message": null},
            {"dataset": "border", "resource": "r2", "line-number": 3, "entry-number": 2,
             "field": "geometry", "issue-type": "invalid geometry", "value": "x", "message": null},
        ])
    );
}

#[actix_web::test]
async fn an_issue_page_without_a_dataset_is_a_400_problem_pointing_at_it() {
    let response = get("/v1/log/issue?resource=r1").await;
    assert_eq!(response.status(), 400);
    assert!(is_problem(&response));
    assert_eq!(body(response).await["errors"][0]["pointer"], "/dataset");
}

#[actix_web::test]
async fn out_of_range_and_unknown_parameters_are_422_problems() {
    for uri in [
        "/v1/log/issue?dataset=border&limit=0",
        "/v1/log/issue?dataset=border&limit=101",
        "/v1/log/issue?dataset=border&offset=-1",
        "/v1/log/issue?dataset=border&colour=red",
        "/v1/log/issue?dataset=",
        "/v1/performance/issues?group_by=value",
        "/v1/performance/issues?group_by=dataset,dataset",
        "/v1/performance/provision_summary?limit=500",
        "/v1/specification/specification?page=2",
    ] {
        let response = get(uri).await;
        assert_eq!(response.status(), 422, "{uri}");
        assert!(is_problem(&response), "{uri}");
    }
}

#[actix_web::test]
async fn issue_counts_come_largest_first_keyed_by_the_grouped_columns() {
    let response = get("/v1/performance/issues?group_by=dataset,issue_type").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("x-pagination-total-results")
            .unwrap(),
        "3"
    );
    assert_eq!(
        body(response).await,
        json!([
            {"dataset": "border", "issue-type": "invalid geometry", "count": 2},
            {"dataset": "border", "issue-type": "missing value", "count": 1},
            {"dataset": "tree", "issue-type": "invalid geometry", "count": 1},
        ])
    );
}

#[actix_web::test]
async fn a_performance_table_is_filtered_and_an_absent_one_is_a_404() {
    let response = get("/v1/performance/provision_summary?organisation=o2").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        body(response).await,
        json!([{"organisation": "o2", "dataset": "tree"}])
    );
    for uri in [
        "/v1/performance/issue_type_summary",
        "/v1/performance/no_such_table",
    ] {
        let response = get(uri).await;
        assert_eq!(response.status(), 404, "{uri}");
        assert!(is_problem(&response), "{uri}");
    }
}

#[actix_web::test]
async fn specifications_are_listed_one_item_per_dataset_as_stored() {
    let response = get("/v1/specification/specification?dataset=tree").await;
    assert_eq!(response.status(), 200);
    let items = body(response).await;
    assert_eq!(
        items,
        json!([{"dataset": "tree", "name": "Tree", "fields": [{"field": "reference"}]}])
    );
    // The stored keys in their stored order, nothing added.
    assert_eq!(
        items[0].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["dataset", "name", "fields"]
    );
    let response = get("/v1/specification/specification?dataset=nothing").await;
    assert_eq!(body(response).await, json!([]));
}

#[actix_web::test]
async fn a_collections_configuration_is_summed_up_and_paged_table_by_table() {
    use sluice_domain::metadata::{ConfigurationTable, RuleKind};
    let text = |s: &str| Value::Text(s.into());
    let metadata = Arc::new(MemoryMetadata {
        configuration: vec![
            (
                "border".into(),
                ConfigurationTable::Endpoints,
                vec![
                    Record(vec![("endpoint".into(), text("e1"))]),
                    Record(vec![("endpoint".into(), text("e2"))]),
                ],
            ),
            (
                "border".into(),
                ConfigurationTable::Rules(RuleKind::DefaultValue),
                vec![Record(vec![("field".into(), text("name"))])],
            ),
        ],
        ..MemoryMetadata::default()
    });
    let app = app_with(Arc::new(MemoryStateDatabase::default()), metadata).await;
    let get = |uri: &str| test::TestRequest::get().uri(uri).to_request();

    let response = test::call_service(&app, get("/v1/configuration/border")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        body(response).await,
        json!({"collection": "border", "endpoints": 2, "rules": {"default-value": 1}})
    );

    let response =
        test::call_service(&app, get("/v1/configuration/border/endpoints?offset=1")).await;
    assert_eq!(
        response
            .headers()
            .get("x-pagination-total-results")
            .unwrap(),
        "2"
    );
    assert_eq!(body(response).await, json!([{"endpoint": "e2"}]));

    for (uri, status) in [
        ("/v1/configuration/border/sources", 404),
        ("/v1/configuration/border/rules/nonsense", 404),
        ("/v1/configuration/nowhere", 404),
        ("/v1/configuration/Border", 422),
        ("/v1/configuration/border/endpoints?limit=0", 422),
    ] {
        let response = test::call_service(&app, get(uri)).await;
        assert_eq!(response.status(), status, "{uri}");
        assert!(is_problem(&response), "{uri}");
    }
}

#[actix_web::test]
async fn a_specification_dataset_comes_with_its_fields_and_a_field_with_its_datasets() {
    use sluice_domain::metadata::{DatasetEntry, FieldEntry};
    let text = |s: &str| Value::Text(s.into());
    let metadata = Arc::new(MemoryMetadata {
        catalog_datasets: vec![DatasetEntry {
            dataset: Record(vec![
                ("dataset".into(), text("tree")),
                ("name".into(), text("Tree")),
            ]),
            fields: vec![Record(vec![
                ("dataset".into(), text("tree")),
                ("field".into(), text("height")),
            ])],
        }],
        catalog_fields: vec![FieldEntry {
            field: Record(vec![("field".into(), text("height"))]),
            datasets: vec!["tree".into()],
        }],
        ..MemoryMetadata::default()
    });
    let app = app_with(Arc::new(MemoryStateDatabase::default()), metadata).await;
    let get = |uri: &str| test::TestRequest::get().uri(uri).to_request();

    let response = test::call_service(&app, get("/v1/specification/datasets/tree")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        body(response).await,
        json!({"dataset": "tree", "name": "Tree", "fields": [{"dataset": "tree", "field": "height"}]})
    );
    let response = test::call_service(&app, get("/v1/specification/fields/height")).await;
    assert_eq!(
        body(response).await,
        json!({"field": "height", "datasets": ["tree"]})
    );
    for uri in [
        "/v1/specification/datasets/bush",
        "/v1/specification/fields/width",
    ] {
        let response = test::call_service(&app, get(uri)).await;
        assert_eq!(response.status(), 404, "{uri}");
        assert!(is_problem(&response), "{uri}");
    }
}

#[actix_web::test]
async fn the_collection_log_and_its_resources_are_filtered_and_paged() {
    let row = |pairs: &[(&str, &str)]| {
        Record(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::Text((*v).to_owned())))
                .collect(),
        )
    };
    let metadata = Arc::new(MemoryMetadata {
        collection_log: vec![
            row(&[
                ("endpoint", "e2"),
                ("resource", "r2"),
                ("status", "200"),
                ("entry-date", "2021-02-01"),
            ]),
            row(&[
                ("endpoint", "e1"),
                ("resource", ""),
                ("status", "404"),
                ("entry-date", "2021-01-01"),
            ]),
        ],
        resources: vec![row(&[
            ("resource", "r2"),
            ("organisations", "o1"),
            ("datasets", "tree;border"),
            ("endpoints", "e1;e2"),
            ("start-date", "2021-02-01"),
        ])],
        ..MemoryMetadata::default()
    });
    let app = app_with(Arc::new(MemoryStateDatabase::default()), metadata).await;
    let get = |uri: &str| test::TestRequest::get().uri(uri).to_request();

    let response = test::call_service(&app, get("/v1/log/collection?dataset=border&limit=1")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("x-pagination-total-results")
            .unwrap(),
        "2"
    );
    assert_eq!(
        body(response).await,
        json!([{"endpoint": "e1", "resource": "", "status": "404", "entry-date": "2021-01-01"}])
    );
    let response = test::call_service(&app, get("/v1/resource?endpoint=e1&organisation=o1")).await;
    assert_eq!(body(response).await[0]["resource"], "r2");
    let response = test::call_service(&app, get("/v1/resource?dataset=bush")).await;
    assert_eq!(body(response).await, json!([]));

    for uri in [
        "/v1/log/collection?limit=0",
        "/v1/log/collection?issue_type=x",
        "/v1/log/collection?endpoint=",
        "/v1/resource?offset=-2",
        "/v1/resource?field=geometry",
    ] {
        let response = test::call_service(&app, get(uri)).await;
        assert_eq!(response.status(), 422, "{uri}");
        assert!(is_problem(&response), "{uri}");
    }
}
