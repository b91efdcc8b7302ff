//! The flow handlers: status codes, headers and problem documents.

use actix_web::test;
use serde_json::json;
use sluice_domain::flow::FlowState;
use sluice_domain::ports::FlowOutputRepository;
use sluice_domain::testing::MemoryStateDatabase;
use std::sync::Arc;

use crate::support::{app, body, is_problem};

const LAKE: &str = r#"{"name":"lake","type":"columnar_db","connection":{"path":"lake"}}"#;

#[actix_web::test]
async fn creating_a_data_store_answers_201_with_its_location() {
    let app = app(Arc::new(MemoryStateDatabase::default())).await;
    let request = test::TestRequest::post()
        .uri("/v1/data-stores")
        .insert_header(("content-type", "application/json"))
        .set_payload(LAKE);
    let response = test::call_service(&app, request.to_request()).await;
    assert_eq!(response.status(), 201);
    assert_eq!(
        response.headers().get("location").unwrap(),
        "/v1/data-stores/1"
    );
    assert_eq!(body(response).await["connection"], json!({"path": "lake"}));
}

#[actix_web::test]
async fn malformed_json_is_a_400_problem_naming_the_request() {
    let app = app(Arc::new(MemoryStateDatabase::default())).await;
    let request = test::TestRequest::post()
        .uri("/v1/data-stores")
        .insert_header(("content-type", "application/json"))
        .set_payload("{");
    let response = test::call_service(&app, request.to_request()).await;
    assert_eq!(response.status(), 400);
    assert!(is_problem(&response));
    let problem = body(response).await;
    assert_eq!(
        (problem["status"].as_u64(), problem["instance"].as_str()),
        (Some(400), Some("/v1/data-stores"))
    );
}

#[actix_web::test]
async fn a_body_without_a_json_content_type_is_a_415_problem() {
    let app = app(Arc::new(MemoryStateDatabase::default())).await;
    let request = test::TestRequest::post()
        .uri("/v1/data-stores")
        .set_payload(LAKE);
    let response = test::call_service(&app, request.to_request()).await;
    assert_eq!(response.status(), 415);
    assert!(is_problem(&response));
}

#[actix_web::test]
async fn a_body_over_the_limit_is_a_413_problem() {
    let app = app(Arc::new(MemoryStateDatabase::default())).await;
    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(sluice_api::MAX_BODY_BYTES));
    let request = test::TestRequest::post()
        .uri("/v1/data-stores")
        .insert_header(("content-type", "application/json"))
        .set_payload(big);
    let response = test::call_service(&app, request.to_request()).await;
    assert_eq!(response.status(), 413);
}

#[actix_web::test]
async fn a_field_of_the_wrong_type_is_a_422_pointing_at_it() {
    let app = app(Arc::new(MemoryStateDatabase::default())).await;
    let request = test::TestRequest::post()
        .uri("/v1/data-stores")
        .set_json(json!({"name": "x", "type": "file", "connection": {"path": 7, "format": "csv"}}));
    let response = test::call_service(&app, request.to_request()).await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        body(response).await["errors"][0]["pointer"],
        "/connection/path"
    );
}

#[actix_web::test]
async fn unknown_paths_and_ids_are_404_problems() {
    let app = app(Arc::new(MemoryStateDatabase::default())).await;
    for uri in ["/v2/nothing", "/v1/flows/7", "/v1/flows/x"] {
        let response =
            test::call_service(&app, test::TestRequest::get().uri(uri).to_request()).await;
        assert_eq!(response.status(), 404, "{uri}");
        assert!(is_problem(&response), "{uri}");
    }
}

#[actix_web::test]
async fn v1_shows_a_cancel_in_progress_as_running() {
    let store = Arc::new(MemoryStateDatabase::default());
    let app = app(store.clone()).await;
    for payload in [
        json!({"name": "orders", "type": "file", "connection": {"path": "orders.csv", "format": "csv"}}),
        serde_json::from_str(LAKE).unwrap(),
    ] {
        let response = test::call_service(
            &app,
            test::TestRequest::post()
                .uri("/v1/data-stores")
                .set_json(payload)
                .to_request(),
        )
        .await;
        assert_eq!(response.status(), 201);
    }
    let input = json!({
        "source_data_store_ids": [1], "target_data_store_id": 2,
        "sources": [{"data_store_id": 1, "as": "orders"}],
        "transforms": [{"name": "big", "sql": "SELECT * FROM orders"}],
        "outputs": [{"transform": "big", "table": "big"}]
    });
    let response = test::call_service(
        &app,
        test::TestRequest::post()
            .uri("/v1/flow-inputs")
            .set_json(input)
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), 201);
    let response = test::call_service(
        &app,
        test::TestRequest::post()
            .uri("/v1/flows")
            .set_json(json!({"flow_input_id": 1}))
            .to_request(),
    )
    .await;
    let flow = body(response).await;
    let output = sluice_domain::flow::FlowOutputId(flow["flow_output_id"].as_i64().unwrap());
    store
        .set_state(output, FlowState::Ready, FlowState::Running)
        .await
        .unwrap();
    store
        .set_state(output, FlowState::Running, FlowState::Cancelling)
        .await
        .unwrap();

    let response = test::call_service(
        &app,
        test::TestRequest::get().uri("/v1/flows/1").to_request(),
    )
    .await;
    assert_eq!(body(response).await["output"]["state"], "RUNNING");
    let response = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/v1/flows?state=RUNNING")
            .to_request(),
    )
    .await;
    assert_eq!(body(response).await.as_array().unwrap().len(), 1);
    let response = test::call_service(
        &app,
        test::TestRequest::get()
            .uri("/v1/flows?state=CANCELLING")
            .to_request(),
    )
    .await;
    assert_eq!(response.status(), 422, "CANCELLING is not a /v1 state");
}

