//! Several `sluice` processes on one PostgreSQL state database and one data folder, as replicas
//! behind a load balancer: they share the flows, settle a dead one's, and pass cancels on.

use datafusion::arrow::array::{Array, Int64Array};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::databases::MysqlDatabase;
use crate::support::{
    Options, TestServer, assert_idle, endless, orders_and_lake, parquet_rows, write_orders_csv,
};

/// Short leases, so that a dead process's flows are settled within seconds.
const LEASE_SECS: u64 = 2;

fn replica_options(max_concurrent_flows: usize) -> Options {
    Options {
        postgres: true,
        max_concurrent_flows,
        // A dead process's flow is settled at once rather than run again, so these tests read
        // how and when it is settled (running it again is tested in flows.rs).
        env: vec![
            ("SLUICE__RUNNER__LEASE_SECS", LEASE_SECS.to_string()),
            ("SLUICE__RUNNER__MAX_CRASHES", "1".to_owned()),
        ],
        ..Options::default()
    }
}

/// The runner named in a flow's "started on runner" log line.
fn runner_of(flow: &Value) -> String {
    let started: Vec<&str> = flow["output"]["logs"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l.as_str().unwrap().split(" started on runner ").nth(1))
        .collect();
    assert_eq!(started.len(), 1, "the flow started once: {flow}");
    started[0].split(':').next().unwrap().to_owned()
}

#[tokio::test]
async fn two_processes_on_one_postgresql_run_twenty_flows_each_exactly_once() {
    let first = TestServer::start(replica_options(2)).await;
    let second = first.replica(replica_options(2)).await;
    let (orders, lake) = orders_and_lake(&first, 5_000).await;

    // Each flow appends to a table of its own: a flow run twice would leave twice the rows.
    let mut flows = Vec::new();
    for i in 0..20 {
        let input = json!({
            "source_data_store_ids": [orders], "target_data_store_id": lake,
            "sources": [{"data_store_id": orders, "as": "orders"}],
            "transforms": [{"name": "big", "sql": "SELECT * FROM orders WHERE amount > 100"}],
            "outputs": [{"transform": "big", "table": format!("run_{i}"), "mode": "append"}]
        });
        // Starts go to either process, as a load balancer would send them.
        let server = if i % 2 == 0 { &first } else { &second };
        let input = server.flow_input(input).await;
        flows.push((i, server.start_flow(input).await));
    }

    let mut runners = HashSet::new();
    for (i, flow) in flows {
        let (_, end) = first.wait_for_end(flow, Duration::from_secs(120)).await;
        assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
        runners.insert(runner_of(&end));
        let table = first.data.join(format!("lake/run_{i}"));
        let batches = parquet_rows(&table, "SELECT count(*) FROM t").await;
        let count = batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0);
        let expected = (1..=5_000).filter(|id| id * 7 % 500 > 100).count() as i64;
        assert_eq!(count, expected, "run_{i} holds one run's rows");
    }
    assert_eq!(runners.len(), 2, "both processes ran flows: {runners:?}");
    drop(second);
}

#[tokio::test]
async fn a_flow_of_a_killed_process_is_settled_by_the_other_within_the_lease_bound() {
    let mut first = TestServer::start(replica_options(2)).await;
    let (orders, lake) = orders_and_lake(&first, 3000).await;
    let input = first.flow_input(endless(orders, lake)).await;
    let flow = first.start_flow(input).await;
    // Killed once the output is being staged (its transform runs, its source was read first),
    // so that the settle has running steps to fail and a staged folder to remove.
    first
        .wait_for_step(
            flow,
            ("output", "crossed -> crossed"),
            "RUNNING",
            Duration::from_secs(10),
        )
        .await;
    let lake_folder = first.data.join("lake");
    let staged = || {
        std::fs::read_dir(&lake_folder)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| {
                        e.file_name()
                            .to_string_lossy()
                            .starts_with(".crossed.sluice-")
                    })
                    .count()
            })
            .unwrap_or(0)
    };
    let mut waited = 0;
    while staged() == 0 && waited < 50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    assert_eq!(staged(), 1, "the output is being staged");
    // Started after the claim, the second process cannot have taken the flow.
    let second = first.replica(replica_options(2)).await;

    first.kill();
    let killed = Instant::now();
    // The documented bound: 1.5 leases after the last renewal, which came at most a third of a
    // lease before the kill; a second more for the polls.
    let bound = Duration::from_secs(LEASE_SECS * 3 / 2 + LEASE_SECS / 3 + 1);
    let end = second
        .wait_for_state(flow, "FAILED", bound + Duration::from_secs(5))
        .await;
    let took = killed.elapsed();
    assert!(
        took <= bound,
        "settled {took:?} after the kill, over {bound:?}"
    );
    let errors = end["output"]["errors"]["lines"].to_string();
    assert!(errors.contains("interrupted"), "{end}");
    let steps = &end["output"]["steps"];
    assert_eq!(steps[1]["name"], "crossed", "{end}");
    assert_eq!(steps[1]["state"], "FAILED", "{end}");
    // The output reads crossed as it is made, so it has usually started too.
    assert!(
        ["FAILED", "SKIPPED"].contains(&steps[2]["state"].as_str().unwrap()),
        "{end}"
    );
    assert!(
        !second.data.join("lake/crossed").exists(),
        "nothing half-written is visible"
    );
    // The settle removes what the killed process had staged.
    let mut waited = 0;
    while staged() > 0 && waited < 50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    assert_eq!(staged(), 0, "the staged folder is left behind");
    drop(second);
}

