//! Every way a request can be refused: the status, the pointer to the offending field, and that
//! nothing was stored.

use serde_json::{Value, json};

use crate::support::{Options, TestServer};

/// A server with a CSV store (1) and a columnar target (2), and a valid flow input body.
async fn setup() -> (TestServer, Value) {
    let server = TestServer::start(Options::default()).await;
    std::fs::write(server.data.join("orders.csv"), "id,amount\n1,5\n").unwrap();
    let orders = server
        .data_store(json!({"name": "orders", "type": "file", "connection": {"path": "orders.csv", "format": "csv"}}))
        .await;
    let lake = server
        .data_store(json!({"name": "lake", "type": "columnar_db", "connection": {"path": "lake"}}))
        .await;
    let body = json!({
        "source_data_store_ids": [orders], "target_data_store_id": lake,
        "sources": [{"data_store_id": orders, "as": "orders"}],
        "transforms": [
            {"name": "big", "sql": "SELECT * FROM orders WHERE amount > 1"},
            {"name": "bigger", "sql": "SELECT * FROM big WHERE amount > 2"}
        ],
        "outputs": [{"transform": "bigger", "table": "bigger", "mode": "replace"}]
    });
    (server, body)
}

async fn assert_refused(server: &TestServer, body: &Value, pointer: &str, message_part: &str) {
    let (status, problem) = server.post("/v1/flow-inputs", body).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["status"], 422);
    assert_eq!(problem["instance"], "/v1/flow-inputs");
    let errors = problem["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e["pointer"] == pointer
                && e["message"].as_str().unwrap().contains(message_part)),
        "expected {pointer} ~ {message_part:?} in {problem}"
    );
    let (status, _) = server.get("/v1/flow-inputs/1").await;
    assert_eq!(status, 404, "nothing may be stored");
}

#[tokio::test]
async fn sql_that_does_not_parse_is_refused_at_its_transform() {
    let (server, mut body) = setup().await;
    body["transforms"][1]["sql"] = json!("SELEC * FRM big");
    assert_refused(&server, &body, "/transforms/1/sql", "does not parse").await;
}

#[tokio::test]
async fn a_statement_that_is_not_a_query_is_refused() {
    let (server, mut body) = setup().await;
    body["transforms"][0]["sql"] = json!("DROP TABLE orders");
    assert_refused(&server, &body, "/transforms/0/sql", "must be a query").await;
}

#[tokio::test]
async fn an_unknown_table_is_refused() {
    let (server, mut body) = setup().await;
    body["transforms"][0]["sql"] = json!("SELECT * FROM orders JOIN nowhere ON true");
    assert_refused(&server, &body, "/transforms/0/sql", "'nowhere'").await;
}

#[tokio::test]
async fn a_cycle_is_refused_and_named() {
    let (server, mut body) = setup().await;
    body["transforms"][0]["sql"] = json!("SELECT * FROM bigger");
    assert_refused(&server, &body, "/transforms/0/sql", "big -> bigger -> big").await;
}

#[tokio::test]
async fn a_duplicate_transform_name_is_refused() {
    let (server, mut body) = setup().await;
    body["transforms"][1]["name"] = json!("big");
    body["outputs"][0]["transform"] = json!("big");
    assert_refused(&server, &body, "/transforms/1/name", "another transform").await;
}

#[tokio::test]
async fn an_output_naming_no_transform_is_refused() {
    let (server, mut body) = setup().await;
    body["outputs"][0]["transform"] = json!("biggest");
    assert_refused(&server, &body, "/outputs/0/transform", "names no transform").await;
}

#[tokio::test]
async fn unknown_data_store_ids_are_refused() {
    let (server, mut body) = setup().await;
    body["source_data_store_ids"] = json!([1, 77]);
    body["target_data_store_id"] = json!(78);
    assert_refused(
        &server,
        &body,
        "/source_data_store_ids/1",
        "77 does not exist",
    )
    .await;
    assert_refused(&server, &body, "/target_data_store_id", "78 does not exist").await;
}

