//! Stopping a process loses nothing: on SIGTERM it answers `/readyz` with 503 at once, claims no
//! more flows, lets the running ones finish within its drain time, hands back those that do not
//! (another process runs them from the start), and serves requests until it ends.

use serde_json::{Value, json};
use std::time::Duration;

use crate::support::{Options, TestServer, write_orders_csv};

/// Orders crossed three times: a flow of about a second on 1,000 orders, several on 1,500.
fn crossed(orders: i64, target: i64) -> Value {
    json!({
        "source_data_store_ids": [orders], "target_data_store_id": target,
        "sources": [{"data_store_id": orders, "as": "orders"}],
        "transforms": [{"name": "crossed", "sql": "SELECT count(*) AS n, sum(a.amount + b.amount + c.amount) AS s FROM orders a CROSS JOIN orders b CROSS JOIN orders c"}],
        "outputs": [{"transform": "crossed", "table": "crossed", "mode": "replace"}]
    })
}

async fn crossed_flow_input(server: &TestServer, orders: usize) -> i64 {
    write_orders_csv(&server.data.join("orders.csv"), orders);
    let source = server
        .data_store(json!({"name": "orders", "type": "file", "connection": {"path": "orders.csv", "format": "csv"}}))
        .await;
    let lake = server
        .data_store(json!({"name": "lake", "type": "columnar_db", "connection": {"path": "lake"}}))
        .await;
    server.flow_input(crossed(source, lake)).await
}

fn options(postgres: bool, drain_secs: u64, shutdown_delay_secs: u64) -> Options {
    Options {
        postgres,
        env: vec![
            ("SLUICE__RUNNER__DRAIN_SECS", drain_secs.to_string()),
            ("SLUICE__RUNNER__LEASE_SECS", "2".into()),
            (
                "SLUICE__SERVER__SHUTDOWN_DELAY_SECS",
                shutdown_delay_secs.to_string(),
            ),
        ],
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopping_process_is_unready_at_once_serves_on_and_lets_its_running_flow_finish() {
    let mut server = TestServer::start(options(false, 60, 1)).await;
    let input = crossed_flow_input(&server, 1000).await;
    let flow = server.start_flow(input).await;
    server
        .wait_for_state(flow, "RUNNING", Duration::from_secs(10))
        .await;

    server.terminate();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, problem) = server.get("/readyz").await;
    assert_eq!(status, 503, "{problem}");
    assert_eq!(problem["type"], "/problems/unavailable");
    let (status, _) = server.get(&format!("/v1/flows/{flow}")).await;
    assert_eq!(status, 200, "requests are served while the process drains");
    let later = server.start_flow(input).await;

    let exit = server.wait_exit(Duration::from_secs(60)).await;
    assert!(exit.success(), "{exit}:\n{}", server.output());
    // Read back through a process that runs nothing.
    let mut options = options(false, 60, 0);
    options.max_concurrent_flows = 0;
    let reader = server.restart(options).await;
    let (_, view) = reader.get(&format!("/v1/flows/{flow}")).await;
    assert_eq!(view["output"]["state"], "COMPLETED", "{view}");
    let (_, view) = reader.get(&format!("/v1/flows/{later}")).await;
    assert_eq!(
        view["output"]["state"], "READY",
        "a stopping process claims no flow: {view}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flow_still_running_when_the_drain_ends_is_handed_back_and_another_process_completes_it()
{
    let mut first = TestServer::start(options(true, 1, 0)).await;
    let input = crossed_flow_input(&first, 1500).await;
    let flow = first.start_flow(input).await;
    first
        .wait_for_state(flow, "RUNNING", Duration::from_secs(10))
        .await;
    // Started after the claim, the second process cannot have taken the flow.
    let second = first.replica(options(true, 60, 0)).await;

    first.terminate();
    let exit = first.wait_exit(Duration::from_secs(30)).await;
    assert!(exit.success(), "{exit}:\n{}", first.output());
    let end = second
        .wait_for_state(flow, "COMPLETED", Duration::from_secs(120))
        .await;
    let logs = end["output"]["logs"]["lines"].to_string();
    assert!(logs.contains("handed back"), "{end}");
    assert_eq!(
        logs.matches(" started on runner ").count(),
        2,
        "run once by each process: {end}"
    );
    assert_eq!(end["output"]["errors"]["lines"], json!([]), "{end}");
    let steps = end["output"]["steps"].as_array().unwrap();
    assert!(
        steps.iter().all(|s| s["state"] == "COMPLETED"),
        "the steps of the second run alone: {end}"
    );
    let (status, problem) = second.get("/readyz").await;
    assert_eq!(status, 200, "{problem}");
}
