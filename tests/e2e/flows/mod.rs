//! Flows run for real: CSV and SQLite sources, SQLite, columnar and file targets.

mod processes;
mod runs;
mod stopping;

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
