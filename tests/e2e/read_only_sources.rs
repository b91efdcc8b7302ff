//! A source is something Sluice reads: a PostgreSQL or MySQL source query that would change data
//! fails its step saying so, and the table is as it was.

use serde_json::{Value, json};

use crate::databases::{MysqlDatabase, postgres_database, postgres_rows, postgres_store};
use crate::support::{Options, TestServer, one_source_flow};

const VICTIM: &str = "CREATE TABLE victim (id integer); INSERT INTO victim VALUES (1), (2), (3);";

/// Read by Sluice itself, not pushed down: what is tested is the source's own read.
fn read_by_sluice() -> Options {
    Options {
        env: vec![("SLUICE__ENGINE__PUSH_DOWN", "false".to_owned())],
        ..Options::default()
    }
}

async fn run_query_source(server: &TestServer, store: Value, query: &str) -> Value {
    let source = server.data_store(store).await;
    let target = server
        .data_store(json!({"name": "out", "type": "file", "connection": {"path": "out.csv", "format": "csv"}}))
        .await;
    server
        .run_flow(one_source_flow(
            source,
            json!({"query": query}),
            target,
            json!([{"name": "t", "sql": "SELECT * FROM src"}]),
            json!([{"transform": "t", "mode": "replace"}]),
        ))
        .await
}

fn assert_failed_as_a_write(flow: &Value) {
    assert_eq!(flow["output"]["state"], "FAILED", "{flow}");
    assert!(
        flow["output"]["errors"]
            .to_string()
            .contains("a source only reads"),
        "{flow}"
    );
}

#[tokio::test]
async fn a_postgresql_source_query_that_deletes_fails_and_deletes_nothing() {
    let (database, name) = postgres_database(VICTIM).await;
    let server = TestServer::start(read_by_sluice()).await;
    let flow = run_query_source(
        &server,
        postgres_store("warehouse", &name, 5432),
        "WITH d AS (DELETE FROM victim RETURNING *) SELECT * FROM d",
    )
    .await;
    assert_failed_as_a_write(&flow);
    let left = postgres_rows(&database, "SELECT count(*)::text FROM victim").await;
    assert_eq!(left, [[Some("3".to_owned())]]);
}

#[tokio::test]
async fn a_mysql_source_query_that_deletes_fails_and_deletes_nothing() {
    let database = MysqlDatabase::create(VICTIM).await;
    let server = TestServer::start(read_by_sluice()).await;
    let flow = run_query_source(&server, database.store("shop"), "DELETE FROM victim").await;
    assert_failed_as_a_write(&flow);
    let left = database
        .rows("SELECT CAST(count(*) AS CHAR) FROM victim")
        .await;
    assert_eq!(left, [[Some("3".to_owned())]]);
}
