//! File and columnar stores on S3, against a real S3-compatible server on a loopback port: read,
//! written, replaced and appended to, nothing staged left behind, and a missing object failing the
//! flow saying which.

use serde_json::{Value, json};
use std::time::{Duration, Instant};

use crate::support::{
    Options, S3Server, TestServer, one_source_flow, parquet_rows, write_orders_csv,
};

fn store(name: &str, kind: &str, connection: Value) -> Value {
    json!({"name": name, "type": kind, "connection": connection})
}

/// Reads `read` of `source` back into a local Parquet file and returns (rows, sum of id).
async fn read_back(server: &TestServer, source: i64, read: Value, name: &str) -> (i64, i64) {
    let path = format!("{name}.parquet");
    let local = server
        .data_store(store(
            name,
            "file",
            json!({"path": path, "format": "parquet"}),
        ))
        .await;
    let end = server
        .run_flow(one_source_flow(
            source,
            read,
            local,
            json!([{"name": "totals", "sql": "SELECT count(*) AS n, sum(id) AS s FROM src"}]),
            json!([{"transform": "totals", "mode": "replace"}]),
        ))
        .await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
    let batches = parquet_rows(&server.data.join(&path), "SELECT n, s FROM t").await;
    let value = |column: usize| {
        datafusion::arrow::util::display::array_value_to_string(batches[0].column(column), 0)
            .unwrap()
            .parse::<i64>()
            .unwrap()
    };
    (value(0), value(1))
}

#[tokio::test]
async fn file_and_columnar_stores_on_s3_are_read_and_written_in_place() {
    let s3 = S3Server::start().await;
    let upload = tempfile::tempdir().unwrap();
    write_orders_csv(&upload.path().join("orders.csv"), 1000);
    s3.upload(upload.path(), "lake", "raw").await;
    let server = TestServer::start(Options {
        env: s3.env(),
        ..Options::default()
    })
    .await;

    let orders = server
        .data_store(store(
            "orders",
            "file",
            json!({"path": "s3://lake/raw/orders.csv", "format": "csv"}),
        ))
        .await;
    let report = server
        .data_store(store(
            "report",
            "file",
            json!({"path": "s3://lake/out/report.parquet", "format": "parquet"}),
        ))
        .await;
    let tables = server
        .data_store(store(
            "tables",
            "columnar_db",
            json!({"path": "s3://lake/tables"}),
        ))
        .await;

    // CSV on S3 into a Parquet file on S3, twice: the second replaces the first.
    let ids = json!([{"name": "ids", "sql": "SELECT id FROM src"}]);
    for _ in 0..2 {
        let end = server
            .run_flow(one_source_flow(
                orders,
                json!({}),
                report,
                ids.clone(),
                json!([{"transform": "ids", "mode": "replace"}]),
            ))
            .await;
        assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
    }
    assert_eq!(
        read_back(&server, report, json!({}), "report_back").await,
        (1000, 500_500)
    );

    // Into a columnar table on S3: replace, append, replace.
    for (n, (mode, rows)) in [("replace", 1000), ("append", 2000), ("replace", 1000)]
        .into_iter()
        .enumerate()
    {
        let end = server
            .run_flow(one_source_flow(
                orders,
                json!({}),
                tables,
                ids.clone(),
                json!([{"transform": "ids", "table": "orders", "mode": mode}]),
            ))
            .await;
        assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
        let back = read_back(
            &server,
            tables,
            json!({"table": "orders"}),
            &format!("table_back_{n}"),
        )
        .await;
        assert_eq!(back.0, rows, "after {mode}");
    }

    // A flow that fails after staging its first output leaves nothing behind on S3.
    let failing = json!({
        "source_data_store_ids": [orders], "target_data_store_id": tables,
        "sources": [{"data_store_id": orders, "as": "src"}],
        "transforms": [
            {"name": "ids", "sql": "SELECT id FROM src"},
            // Parquet holds no list of nanosecond intervals.
            {"name": "broken", "sql": "SELECT id, make_array(INTERVAL '1 day') AS spans FROM src"}
        ],
        "outputs": [
            {"transform": "ids", "table": "orders", "mode": "replace"},
            {"transform": "broken", "table": "broken", "mode": "replace"}
        ]
    });
    let end = server.run_flow(failing).await;
    assert_eq!(end["output"]["state"], "FAILED", "{end}");
    let error = end["output"]["errors"]["lines"][0].as_str().unwrap();
    assert!(error.contains("step output 'broken"), "{error}");
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut keys = s3.keys("lake").await;
    while keys.iter().any(|k| k.contains(".sluice-")) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        keys = s3.keys("lake").await;
    }
    let tables_keys: Vec<&String> = keys.iter().filter(|k| k.starts_with("tables/")).collect();
    assert_eq!(
        tables_keys.len(),
        1,
        "one object in the one table: {keys:?}"
    );
    assert!(
        tables_keys[0].starts_with("tables/orders/part-"),
        "{keys:?}"
    );
    assert!(!keys.iter().any(|k| k.contains(".sluice-")), "{keys:?}");
    assert!(keys.contains(&"out/report.parquet".to_owned()), "{keys:?}");

    // A missing object fails the flow saying which.
    let missing = server
        .data_store(store(
            "missing",
            "file",
            json!({"path": "s3://lake/raw/missing.csv", "format": "csv"}),
        ))
        .await;
    let end = server
        .run_flow(one_source_flow(
            missing,
            json!({}),
            report,
            ids.clone(),
            json!([{"transform": "ids", "mode": "replace"}]),
        ))
        .await;
    assert_eq!(end["output"]["state"], "FAILED", "{end}");
    let error = end["output"]["errors"]["lines"][0].as_str().unwrap();
    assert!(
        error.contains("the file 's3://lake/raw/missing.csv' does not exist"),
        "{error}"
    );
}

