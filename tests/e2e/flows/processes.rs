//! Flows and the processes running them: concurrency limits, killed processes, what stopped
//! flows left staged, a PostgreSQL state database, and scratch files past the memory budget.

use super::*;

#[tokio::test]
async fn eight_flows_started_together_all_complete_with_at_most_the_configured_number_running() {
    let server = TestServer::start(Options {
        max_concurrent_flows: 2,
        ..Options::default()
    })
    .await;
    let target = json!({"name": "lake", "type": "columnar_db", "connection": {"path": "lake"}});
    let (orders, shop, target) = shop(&server, 20_000, target).await;
    let mut flows = Vec::new();
    for _ in 0..8 {
        let input = server
            .flow_input(three_transforms(orders, shop, target))
            .await;
        flows.push(server.start_flow(input).await);
    }
    let started = Instant::now();
    let mut most_running = 0;
    loop {
        let (_, running) = server.get("/v1/flows?state=RUNNING").await;
        most_running = most_running.max(running.as_array().unwrap().len());
        let (_, done) = server.get("/v1/flows?state=COMPLETED").await;
        if done.as_array().unwrap().len() == 8 {
            break;
        }
        let (_, failed) = server.get("/v1/flows?state=FAILED").await;
        assert!(failed.as_array().unwrap().is_empty(), "{failed}");
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "flows did not finish"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(most_running <= 2, "{most_running} flows ran at once");
    assert!(most_running >= 1);
}

#[tokio::test]
async fn a_flow_whose_process_is_killed_runs_again_and_after_the_second_kill_fails_for_good() {
    let short_lease = || Options {
        env: vec![("SLUICE__RUNNER__LEASE_SECS", "2".into())],
        ..Options::default()
    };
    let server = TestServer::start(short_lease()).await;
    let (orders, lake) = orders_and_lake(&server, 3000).await;
    let input = server.flow_input(endless(orders, lake)).await;
    let flow = server.start_flow(input).await;
    server
        .wait_for_state(flow, "RUNNING", Duration::from_secs(10))
        .await;

    // restart() kills the process (SIGKILL) and starts a new one on the same store: once the
    // lease has run out, the new one runs the flow again from the start.
    let server = server.restart(short_lease()).await;
    let started = Instant::now();
    loop {
        let (_, view) = server.get(&format!("/v1/flows/{flow}")).await;
        let ran_again = view["output"]["logs"].to_string().contains("runs again");
        if ran_again && view["output"]["state"] == "RUNNING" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the flow did not run again: {view}\n{}",
            server.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Killed again: runner.max_crashes (2) is reached, and the flow fails saying so.
    let server = server.restart(short_lease()).await;
    let end = server
        .wait_for_state(flow, "FAILED", Duration::from_secs(15))
        .await;
    let error = end["output"]["errors"]["lines"][0].as_str().unwrap();
    assert!(error.contains("runner.max_crashes"), "{end}");
    assert!(
        !server.data.join("lake/crossed").exists(),
        "nothing half-written is visible"
    );
    // Never claimed again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, later) = server.get(&format!("/v1/flows/{flow}")).await;
    assert_eq!(later["output"]["state"], "FAILED", "{later}");
}

/// At start, what flows that are not running left staged in the data folder is removed: here a
/// completed flow's and an unknown flow's; a running flow's staging and other hidden files stay.
#[tokio::test]
async fn what_stopped_flows_left_staged_in_the_data_folder_is_removed_at_start() {
    let server = TestServer::start(Options::default()).await;
    let (orders, lake) = orders_and_lake(&server, 3000).await;
    let done = server
        .run_flow(json!({
            "source_data_store_ids": [orders], "target_data_store_id": lake,
            "sources": [{"data_store_id": orders, "as": "orders"}],
            "transforms": [{"name": "copied", "sql": "SELECT * FROM orders"}],
            "outputs": [{"transform": "copied", "table": "copied", "mode": "replace"}]
        }))
        .await;
    assert_eq!(done["output"]["state"], "COMPLETED", "{done}");
    let done = done["id"].as_i64().unwrap();
    let input = server.flow_input(endless(orders, lake)).await;
    let running = server.start_flow(input).await;
    server
        .wait_for_state(running, "RUNNING", Duration::from_secs(10))
        .await;

    // What a process killed while writing would leave, and what is not staging at all.
    let lake = server.data.join("lake");
    let stale = [
        lake.join(format!(".copied.sluice-{done}-0a1b")),
        lake.join(format!(".copied.sluice-{done}-2c3d.old")),
        lake.join(".gone.sluice-4242-9f8e"),
    ];
    std::fs::create_dir_all(stale[0].join("part")).unwrap();
    std::fs::write(stale[0].join("part/0.parquet"), "x").unwrap();
    std::fs::write(&stale[1], "x").unwrap();
    std::fs::write(&stale[2], "x").unwrap();
    let live = lake.join(format!(".other.sluice-{running}-5e6f"));
    let unrelated = lake.join(".keep");
    std::fs::write(&live, "x").unwrap();
    std::fs::write(&unrelated, "x").unwrap();

    // restart() kills the process and starts another; the running flow's lease still holds.
    let server = server.restart(Options::default()).await;
    let started = Instant::now();
    while stale.iter().any(|p| p.exists()) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still there: {:?}",
            stale.iter().filter(|p| p.exists()).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(live.exists(), "a running flow's staging stays");
    assert!(unrelated.exists());
    let (_, view) = server.get(&format!("/v1/flows/{running}")).await;
    assert_eq!(view["output"]["state"], "RUNNING", "{view}");
}

#[tokio::test]
async fn the_server_runs_flows_with_a_postgresql_metadata_store() {
    let server = TestServer::start(Options {
        postgres: true,
        ..Options::default()
    })
    .await;
    let target = json!({"name": "mart", "type": "relational_db", "connection": {"engine": "sqlite", "path": "mart.sqlite"}});
    let (orders, shop, target) = shop(&server, 500, target).await;
    let input = server
        .flow_input(three_transforms(orders, shop, target))
        .await;
    let flow = server.start_flow(input).await;
    let (seen, end) = server.wait_for_end(flow, Duration::from_secs(30)).await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
    assert_progress_and_logs(&seen, &end);
    let (status, ready) = server.get("/readyz").await;
    assert_eq!(status, 200, "{ready}");
}

#[tokio::test]
async fn tables_larger_than_the_memory_budget_go_to_scratch_files_and_give_the_same_answer() {
    // A 1 MB budget: the enriched orders, which a transform and an output both read, are kept
    // in scratch files, and the join still gets the memory it needs.
    let scratch = tempfile::tempdir().unwrap();
    let server = TestServer::start(Options {
        env: vec![
            ("SLUICE__ENGINE__MEMORY_PER_FLOW_MB", "1".into()),
            (
                "SLUICE__ENGINE__SCRATCH_DIR",
                scratch.path().display().to_string(),
            ),
        ],
        ..Options::default()
    })
    .await;
    let target = json!({"name": "mart", "type": "relational_db", "connection": {"engine": "sqlite", "path": "mart.sqlite"}});
    let (orders, shop, target) = shop(&server, 100_000, target).await;
    let input = server
        .flow_input(three_transforms(orders, shop, target))
        .await;
    let flow = server.start_flow(input).await;
    let (_, end) = server.wait_for_end(flow, Duration::from_secs(60)).await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
    assert_eq!(end["output"]["steps"][0]["rows"], 100_000, "{end}");

    let mart = server.data.join("mart.sqlite");
    let count = sqlite_rows(&mart, "SELECT count(*) FROM enriched").await;
    assert_eq!(count[0][0], big_order_count(100_000).to_string());
    let orders_total = sqlite_rows(&mart, "SELECT sum(orders) FROM by_country").await;
    assert_eq!(orders_total[0][0], big_order_count(100_000).to_string());
    let leftovers: Vec<_> = std::fs::read_dir(scratch.path()).unwrap().collect();
    assert!(
        leftovers.is_empty(),
        "the flow's scratch folder is removed: {leftovers:?}"
    );
}