#[tokio::test]
async fn a_source_from_an_undeclared_store_is_refused() {
    let (server, mut body) = setup().await;
    body["sources"][0]["data_store_id"] = json!(2);
    assert_refused(&server, &body, "/sources/0/data_store_id", "not listed").await;
}

#[tokio::test]
async fn a_field_of_the_wrong_type_is_refused_with_its_pointer() {
    let (server, mut body) = setup().await;
    body["transforms"][1]["sql"] = json!(42);
    assert_refused(&server, &body, "/transforms/1/sql", "must be a string").await;
}

#[tokio::test]
async fn a_bad_table_name_and_mode_are_refused() {
    let (server, mut body) = setup().await;
    body["outputs"][0]["table"] = json!("Bigger Table");
    body["outputs"][0]["mode"] = json!("upsert");
    assert_refused(&server, &body, "/outputs/0/table", "lower-case").await;
    assert_refused(&server, &body, "/outputs/0/mode", "'replace' or 'append'").await;
}

#[tokio::test]
async fn starting_a_flow_of_an_unknown_input_is_refused() {
    let (server, _) = setup().await;
    let (status, problem) = server.post("/v1/flows", &json!({"flow_input_id": 9})).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["pointer"], "/flow_input_id");
    let (_, flows) = server.get("/v1/flows").await;
    assert_eq!(flows, json!([]));
}

async fn assert_store_refused(server: &TestServer, body: Value, pointer: &str) {
    let (status, problem) = server.post("/v1/data-stores", &body).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["pointer"] == pointer),
        "{pointer} in {problem}"
    );
    let (_, stores) = server.get("/v1/data-stores").await;
    assert_eq!(stores.as_array().unwrap().len(), 2, "nothing may be stored");
}

#[tokio::test]
async fn data_store_paths_cannot_leave_the_data_folder() {
    let (server, _) = setup().await;
    let outside = server.data.parent().unwrap().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.csv"), "a\n1\n").unwrap();
    std::os::unix::fs::symlink(&outside, server.data.join("link")).unwrap();
    for path in [
        "../outside/secret.csv",
        "/etc/passwd",
        "link/secret.csv",
        outside.join("secret.csv").to_str().unwrap(),
    ] {
        let body =
            json!({"name": "x", "type": "file", "connection": {"path": path, "format": "csv"}});
        assert_store_refused(&server, body, "/connection/path").await;
    }
    let body = json!({"name": "x", "type": "relational_db", "connection": {"engine": "sqlite", "path": "../meta.sqlite"}});
    assert_store_refused(&server, body, "/connection/path").await;
}

#[tokio::test]
async fn malformed_data_stores_are_refused_with_pointers() {
    let (server, _) = setup().await;
    assert_store_refused(
        &server,
        json!({"name": "has space", "type": "columnar_db", "connection": {"path": "x"}}),
        "/name",
    )
    .await;
    assert_store_refused(
        &server,
        json!({"name": "x", "type": "file", "connection": {"path": "a.txt", "format": "xml"}}),
        "/connection/format",
    )
    .await;
    assert_store_refused(
        &server,
        json!({"name": "x", "type": "file", "connection": {"path": "a.csv"}}),
        "/connection",
    )
    .await;
    assert_store_refused(
        &server,
        json!({"name": "x", "type": "relational_db", "connection": {"engine": "oracle"}}),
        "/connection/engine",
    )
    .await;
    assert_store_refused(&server, json!({"name": "x", "type": "relational_db", "connection": {"engine": "postgres", "host": "db"}}), "/connection/user").await;
    assert_store_refused(
        &server,
        json!({"name": "x", "type": "graph_db", "connection": {}}),
        "/type",
    )
    .await;
    let (status, problem) = server
        .post(
            "/v1/data-stores",
            &json!({"name": "orders", "type": "columnar_db", "connection": {"path": "elsewhere"}}),
        )
        .await;
    assert_eq!(status, 409, "a taken name: {problem}");
}