#[tokio::test]
async fn a_process_whose_lease_ran_out_does_not_commit_a_flow_another_settled() {
    // The first process checks on its flows only every 20 s, so it renews no lease while its
    // flow runs; the second settles the flow once the lease runs out. The flow's source takes
    // 6 s, after which the first process would commit.
    let mut slow = replica_options(1);
    slow.env
        .push(("SLUICE__RUNNER__CANCEL_CHECK_INTERVAL_MS", "20000".into()));
    let first = TestServer::start(slow).await;
    let (_source_db, source_name) = crate::databases::postgres_database("").await;
    let source = first
        .data_store(crate::databases::postgres_store("slow", &source_name, 5432))
        .await;
    let (_, lake) = orders_and_lake(&first, 10).await;
    let input = first
        .flow_input(json!({
            "source_data_store_ids": [source], "target_data_store_id": lake,
            "sources": [{"data_store_id": source, "as": "src",
                "query": "SELECT 1 AS id FROM pg_sleep(6)"}],
            "transforms": [{"name": "copied", "sql": "SELECT * FROM src"}],
            "outputs": [{"transform": "copied", "table": "late", "mode": "replace"}]
        }))
        .await;
    let flow = first.start_flow(input).await;
    first
        .wait_for_state(flow, "RUNNING", Duration::from_secs(10))
        .await;
    let second = first.replica(replica_options(1)).await;
    let end = second
        .wait_for_state(flow, "FAILED", Duration::from_secs(10))
        .await;
    assert!(
        end["output"]["errors"]["lines"]
            .to_string()
            .contains("interrupted"),
        "{end}"
    );

    // The first process finishes its staging and asks to commit: it is told no, or (without
    // the fence) commits.
    let committed = || first.data.join("lake/late").exists();
    let refused = || first.output().contains("no longer holds the flow's lease");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !committed() && !refused() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!committed(), "a settled flow's outputs became visible");
    assert!(refused(), "the first process never reached its commit");
    let (_, after) = second.get(&format!("/v1/flows/{flow}")).await;
    assert_eq!(after["output"]["state"], "FAILED", "{after}");
}

