//! Flows stopped: past their memory, or cancelled mid-work, leaving the target alone.

use super::*;

#[tokio::test]
async fn a_join_past_the_flow_s_operator_memory_fails_that_flow_alone_saying_so() {
    let server = TestServer::start(Options {
        env: vec![("SLUICE__ENGINE__OPERATOR_MEMORY_PER_FLOW_MB", "4".into())],
        ..Options::default()
    })
    .await;
    let target = json!({"name": "out", "type": "columnar_db", "connection": {"path": "out"}});
    let (orders, _shop, target) = shop(&server, 200_000, target).await;
    let flow_of = |sql: &str, table: &str| {
        crate::support::one_source_flow(
            orders,
            json!({}),
            target,
            json!([{"name": "t", "sql": sql}]),
            json!([{"transform": "t", "table": table, "mode": "replace"}]),
        )
    };
    // A hash join builds a table of every row of one side in memory; it cannot spill.
    let joined = server
        .flow_input(flow_of(
            "SELECT a.id, b.amount FROM src a JOIN src b ON a.id = b.customer_id",
            "joined",
        ))
        .await;
    let counted = server
        .flow_input(flow_of("SELECT count(*) AS n FROM src", "counted"))
        .await;
    let joined = server.start_flow(joined).await;
    let counted = server.start_flow(counted).await;
    let (_, end) = server.wait_for_end(joined, Duration::from_secs(60)).await;
    assert_eq!(end["output"]["state"], "FAILED", "{end}");
    let error = end["output"]["errors"]["lines"][0].as_str().unwrap();
    assert!(
        error.contains("needed more memory than engine.operator_memory_per_flow_mb allows"),
        "{error}"
    );
    let (_, other) = server.wait_for_end(counted, Duration::from_secs(60)).await;
    assert_eq!(other["output"]["state"], "COMPLETED", "{other}");
    assert_eq!(server.get("/healthz").await.0, 200);
}

#[tokio::test]
async fn a_cancelled_flow_stops_within_two_seconds_and_leaves_the_target_alone() {
    let server = TestServer::start(Options::default()).await;
    std::fs::create_dir_all(server.data.join("lake/crossed")).unwrap();
    std::fs::write(
        server.data.join("lake/crossed/old.parquet"),
        b"the previous results",
    )
    .unwrap();
    let (orders, lake) = orders_and_lake(&server, 3000).await;
    let input = server.flow_input(endless(orders, lake)).await;
    let flow = server.start_flow(input).await;
    server
        .wait_for_state(flow, "RUNNING", Duration::from_secs(10))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let asked = Instant::now();
    let (status, body) = server
        .post(&format!("/v1/flows/cancel/{flow}"), &json!({}))
        .await;
    assert_eq!(status, 202, "{body}");
    server
        .wait_for_state(flow, "CANCELLED", Duration::from_secs(2))
        .await;
    assert!(asked.elapsed() < Duration::from_secs(2));

    assert_idle(server.pid(), "the cancel", asked).await;

    let files: Vec<_> = std::fs::read_dir(server.data.join("lake/crossed"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files, ["old.parquet"]);
    assert_eq!(
        std::fs::read(server.data.join("lake/crossed/old.parquet")).unwrap(),
        b"the previous results"
    );
    let (status, _) = server
        .post(&format!("/v1/flows/{flow}/cancel"), &json!({}))
        .await;
    assert_eq!(status, 409, "a finished flow cannot be cancelled");
}

/// A large sort and a large hash join, each cancelled while it computes: the process stops
/// working on it within the 2 s a cancel may take. (DataFusion yields between batches; what runs
/// without yielding, such as hashing a join's whole build side in one call, must end in time.)
#[tokio::test]
async fn a_cancel_stops_a_large_sort_and_a_large_join_within_two_seconds() {
    let server = TestServer::start(Options::default()).await;
    let (orders, lake) = orders_and_lake(&server, 2000).await;
    // 4M rows each, keyed by text so that no shortcut (an array map of dense integers) applies.
    for (what, sql) in [
        (
            "the sort",
            "SELECT max(r) AS m FROM (SELECT row_number() OVER (ORDER BY concat(b.id, '-', a.id)) \
             AS r FROM orders a CROSS JOIN orders b) s",
        ),
        (
            "the join",
            "WITH big AS (SELECT concat(a.id, '-', b.id) AS k FROM orders a CROSS JOIN orders b) \
             SELECT count(*) AS n FROM big x JOIN big y ON x.k = y.k",
        ),
    ] {
        let input = server
            .flow_input(one_transform_over_orders(orders, lake, sql, "t"))
            .await;
        let before = crate::support::cpu_time(server.pid());
        let flow = server.start_flow(input).await;
        // Into the CPU-bound part: once the flow has had 600 ms of CPU its rows are made and
        // being sorted or hashed (counted in CPU, not wall time, as other tests share the cores).
        let waited = Instant::now();
        while crate::support::cpu_time(server.pid()) - before < Duration::from_millis(600) {
            assert!(
                waited.elapsed() < Duration::from_secs(60),
                "{what} never had 600 ms of CPU"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (_, view) = server.get(&format!("/v1/flows/{flow}")).await;
        assert_eq!(view["output"]["state"], "RUNNING", "{what}: {view}");
        let asked = Instant::now();
        let (status, body) = server
            .post(&format!("/v1/flows/cancel/{flow}"), &json!({}))
            .await;
        assert_eq!(status, 202, "{what}: {body}");
        server
            .wait_for_state(flow, "CANCELLED", Duration::from_secs(2))
            .await;
        assert_idle(server.pid(), what, asked).await;
    }
}