#[tokio::test]
async fn a_sqlite_database_on_s3_or_a_location_of_another_scheme_is_refused() {
    let server = TestServer::start(Options::default()).await;
    for (kind, connection) in [
        (
            "relational_db",
            json!({"engine": "sqlite", "path": "s3://lake/shop.sqlite"}),
        ),
        (
            "file",
            json!({"path": "https://example.com/orders.csv", "format": "csv"}),
        ),
        ("columnar_db", json!({"path": "s3://lake"})),
    ] {
        let (status, problem) = server
            .post(
                "/v1/data-stores",
                &store("refused", kind, connection.clone()),
            )
            .await;
        assert_eq!(status, 422, "{connection}: {problem}");
        assert_eq!(
            problem["errors"][0]["pointer"], "/connection/path",
            "{problem}"
        );
    }
}

#[tokio::test]
async fn credentials_from_an_aws_profile_reach_s3() {
    let s3 = S3Server::start().await;
    let upload = tempfile::tempdir().unwrap();
    write_orders_csv(&upload.path().join("orders.csv"), 100);
    s3.upload(upload.path(), "profiled", "raw").await;
    // No keys in the environment: only the profile named by AWS_PROFILE has them. Without it,
    // the chain would go on to the instance metadata, which this machine does not have.
    let aws = tempfile::tempdir().unwrap();
    let secret = "profile-secret-not-to-be-shown";
    std::fs::write(
        aws.path().join("credentials"),
        format!("[default]\naws_access_key_id = wrong\n\n[sluice-e2e]\naws_access_key_id = sluice-test\naws_secret_access_key = {secret}\n"),
    )
    .unwrap();
    std::fs::write(
        aws.path().join("config"),
        "[profile sluice-e2e]\nregion = us-east-1\n",
    )
    .unwrap();
    let mut env: Vec<(&'static str, String)> = s3
        .env()
        .into_iter()
        .filter(|(name, _)| !name.starts_with("AWS_"))
        .collect();
    env.extend([
        ("AWS_PROFILE", "sluice-e2e".to_owned()),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            aws.path().join("credentials").display().to_string(),
        ),
        (
            "AWS_CONFIG_FILE",
            aws.path().join("config").display().to_string(),
        ),
    ]);
    let server = TestServer::start(Options {
        env,
        ..Options::default()
    })
    .await;
    let orders = server
        .data_store(store(
            "orders",
            "file",
            json!({"path": "s3://profiled/raw/orders.csv", "format": "csv"}),
        ))
        .await;
    let (rows, ids) = read_back(&server, orders, json!({}), "copy").await;
    assert_eq!((rows, ids), (100, 5050));
    assert!(!server.output().contains(secret));
}