/// The domain finds a source alias used twice and names the field `alias`; each version points
/// at it by its own name.
#[actix_web::test]
async fn a_domain_violation_points_at_each_versions_own_field_name() {
    let app = app(Arc::new(MemoryStateDatabase::default())).await;
    for (uri, store) in [
        (
            "/v1/data-stores",
            json!({"name": "orders", "type": "file", "connection": {"path": "orders.csv", "format": "csv"}}),
        ),
        ("/v1/data-stores", serde_json::from_str(LAKE).unwrap()),
    ] {
        let request = test::TestRequest::post().uri(uri).set_json(store);
        assert_eq!(
            test::call_service(&app, request.to_request())
                .await
                .status(),
            201
        );
    }
    let v1 = json!({
        "source_data_store_ids": [1], "target_data_store_id": 2,
        "sources": [{"data_store_id": 1, "as": "orders"}, {"data_store_id": 1, "as": "orders"}],
        "transforms": [{"name": "t", "sql": "SELECT * FROM orders"}],
        "outputs": [{"transform": "t", "table": "t"}]
    });
    let v2 = json!({
        "name": "report", "target": "lake",
        "sources": [{"data_store": "orders", "alias": "orders"}, {"data_store": "orders", "alias": "orders"}],
        "transforms": [{"name": "t", "sql": "SELECT * FROM orders"}],
        "outputs": [{"transform": "t", "table": "t"}]
    });
    for (uri, body_json, pointer) in [
        ("/v1/flow-inputs", v1, "/sources/1/as"),
        ("/v2/flow-inputs", v2, "/sources/1/alias"),
    ] {
        let request = test::TestRequest::post().uri(uri).set_json(body_json);
        let response = test::call_service(&app, request.to_request()).await;
        assert_eq!(response.status(), 422, "{uri}");
        let problem = body(response).await;
        assert_eq!(problem["errors"][0]["pointer"], pointer, "{uri}: {problem}");
        assert_eq!(problem["instance"], uri);
    }
}

/// The domain's rule that a source reads a table, a query or its file answers on both versions.
#[actix_web::test]
async fn a_source_with_a_table_and_a_query_is_refused_on_both_versions() {
    let app = app(Arc::new(MemoryStateDatabase::default())).await;
    for store in [
        json!({"name": "shop", "type": "relational_db", "connection": {"engine": "sqlite", "path": "shop.sqlite"}}),
        serde_json::from_str(LAKE).unwrap(),
    ] {
        let request = test::TestRequest::post()
            .uri("/v1/data-stores")
            .set_json(store);
        assert_eq!(
            test::call_service(&app, request.to_request())
                .await
                .status(),
            201
        );
    }
    let v1 = json!({
        "source_data_store_ids": [1], "target_data_store_id": 2,
        "sources": [{"data_store_id": 1, "table": "orders", "query": "SELECT 1", "as": "orders"}],
        "transforms": [{"name": "t", "sql": "SELECT * FROM orders"}],
        "outputs": [{"transform": "t", "table": "t"}]
    });
    let v2 = json!({
        "name": "report", "target": "lake",
        "sources": [{"data_store": "shop", "table": "orders", "query": "SELECT 1", "alias": "orders"}],
        "transforms": [{"name": "t", "sql": "SELECT * FROM orders"}],
        "outputs": [{"transform": "t", "table": "t"}]
    });
    for (uri, body_json) in [("/v1/flow-inputs", v1), ("/v2/flow-inputs", v2)] {
        let request = test::TestRequest::post().uri(uri).set_json(body_json);
        let response = test::call_service(&app, request.to_request()).await;
        assert_eq!(response.status(), 422, "{uri}");
        let problem = body(response).await;
        assert_eq!(
            problem["errors"][0]["pointer"], "/sources/0/query",
            "{uri}: {problem}"
        );
    }
}

/// A list past the bound is refused before any of its stores is looked up.
#[actix_web::test]
async fn a_v2_flow_input_with_too_many_sources_is_refused_by_its_length() {
    let app = app(Arc::new(MemoryStateDatabase::default())).await;
    let sources: Vec<_> = (0..101)
        .map(|i| json!({"data_store": format!("s{i}"), "alias": format!("s{i}")}))
        .collect();
    let body_json = json!({
        "name": "wide", "target": "lake", "sources": sources,
        "transforms": [{"name": "t", "sql": "SELECT * FROM s0"}],
        "outputs": [{"transform": "t", "table": "t"}]
    });
    let request = test::TestRequest::post()
        .uri("/v2/flow-inputs")
        .set_json(body_json);
    let response = test::call_service(&app, request.to_request()).await;
    assert_eq!(response.status(), 422);
    let problem = body(response).await;
    assert_eq!(problem["errors"][0]["pointer"], "/sources", "{problem}");
    assert_eq!(problem["errors"].as_array().unwrap().len(), 1, "{problem}");
}
