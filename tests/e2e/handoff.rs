//! Tables that one step reads once pass straight from step to step; the rest are kept.

use serde_json::{Value, json};
use std::time::Duration;

use crate::support::{Options, TestServer, sqlite_rows, write_orders_csv};

const ORDERS: usize = 200_000;

/// A server with `orders.csv` of [`ORDERS`] rows and a SQLite target; returns (orders, target).
async fn orders_and_mart(server: &TestServer) -> (i64, i64) {
    write_orders_csv(&server.data.join("orders.csv"), ORDERS);
    let orders = server
        .data_store(json!({"name": "orders", "type": "file", "connection": {"path": "orders.csv", "format": "csv"}}))
        .await;
    let mart = server
        .data_store(json!({"name": "mart", "type": "relational_db", "connection": {"engine": "sqlite", "path": "mart.sqlite"}}))
        .await;
    (orders, mart)
}

/// Runs orders -> one transform `result` (`sql`) -> table `result` of the target, to its end.
async fn run_one_transform(server: &TestServer, orders: i64, mart: i64, sql: &str) -> Value {
    let input = server
        .flow_input(json!({
            "source_data_store_ids": [orders], "target_data_store_id": mart,
            "sources": [{"data_store_id": orders, "as": "orders"}],
            "transforms": [{"name": "result", "sql": sql}],
            "outputs": [{"transform": "result", "table": "result", "mode": "replace"}]
        }))
        .await;
    let flow = server.start_flow(input).await;
    let (_, end) = server.wait_for_end(flow, Duration::from_secs(60)).await;
    end
}

fn step_rows(end: &Value, step: usize) -> u64 {
    end["output"]["steps"][step]["rows"].as_u64().unwrap()
}

#[tokio::test]
async fn a_source_that_one_transform_limits_stops_being_read_early() {
    let server = TestServer::start(Options::default()).await;
    let (orders, mart) = orders_and_mart(&server).await;
    let end = run_one_transform(
        &server,
        orders,
        mart,
        "SELECT id, amount FROM orders LIMIT 10",
    )
    .await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
    let mart = server.data.join("mart.sqlite");
    assert_eq!(
        sqlite_rows(&mart, "SELECT count(*) FROM result").await[0][0],
        "10"
    );
    // Kept, the source would be read whole; handed off, its reading stops a few batches after
    // the transform has its ten rows.
    let ingested = step_rows(&end, 0);
    assert!(
        (10..(ORDERS as u64) / 2).contains(&ingested),
        "the ingest passed on {ingested} rows"
    );
    assert_eq!(step_rows(&end, 1), 10);
    assert_eq!(step_rows(&end, 2), 10);
}

#[tokio::test]
async fn a_transform_whose_plan_reads_none_of_its_source_still_ends() {
    let server = TestServer::start(Options::default()).await;
    let (orders, mart) = orders_and_mart(&server).await;
    // DataFusion answers this without scanning orders: the ingest, blocked once its reader is a
    // few batches behind, must be let go.
    let end = run_one_transform(&server, orders, mart, "SELECT id FROM orders WHERE false").await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
    let mart = server.data.join("mart.sqlite");
    assert_eq!(
        sqlite_rows(&mart, "SELECT count(*) FROM result").await[0][0],
        "0"
    );
}

#[tokio::test]
async fn a_source_that_one_transform_scans_twice_is_kept_and_read_whole_each_time() {
    let server = TestServer::start(Options::default()).await;
    let (orders, mart) = orders_and_mart(&server).await;
    let mart_file = server.data.join("mart.sqlite");
    for sql in [
        "SELECT count(*) AS n FROM orders a JOIN orders b ON a.id = b.id",
        "WITH o AS (SELECT id FROM orders) SELECT count(*) AS n FROM o a JOIN o b ON a.id = b.id",
        "SELECT count(*) AS n FROM orders WHERE id IN (SELECT id FROM orders WHERE amount >= 0)",
    ] {
        let end = run_one_transform(&server, orders, mart, sql).await;
        assert_eq!(end["output"]["state"], "COMPLETED", "{sql}: {end}");
        assert_eq!(step_rows(&end, 0), ORDERS as u64, "{sql}");
        assert_eq!(
            sqlite_rows(&mart_file, "SELECT n FROM result").await[0][0],
            ORDERS.to_string(),
            "{sql}"
        );
    }
}

#[tokio::test]
async fn a_source_failing_half_way_fails_the_flow_at_its_ingest_and_writes_nothing() {
    let server = TestServer::start(Options::default()).await;
    let (orders, mart) = orders_and_mart(&server).await;
    // A value that is not a number far past the rows the CSV's types are inferred from.
    let path = server.data.join("orders.csv");
    let csv = std::fs::read_to_string(&path).unwrap();
    let broken = csv.replacen("150000,1,", "150000,oops,", 1);
    assert_ne!(csv, broken);
    std::fs::write(&path, broken).unwrap();
    let mart_file = server.data.join("mart.sqlite");
    let pool = crate::support::sqlite_pool(&mart_file).await;
    sea_orm::sqlx::query("CREATE TABLE result (kept TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let end = run_one_transform(&server, orders, mart, "SELECT id, customer_id FROM orders").await;
    assert_eq!(end["output"]["state"], "FAILED", "{end}");
    let error = end["output"]["errors"]["lines"][0].as_str().unwrap();
    // Where and why, but not the value: an error line never echoes what a source holds.
    assert!(
        error.contains("step ingest 'orders' failed")
            && error.contains("Int64")
            && !error.contains("oops"),
        "{error}"
    );
    assert_eq!(end["output"]["steps"][0]["state"], "FAILED", "{end}");
    assert_eq!(
        sqlite_rows(&mart_file, "SELECT count(*) FROM result").await[0][0],
        "0",
        "the target keeps its old (empty) table"
    );
}
