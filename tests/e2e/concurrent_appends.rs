//! Twenty `append` flows into one table that does not exist yet, started at once over two
//! replicas: every flow completes and the table holds exactly one row per flow, on each kind of
//! target that appends (PostgreSQL, MariaDB, SQLite, a columnar folder, a columnar folder on S3).

use serde_json::{Value, json};
use std::time::Duration;

use crate::databases::{MysqlDatabase, postgres_database, postgres_rows, postgres_store};
use crate::support::{Options, S3Server, TestServer, parquet_rows, sqlite_rows, write_orders_csv};

const FLOWS: usize = 20;

fn replica(env: &[(&'static str, String)]) -> Options {
    Options {
        postgres: true,
        max_concurrent_flows: 8,
        env: env.to_vec(),
        ..Options::default()
    }
}

/// Starts `FLOWS` flows, alternately on `first` and `second`, each appending the one row
/// `(flow_no, n)` to `table` of the store `target` (registered on `first` as `target_body`),
/// and asserts they all complete. Returns nothing: the caller counts the rows where they landed.
async fn append_at_once(first: &TestServer, second: &TestServer, target_body: Value, table: &str) {
    write_orders_csv(&first.data.join("orders.csv"), 50);
    let orders = first
        .data_store(json!({"name": "orders", "type": "file",
            "connection": {"path": "orders.csv", "format": "csv"}}))
        .await;
    let target = first.data_store(target_body).await;
    let mut inputs = Vec::new();
    for i in 0..FLOWS {
        let input = json!({
            "source_data_store_ids": [orders], "target_data_store_id": target,
            "sources": [{"data_store_id": orders, "as": "orders"}],
            "transforms": [{"name": "one",
                "sql": format!("SELECT CAST({i} AS BIGINT) AS flow_no, count(*) AS n FROM orders")}],
            "outputs": [{"transform": "one", "table": table, "mode": "append"}]
        });
        inputs.push(first.flow_input(input).await);
    }
    // Every start before any wait, half on each replica, as a load balancer would send them.
    let mut flows = Vec::new();
    for (i, input) in inputs.into_iter().enumerate() {
        let server = if i % 2 == 0 { first } else { second };
        flows.push(server.start_flow(input).await);
    }
    let mut failed = Vec::new();
    for flow in flows {
        let (_, end) = first.wait_for_end(flow, Duration::from_secs(180)).await;
        if end["output"]["state"] != "COMPLETED" {
            failed.push(end["output"].clone());
        }
    }
    assert!(
        failed.is_empty(),
        "{} flows did not complete: {failed:#?}",
        failed.len()
    );
}

/// The flow numbers, sorted, that rows of the target hold.
fn expect_one_row_per_flow(mut flow_numbers: Vec<i64>) {
    flow_numbers.sort_unstable();
    assert_eq!(flow_numbers, (0..FLOWS as i64).collect::<Vec<_>>());
}

#[tokio::test]
async fn concurrent_appends_create_a_new_postgresql_table_once() {
    let (database, name) = postgres_database("").await;
    let first = TestServer::start(replica(&[])).await;
    let second = first.replica(replica(&[])).await;
    append_at_once(
        &first,
        &second,
        postgres_store("pg", &name, 5432),
        "appended",
    )
    .await;
    let rows = postgres_rows(&database, "SELECT flow_no::text, n::text FROM appended").await;
    assert!(
        rows.iter().all(|r| r[1].as_deref() == Some("50")),
        "{rows:?}"
    );
    expect_one_row_per_flow(
        rows.iter()
            .map(|r| r[0].as_ref().unwrap().parse().unwrap())
            .collect(),
    );
}

#[tokio::test]
async fn concurrent_appends_create_a_new_mariadb_table_once() {
    let database = MysqlDatabase::create("").await;
    let first = TestServer::start(replica(&[])).await;
    let second = first.replica(replica(&[])).await;
    append_at_once(&first, &second, database.store("my"), "appended").await;
    let rows = database
        .rows("SELECT CAST(flow_no AS CHAR), CAST(n AS CHAR) FROM appended")
        .await;
    assert!(
        rows.iter().all(|r| r[1].as_deref() == Some("50")),
        "{rows:?}"
    );
    expect_one_row_per_flow(
        rows.iter()
            .map(|r| r[0].as_ref().unwrap().parse().unwrap())
            .collect(),
    );
    assert_eq!(
        database.tables().await,
        ["appended"],
        "no staging table left"
    );
}

#[tokio::test]
async fn concurrent_appends_create_a_new_sqlite_table_once() {
    let first = TestServer::start(replica(&[])).await;
    let second = first.replica(replica(&[])).await;
    let store = json!({"name": "lite", "type": "relational_db",
        "connection": {"engine": "sqlite", "path": "out.sqlite"}});
    append_at_once(&first, &second, store, "appended").await;
    let rows = sqlite_rows(
        &first.data.join("out.sqlite"),
        "SELECT flow_no, n FROM appended",
    )
    .await;
    assert!(rows.iter().all(|r| r[1] == "50"), "{rows:?}");
    expect_one_row_per_flow(rows.iter().map(|r| r[0].parse().unwrap()).collect());
}

async fn columnar_flow_numbers(path: &std::path::Path) -> Vec<i64> {
    let batches = parquet_rows(path, "SELECT flow_no FROM t").await;
    batches
        .iter()
        .flat_map(|b| {
            let column = b.column(0).as_any();
            let values = column
                .downcast_ref::<datafusion::arrow::array::Int64Array>()
                .unwrap();
            values.values().to_vec()
        })
        .collect()
}

#[tokio::test]
async fn concurrent_appends_create_a_new_columnar_table_once() {
    let first = TestServer::start(replica(&[])).await;
    let second = first.replica(replica(&[])).await;
    let store = json!({"name": "lake", "type": "columnar_db", "connection": {"path": "lake"}});
    append_at_once(&first, &second, store, "appended").await;
    expect_one_row_per_flow(columnar_flow_numbers(&first.data.join("lake/appended")).await);
}

#[tokio::test]
async fn concurrent_appends_create_a_new_columnar_table_on_s3_once() {
    let s3 = S3Server::start().await;
    let empty = tempfile::tempdir().unwrap();
    s3.upload(empty.path(), "lake", "tables").await;
    let first = TestServer::start(replica(&s3.env())).await;
    let second = first.replica(replica(&s3.env())).await;
    let store =
        json!({"name": "lake", "type": "columnar_db", "connection": {"path": "s3://lake/tables"}});
    append_at_once(&first, &second, store, "appended").await;
    let local = tempfile::tempdir().unwrap();
    let keys = s3.keys("lake").await;
    let parts: Vec<&String> = keys
        .iter()
        .filter(|k| k.starts_with("tables/appended/"))
        .collect();
    assert_eq!(parts.len(), FLOWS, "one file per flow: {keys:?}");
    let mut numbers = Vec::new();
    for key in parts {
        use object_store::ObjectStoreExt;
        let object = s3.bucket("lake").get(&key.as_str().into()).await.unwrap();
        let file = local.path().join(key.replace('/', "_"));
        std::fs::write(&file, object.bytes().await.unwrap()).unwrap();
        numbers.extend(columnar_flow_numbers(&file).await);
    }
    expect_one_row_per_flow(numbers);
}
