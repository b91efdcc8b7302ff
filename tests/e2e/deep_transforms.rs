//! No transform can end the process: expressions too deep for a thread's stack are refused when
//! they are defined, those within the bound run on the flow threads, and the process goes on.

use serde_json::{Value, json};
use std::time::Duration;

use crate::support::{Options, TestServer, one_transform_over_orders, orders_and_lake};

fn chain(terms: usize) -> String {
    format!("SELECT {} AS s FROM orders", vec!["id"; terms].join("+"))
}

async fn refused_at_the_transform(server: &TestServer, input: &Value) -> String {
    let (status, problem) = server.post("/v1/flow-inputs", input).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        problem["errors"][0]["pointer"], "/transforms/0/sql",
        "{problem}"
    );
    problem["errors"][0]["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn transforms_too_deep_for_a_stack_are_refused_and_the_process_lives() {
    let server = TestServer::start(Options::default()).await;
    let (orders, lake) = orders_and_lake(&server, 10).await;
    let input = |sql: &str| one_transform_over_orders(orders, lake, sql, "t");

    let refused = refused_at_the_transform(&server, &input(&chain(5_000))).await;
    assert!(refused.contains("levels deep"), "{refused}");
    // Longer than any transform may be: refused for its size before it is read.
    let refused = refused_at_the_transform(&server, &input(&chain(50_000))).await;
    assert!(refused.contains("bytes"), "{refused}");
    let parentheses = format!(
        "SELECT {}id{} AS s FROM orders",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    let refused = refused_at_the_transform(&server, &input(&parentheses)).await;
    assert!(refused.contains("too deeply"), "{refused}");
    assert!(!refused.contains("Recursion"), "{refused}");
    let branches: String = (0..10_000)
        .map(|i| format!(" WHEN id = {i} THEN {i}"))
        .collect();
    let case = format!("SELECT CASE{branches} END AS c FROM orders");
    refused_at_the_transform(&server, &input(&case)).await;

    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, 200, "{}", server.output());
}

#[tokio::test]
async fn transforms_within_the_bound_run_to_their_end_on_the_flow_threads() {
    let server = TestServer::start(Options::default()).await;
    let (orders, lake) = orders_and_lake(&server, 10).await;

    // Nine hundred terms: a worker thread's 2 MiB stack does not always plan this far.
    let flow = server
        .run_flow(one_transform_over_orders(orders, lake, &chain(900), "deep"))
        .await;
    assert_eq!(flow["output"]["state"], "COMPLETED", "{flow}");

    let branches: String = (0..2_500)
        .map(|i| format!(" WHEN id = {i} THEN {i}"))
        .collect();
    let case = format!("SELECT CASE{branches} END AS c FROM orders");
    let flow = server
        .run_flow(one_transform_over_orders(orders, lake, &case, "wide"))
        .await;
    assert_eq!(flow["output"]["state"], "COMPLETED", "{flow}");
    let (status, _) = server.get("/healthz").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_pattern_read_from_a_column_never_reaches_an_answer_or_the_log() {
    let server = TestServer::start(Options::default()).await;
    std::fs::write(
        server.data.join("secrets.csv"),
        "id,secret\n1,TOPSECRET_(42\n",
    )
    .unwrap();
    let source = server
        .data_store(json!({"name": "secrets", "type": "file", "connection": {"path": "secrets.csv", "format": "csv"}}))
        .await;
    let target = server
        .data_store(json!({"name": "out", "type": "file", "connection": {"path": "out.csv", "format": "csv"}}))
        .await;
    for sql in [
        "SELECT regexp_match('x', secret) AS m FROM src",
        "SELECT regexp_like('x', secret) AS m FROM src",
        "SELECT regexp_replace('x', secret, 'y') AS m FROM src",
        "SELECT regexp_count('x', secret) AS m FROM src",
    ] {
        let flow = server
            .run_flow(json!({
                "source_data_store_ids": [source], "target_data_store_id": target,
                "sources": [{"data_store_id": source, "as": "src"}],
                "transforms": [{"name": "t", "sql": sql}],
                "outputs": [{"transform": "t", "mode": "replace"}]
            }))
            .await;
        assert_eq!(flow["output"]["state"], "FAILED", "{flow}");
        let (_, logs) = server.get(&format!("/v1/flows/{}/logs", flow["id"])).await;
        for shown in [flow.to_string(), logs.to_string(), server.output()] {
            assert!(
                !shown.contains("TOPSECRET"),
                "{sql}: the pattern was shown: {shown}"
            );
        }
        assert!(
            flow.to_string().contains("does not compile"),
            "{sql}: {flow}"
        );
    }
    // Waited for the log's last lines: every step's end is logged before the flow's.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!server.output().contains("TOPSECRET"));
}
