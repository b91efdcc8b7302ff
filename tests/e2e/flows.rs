//! Flows run for real: CSV and SQLite sources, SQLite, columnar and file targets.

use datafusion::arrow::array::{Array, Int64Array};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

use crate::support::{
    Options, TestServer, assert_idle, endless, one_transform_over_orders, orders_and_lake,
    parquet_rows, sqlite_rows, write_customers_sqlite, write_orders_csv,
};

/// Registers orders.csv, shop.sqlite (customers) and a target, and returns (orders, shop, target).
async fn shop(server: &TestServer, orders: usize, target: Value) -> (i64, i64, i64) {
    write_orders_csv(&server.data.join("orders.csv"), orders);
    write_customers_sqlite(&server.data.join("shop.sqlite")).await;
    let orders = server
        .data_store(json!({"name": "orders", "type": "file", "connection": {"path": "orders.csv", "format": "csv"}}))
        .await;
    let shop = server
        .data_store(json!({"name": "shop", "type": "relational_db", "connection": {"engine": "sqlite", "path": "shop.sqlite"}}))
        .await;
    let target = server.data_store(target).await;
    (orders, shop, target)
}

fn three_transforms(orders: i64, shop: i64, target: i64) -> Value {
    json!({
        "source_data_store_ids": [orders, shop],
        "target_data_store_id": target,
        "sources": [
            {"data_store_id": orders, "as": "orders"},
            {"data_store_id": shop, "table": "customers", "as": "customers"}
        ],
        "transforms": [
            {"name": "by_country", "sql": "SELECT country, count(*) AS orders, sum(amount) AS total FROM enriched GROUP BY country ORDER BY country"},
            {"name": "big_orders", "sql": "SELECT * FROM orders WHERE amount > 100"},
            {"name": "enriched", "sql": "SELECT o.id, o.amount, c.name, c.country FROM big_orders o JOIN customers c ON c.id = o.customer_id"}
        ],
        "outputs": [
            {"transform": "enriched", "table": "enriched", "mode": "replace"},
            {"transform": "by_country", "table": "by_country", "mode": "replace"}
        ]
    })
}

/// Orders with amount > 100 among ids 1..=rows, by the CSV's own formula.
fn big_order_count(rows: usize) -> i64 {
    (1..=rows).filter(|id| id * 7 % 500 > 100).count() as i64
}