#[tokio::test]
async fn a_cancel_sent_to_the_process_not_running_the_flow_stops_it_within_two_seconds() {
    let first = TestServer::start(replica_options(2)).await;
    let (orders, lake) = orders_and_lake(&first, 3000).await;
    let input = first.flow_input(endless(orders, lake)).await;
    let flow = first.start_flow(input).await;
    first
        .wait_for_state(flow, "RUNNING", Duration::from_secs(10))
        .await;
    let second = first.replica(replica_options(2)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let asked = Instant::now();
    let (status, body) = second
        .post(&format!("/v1/flows/{flow}/cancel"), &json!({}))
        .await;
    assert_eq!(status, 202, "{body}");
    let end = second
        .wait_for_state(flow, "CANCELLED", Duration::from_secs(2))
        .await;
    assert!(asked.elapsed() < Duration::from_secs(2));
    assert_eq!(end["output"]["steps"][1]["state"], "CANCELLED", "{end}");

    assert_idle(first.pid(), "the cancel sent to the other process", asked).await;
    assert!(!first.data.join("lake/crossed").exists());
    drop(second);
}

#[tokio::test]
async fn a_killed_process_s_mysql_staging_tables_are_dropped_when_its_flow_is_settled() {
    let target =
        MysqlDatabase::create("CREATE TABLE kept (id BIGINT); INSERT INTO kept VALUES (7);").await;
    let mut first = TestServer::start(replica_options(2)).await;
    let (orders, _) = orders_and_lake(&first, 3000).await;
    let mart = first.data_store(target.store("mart")).await;
    let input = first.flow_input(endless(orders, mart)).await;
    let flow = first.start_flow(input).await;
    // MySQL commits DDL at once: the output's staging table exists while the flow runs.
    let deadline = Instant::now() + Duration::from_secs(30);
    while target.tables().await.len() < 2 {
        assert!(Instant::now() < deadline, "no staging table appeared");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = first.replica(replica_options(2)).await;

    first.kill();
    let end = second
        .wait_for_state(flow, "FAILED", Duration::from_secs(15))
        .await;
    assert!(
        end["output"]["errors"]["lines"]
            .to_string()
            .contains("interrupted"),
        "{end}"
    );
    // The settling replica drops them right after it settles the flow.
    let deadline = Instant::now() + Duration::from_secs(5);
    while target.tables().await != ["kept"] && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(target.tables().await, ["kept"], "no staging table is left");
    let kept = target.rows("SELECT CAST(id AS CHAR) FROM kept").await;
    assert_eq!(kept, [[Some("7".to_owned())]], "the target is as it was");
    drop(second);
}

#[tokio::test]
async fn what_a_killed_process_staged_on_s3_is_removed_when_its_flow_is_settled() {
    let s3 = crate::support::S3Server::start().await;
    let seed = tempfile::tempdir().unwrap();
    std::fs::write(seed.path().join("readme.txt"), "the bucket's first object").unwrap();
    s3.upload(seed.path(), "lake", "seed").await;
    let on_s3 = |max_concurrent_flows| {
        let mut options = replica_options(max_concurrent_flows);
        options.env.extend(s3.env());
        options
    };
    let mut first = TestServer::start(on_s3(1)).await;
    write_orders_csv(&first.data.join("orders.csv"), 3000);
    let orders = first
        .data_store(json!({"name": "orders", "type": "file", "connection": {"path": "orders.csv", "format": "csv"}}))
        .await;
    let tables = first
        .data_store(json!({"name": "tables", "type": "columnar_db", "connection": {"path": "s3://lake/tables"}}))
        .await;
    // The first output is staged whole on S3; the second never ends.
    let mut input = endless(orders, tables);
    input["transforms"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "quick", "sql": "SELECT id FROM orders"}));
    input["outputs"] = json!([
        {"transform": "quick", "table": "quick", "mode": "replace"},
        {"transform": "crossed", "table": "crossed", "mode": "replace"}
    ]);
    let input = first.flow_input(input).await;
    let flow = first.start_flow(input).await;
    first
        .wait_for_step(
            flow,
            ("output", "crossed -> crossed"),
            "RUNNING",
            Duration::from_secs(20),
        )
        .await;
    let staged = |keys: &[String]| keys.iter().filter(|k| k.contains(".sluice-")).count();
    assert_eq!(
        staged(&s3.keys("lake").await),
        1,
        "the first output is staged"
    );
    let second = first.replica(on_s3(1)).await;

    first.kill();
    second
        .wait_for_state(flow, "FAILED", Duration::from_secs(15))
        .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut keys = s3.keys("lake").await;
    while staged(&keys) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        keys = s3.keys("lake").await;
    }
    assert_eq!(staged(&keys), 0, "left behind: {keys:?}");
    assert!(
        !keys.iter().any(|k| k.starts_with("tables/quick/")),
        "nothing was committed: {keys:?}"
    );
}

/// Where Debian's libfaketime is (tests/apt-packages.txt installs it).
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// Leases run on the state database's clock: a process whose own clock runs an hour ahead
/// (libfaketime) sweeps for expired leases every second and still leaves a live flow alone.
#[tokio::test]
async fn a_process_whose_clock_runs_an_hour_ahead_leaves_a_live_flow_alone() {
    assert!(
        std::path::Path::new(LIBFAKETIME).exists(),
        "this test needs libfaketime: apt-get install faketime (see tests/apt-packages.txt)"
    );
    let first = TestServer::start(replica_options(1)).await;
    let (orders, lake) = orders_and_lake(&first, 3000).await;
    let input = first.flow_input(endless(orders, lake)).await;
    let flow = first.start_flow(input).await;
    first
        .wait_for_state(flow, "RUNNING", Duration::from_secs(10))
        .await;

    let mut ahead = replica_options(0);
    ahead.env.extend([
        ("LD_PRELOAD", LIBFAKETIME.to_owned()),
        ("FAKETIME", "+1h".to_owned()),
        // Timers and timeouts keep real time; only the wall clock is ahead.
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_owned()),
    ]);
    let second = first.replica(ahead).await;
    // The clock is ahead indeed: what the process stamps is an hour later.
    let (_, store) = second
        .post(
            "/v1/data-stores",
            &json!({"name": "probe", "type": "file", "connection": {"path": "probe.csv", "format": "csv"}}),
        )
        .await;
    let stamped =
        chrono::DateTime::parse_from_rfc3339(store["created_utc"].as_str().unwrap()).unwrap();
    assert!(
        stamped > chrono::Utc::now() + chrono::TimeDelta::minutes(50),
        "the second process's clock is not ahead: {store}"
    );

    // Several sweeps (every half lease) and renewals (every third of one).
    tokio::time::sleep(Duration::from_secs(LEASE_SECS * 3)).await;
    let (_, view) = second.get(&format!("/v1/flows/{flow}")).await;
    assert_eq!(view["output"]["state"], "RUNNING", "{view}");
    assert_eq!(view["output"]["errors"]["lines"], json!([]), "{view}");
    let (status, _) = second
        .post(&format!("/v1/flows/{flow}/cancel"), &json!({}))
        .await;
    assert_eq!(status, 202);
    first
        .wait_for_state(flow, "CANCELLED", Duration::from_secs(20))
        .await;
}
