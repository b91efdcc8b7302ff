//! `/v2` through the binary: stores by name, named flow inputs whose versions stay as made,
//! flows started by name, cursor pages, and `/v1` inputs seen from `/v2`.

mod flows;
mod inputs;
mod protocol;
mod stores;

use crate::support::{Options, TestServer, read, write_orders_csv};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Two stores: `orders` (a CSV of 20 orders) and the columnar `lake`.
async fn stores(server: &TestServer) {
    write_orders_csv(&server.data.join("orders.csv"), 20);
    for body in [
        json!({"name": "orders", "type": "file", "connection": {"path": "orders.csv", "format": "csv"}}),
        json!({"name": "lake", "type": "columnar_db", "connection": {"path": "lake"}}),
    ] {
        let (status, created) = server.post("/v2/data-stores", &body).await;
        assert_eq!(status, 201, "{created}");
    }
}

fn definition(sql: &str) -> Value {
    json!({
        "sources": [{"data_store": "orders", "alias": "orders"}],
        "transforms": [{"name": "report", "sql": sql}],
        "outputs": [{"transform": "report", "table": "report"}],
        "target": "lake"
    })
}

fn named(name: &str, sql: &str) -> Value {
    let mut body = definition(sql);
    body["name"] = json!(name);
    body
}

fn url_escape(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}