fn assert_progress_and_logs(seen: &[Value], end: &Value) {
    let percents: Vec<u64> = seen
        .iter()
        .map(|f| f["output"]["progress"]["percent"].as_u64().unwrap())
        .collect();
    assert!(
        percents.windows(2).all(|w| w[0] <= w[1]),
        "progress went down: {percents:?}"
    );
    assert_eq!(end["output"]["progress"]["percent"], 100);
    let logs: Vec<&str> = end["output"]["logs"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    // Two ingests, three transforms, two outputs: a start and an end line each.
    for step in [
        "ingest 'orders'",
        "ingest 'customers'",
        "transform 'big_orders'",
        "transform 'enriched'",
        "transform 'by_country'",
        "output 'enriched -> enriched'",
        "output 'by_country -> by_country'",
    ] {
        assert!(
            logs.iter()
                .any(|l| l.contains(&format!("step {step} started"))),
            "no start line for {step}: {logs:#?}"
        );
        assert!(
            logs.iter()
                .any(|l| l.contains(&format!("step {step} finished: ")) && l.contains(" rows in ")),
            "no end line with rows and duration for {step}: {logs:#?}"
        );
    }
    assert!(
        logs.last().unwrap().ends_with("flow completed"),
        "{logs:#?}"
    );
    assert!(
        end["output"]["errors"]["lines"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Per-step results, in plan order: sources, transforms as the input lists them, outputs.
    let steps = end["output"]["steps"].as_array().unwrap();
    let named: Vec<(&str, &str)> = steps
        .iter()
        .map(|s| (s["kind"].as_str().unwrap(), s["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        named,
        [
            ("ingest", "orders"),
            ("ingest", "customers"),
            ("transform", "by_country"),
            ("transform", "big_orders"),
            ("transform", "enriched"),
            ("output", "enriched -> enriched"),
            ("output", "by_country -> by_country"),
        ]
    );
    for step in steps {
        assert_eq!(step["state"], "COMPLETED", "{step}");
        assert!(step["rows"].as_u64().is_some(), "{step}");
        assert!(step["error"].is_null(), "{step}");
        let (started, finished) = (step["started_utc"].as_str(), step["finished_utc"].as_str());
        assert!(started.is_some() && finished >= started, "{step}");
    }
}

/// Every line of a flow, read a page of `limit` at a time through `/v1/flows/{id}/logs`.
async fn all_lines(server: &TestServer, flow: i64, limit: usize) -> Vec<Value> {
    let mut lines = Vec::new();
    let mut path = format!("/v1/flows/{flow}/logs?limit={limit}");
    loop {
        let (status, page) = server.get(&path).await;
        assert_eq!(status, 200, "{page}");
        let got = page["lines"].as_array().unwrap();
        assert!(got.len() <= limit);
        lines.extend(got.iter().cloned());
        match page["next_after"].as_i64() {
            Some(after) => path = format!("/v1/flows/{flow}/logs?limit={limit}&after={after}"),
            None => return lines,
        }
    }
}

#[tokio::test]
async fn a_flow_joins_a_csv_with_a_sqlite_table_into_a_sqlite_target() {
    let server = TestServer::start(Options::default()).await;
    let target = json!({"name": "mart", "type": "relational_db", "connection": {"engine": "sqlite", "path": "out/mart.sqlite"}});
    let (orders, shop, target) = shop(&server, 2000, target).await;
    let input = server
        .flow_input(three_transforms(orders, shop, target))
        .await;
    let flow = server.start_flow(input).await;
    let (seen, end) = server.wait_for_end(flow, Duration::from_secs(30)).await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
    assert_progress_and_logs(&seen, &end);
    assert_eq!(
        end["output"]["steps"][3]["rows"],
        big_order_count(2000),
        "big_orders counts its rows"
    );

    // Paged, the lines are the view's lines (all of them: fewer than a view holds), in order.
    let paged = all_lines(&server, flow, 3).await;
    let texts: Vec<&Value> = paged.iter().map(|l| &l["line"]).collect();
    let viewed: Vec<&Value> = end["output"]["logs"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(texts, viewed);
    assert_eq!(end["output"]["logs"]["has_earlier"], false);
    assert!(
        paged
            .iter()
            .all(|l| l["stream"] == "log" && l["created_utc"].is_string())
    );
    let (status, problem) = server.get(&format!("/v1/flows/{flow}/logs?limit=0")).await;
    assert_eq!(status, 422, "{problem}");
    let (status, _) = server.get("/v1/flows/999999/logs").await;
    assert_eq!(status, 404);

    let mart = server.data.join("out/mart.sqlite");
    let count = sqlite_rows(&mart, "SELECT count(*) FROM enriched").await;
    assert_eq!(count[0][0], big_order_count(2000).to_string());
    let by_country = sqlite_rows(
        &mart,
        "SELECT country, orders FROM by_country ORDER BY country",
    )
    .await;
    assert_eq!(by_country.len(), 2);
    assert_eq!(by_country[1][0], "Ελλάδα", "non-ASCII text survives");
    let total: i64 = by_country
        .iter()
        .map(|r| r[1].parse::<i64>().unwrap())
        .sum();
    assert_eq!(total, big_order_count(2000));
}

#[tokio::test]
async fn a_flow_writes_a_columnar_target_and_a_rerun_replaces_it() {
    let server = TestServer::start(Options::default()).await;
    let target = json!({"name": "lake", "type": "columnar_db", "connection": {"path": "lake"}});
    let (orders, shop, target) = shop(&server, 1000, target).await;
    let input = server
        .flow_input(three_transforms(orders, shop, target))
        .await;
    for _ in 0..2 {
        let flow = server.start_flow(input).await;
        let (seen, end) = server.wait_for_end(flow, Duration::from_secs(30)).await;
        assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
        assert_progress_and_logs(&seen, &end);
    }
    let batches = parquet_rows(&server.data.join("lake/enriched"), "SELECT count(*) FROM t").await;
    let count = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(
        count,
        big_order_count(1000),
        "replace keeps one copy of the rows"
    );
    let leftovers: Vec<_> = std::fs::read_dir(server.data.join("lake"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(
        leftovers.is_empty(),
        "staging folders left behind: {leftovers:?}"
    );
}

#[tokio::test]
async fn appending_to_a_csv_file_target_keeps_the_old_rows() {
    let server = TestServer::start(Options::default()).await;
    write_orders_csv(&server.data.join("orders.csv"), 50);
    let orders = server
        .data_store(json!({"name": "orders", "type": "file", "connection": {"path": "orders.csv", "format": "csv"}}))
        .await;
    let out = server
        .data_store(json!({"name": "report", "type": "file", "connection": {"path": "reports/small.csv", "format": "csv"}}))
        .await;
    let input = server
        .flow_input(json!({
            "source_data_store_ids": [orders], "target_data_store_id": out,
            "sources": [{"data_store_id": orders, "as": "orders"}],
            "transforms": [{"name": "small", "sql": "SELECT id, amount FROM orders WHERE amount < 100 ORDER BY id"}],
            "outputs": [{"transform": "small", "mode": "append"}]
        }))
        .await;
    for _ in 0..2 {
        let flow = server.start_flow(input).await;
        let (_, end) = server.wait_for_end(flow, Duration::from_secs(30)).await;
        assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
    }
    let csv = std::fs::read_to_string(server.data.join("reports/small.csv")).unwrap();
    let small = (1..=50).filter(|id| id * 7 % 500 < 100).count();
    assert_eq!(csv.lines().count(), 1 + 2 * small, "{csv}");
    assert!(csv.starts_with("id,amount\n"));
}

#[tokio::test]
async fn a_transform_that_fails_at_run_time_fails_the_flow_naming_it_and_leaves_the_target_alone() {
    let server = TestServer::start(Options::default()).await;
    let target = json!({"name": "mart", "type": "relational_db", "connection": {"engine": "sqlite", "path": "mart.sqlite"}});
    let (orders, shop, target) = shop(&server, 100, target).await;
    let mart = server.data.join("mart.sqlite");
    let pool = crate::support::sqlite_pool(&mart).await;
    sea_orm::sqlx::query("CREATE TABLE enriched (kept TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    sea_orm::sqlx::query("INSERT INTO enriched VALUES ('before')")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let mut body = three_transforms(orders, shop, target);
    body["transforms"][1]["sql"] = json!("SELECT no_such_column FROM orders");
    let input = server.flow_input(body).await;
    let flow = server.start_flow(input).await;
    let (_, end) = server.wait_for_end(flow, Duration::from_secs(30)).await;
    assert_eq!(end["output"]["state"], "FAILED", "{end}");
    let errors = end["output"]["errors"]["lines"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let error = errors[0].as_str().unwrap();
    assert!(
        error.contains("step transform 'big_orders' failed") && error.contains("no_such_column"),
        "{error}"
    );
    let states: Vec<(&str, &str)> = end["output"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    // Each source streams into the one transform reading it, so it may still have been running
    // (and so be CANCELLED) when big_orders failed.
    for (name, state) in &states[..2] {
        assert!(
            ["COMPLETED", "CANCELLED"].contains(state),
            "{name}: {state}"
        );
    }
    assert_eq!(
        states[2..],
        [
            ("by_country", "SKIPPED"),
            ("big_orders", "FAILED"),
            ("enriched", "SKIPPED"),
            ("enriched -> enriched", "SKIPPED"),
            ("by_country -> by_country", "SKIPPED"),
        ]
    );
    let failed = &end["output"]["steps"][3];
    assert!(
        failed["error"].as_str().unwrap().contains("no_such_column"),
        "{failed}"
    );
    assert_eq!(
        sqlite_rows(&mart, "SELECT * FROM enriched").await,
        vec![vec!["before".to_owned()]]
    );
}

#[tokio::test]
async fn a_sum_of_a_text_column_fails_saying_which_transform_function_and_column() {
    let server = TestServer::start(Options::default()).await;
    let target =
        json!({"name": "out", "type": "file", "connection": {"path": "out.csv", "format": "csv"}});
    let (orders, _shop, target) = shop(&server, 10, target).await;
    let end = server
        .run_flow(crate::support::one_source_flow(
            orders,
            json!({}),
            target,
            // A CSV column of words is text.
            json!([{"name": "s", "sql": "SELECT SUM(CAST(id AS VARCHAR)) AS total FROM src"}]),
            json!([{"transform": "s", "mode": "replace"}]),
        ))
        .await;
    assert_eq!(end["output"]["state"], "FAILED", "{end}");
    let error = end["output"]["errors"]["lines"][0].as_str().unwrap();
    assert!(
        error.contains(
            "step transform 's' failed: SUM needs a number, but `CAST(id AS VARCHAR)` is text"
        ),
        "{error}"
    );
    assert!(
        !error.contains("DataFusion") && !error.contains("Candidate"),
        "{error}"
    );
}

#[tokio::test]
async fn log_lines_are_in_time_order_and_each_table_s_maker_finishes_before_its_reader() {
    let server = TestServer::start(Options::default()).await;
    let target = json!({"name": "mart", "type": "relational_db", "connection": {"engine": "sqlite", "path": "mart.sqlite"}});
    let (orders, shop, target) = shop(&server, 2000, target).await;
    let input = server
        .flow_input(three_transforms(orders, shop, target))
        .await;
    // Steps report from tasks of their own: run it often enough for a race to show.
    for _ in 0..8 {
        let flow = server.start_flow(input).await;
        let (_, end) = server.wait_for_end(flow, Duration::from_secs(30)).await;
        assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
        let lines: Vec<&str> = end["output"]["logs"]["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        let stamps: Vec<&str> = lines.iter().map(|l| &l[..24]).collect();
        assert!(stamps.is_sorted(), "{lines:#?}");
        let finished = |step: &str| {
            lines
                .iter()
                .position(|l| l.contains(&format!("step {step} finished")))
                .unwrap_or_else(|| panic!("no end of {step}: {lines:#?}"))
        };
        for (maker, reader) in [
            ("ingest 'orders'", "transform 'big_orders'"),
            ("transform 'big_orders'", "transform 'enriched'"),
            ("ingest 'customers'", "transform 'enriched'"),
            ("transform 'enriched'", "transform 'by_country'"),
            (
                "transform 'by_country'",
                "output 'by_country -> by_country'",
            ),
        ] {
            assert!(
                finished(maker) < finished(reader),
                "{maker} after {reader}: {lines:#?}"
            );
        }
    }
}

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
