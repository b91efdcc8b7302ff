//! Flow inputs and stores that many tests use.

use super::*;
use serde_json::{Value, json};

/// `orders.csv` of `rows` orders in the server's data folder, registered as the file store
/// `orders`, and the columnar store `lake`: their ids.
pub async fn orders_and_lake(server: &TestServer, rows: usize) -> (i64, i64) {
    write_orders_csv(&server.data.join("orders.csv"), rows);
    let orders = server
        .data_store(json!({"name": "orders", "type": "file", "connection": {"path": "orders.csv", "format": "csv"}}))
        .await;
    let lake = server
        .data_store(json!({"name": "lake", "type": "columnar_db", "connection": {"path": "lake"}}))
        .await;
    (orders, lake)
}

/// A flow input of one transform `t` over `orders` (read as `orders`), replacing `table` of
/// `lake`.
pub fn one_transform_over_orders(orders: i64, lake: i64, sql: &str, table: &str) -> Value {
    json!({
        "source_data_store_ids": [orders], "target_data_store_id": lake,
        "sources": [{"data_store_id": orders, "as": "orders"}],
        "transforms": [{"name": "t", "sql": sql}],
        "outputs": [{"transform": "t", "table": table, "mode": "replace"}]
    })
}

/// A flow input that runs far longer than any test waits: 3,000 orders crossed three times, with
/// a sum DataFusion cannot answer from statistics. Needs `orders.csv` of 3,000 rows.
pub fn endless(orders: i64, target: i64) -> Value {
    json!({
        "source_data_store_ids": [orders], "target_data_store_id": target,
        "sources": [{"data_store_id": orders, "as": "orders"}],
        "transforms": [{"name": "crossed", "sql": "SELECT count(*) AS n, sum(a.amount + b.amount + c.amount) AS s FROM orders a CROSS JOIN orders b CROSS JOIN orders c"}],
        "outputs": [{"transform": "crossed", "table": "crossed", "mode": "replace"}]
    })
}

/// A flow input of one source, read as `src` (`read` holds its `table` or `query`, if any).
pub fn one_source_flow(
    source: i64,
    read: Value,
    target: i64,
    transforms: Value,
    outputs: Value,
) -> Value {
    let mut source_entry = json!({"data_store_id": source, "as": "src"});
    source_entry
        .as_object_mut()
        .unwrap()
        .extend(read.as_object().unwrap().clone());
    json!({
        "source_data_store_ids": [source], "target_data_store_id": target,
        "sources": [source_entry], "transforms": transforms, "outputs": outputs
    })
}
