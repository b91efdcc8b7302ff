//! Every source kind into every target kind: the same rows (non-ASCII text with a comma and
//! quotes, a decimal, a date, a timestamp, and a row of NULLs) go from each source into each
//! target, are read back from the target by another flow, and must come back as they went in.

use datafusion::arrow::util::display::array_value_to_string;
use serde_json::{Value, json};

use crate::databases::{MysqlDatabase, postgres_database};
use crate::support::{Options, TestServer, one_source_flow, parquet_rows, sqlite_pool};

const NAME: &str = r#"Ελλάδα, "ünïcode" – ok"#;

/// What every target must hold, read back through [`NORMALIZE`]: one row of values, one of NULLs.
fn expected() -> Vec<Vec<String>> {
    let values = [
        "1",
        "true",
        "2.25",
        "-1234.567",
        NAME,
        "2026-11-24",
        "2026-11-24T12:34:56.789",
    ];
    let nulls = ["2", "", "", "", "", "", ""];
    [values.as_slice(), nulls.as_slice()]
        .iter()
        .map(|row| row.iter().map(|v| (*v).to_owned()).collect())
        .collect()
}

/// Each store keeps the columns its own way (SQLite dates as text, CSV without types); cast back
/// to one set of types before comparing.
const NORMALIZE: &str = "SELECT CAST(id AS BIGINT) AS id, CAST(flag AS BOOLEAN) AS flag, \
    CAST(amount AS DOUBLE) AS amount, CAST(price AS VARCHAR) AS price, CAST(name AS VARCHAR) AS name, \
    CAST(day AS DATE) AS day, CAST(at AS TIMESTAMP) AS at FROM src ORDER BY id";

fn copy(source: i64, read: Value, target: i64, output: Value) -> Value {
    let mut output = output;
    output["transform"] = json!("copied");
    output["mode"] = json!("replace");
    one_source_flow(
        source,
        read,
        target,
        json!([{"name": "copied", "sql": "SELECT * FROM src"}]),
        json!([output]),
    )
}

fn file_store(name: &str, path: &str, format: &str) -> Value {
    json!({"name": name, "type": "file", "connection": {"path": path, "format": format}})
}

#[tokio::test]
async fn every_source_kind_reaches_every_target_kind_intact() {
    let server = TestServer::start(Options::default()).await;
    let sql_rows = format!(
        "INSERT INTO samples VALUES (1, true, 2.25, -1234.567, '{NAME}', '2026-11-24', \
         '2026-11-24 12:34:56.789'), (2, NULL, NULL, NULL, NULL, NULL, NULL)"
    );

    // The sources.
    let (_pg_source, pg_source) = postgres_database(&format!(
        "CREATE TABLE samples (id integer, flag boolean, amount double precision, price numeric(12, 3), \
         name text, day date, at timestamp); {sql_rows}"
    ))
    .await;
    let mysql_source = MysqlDatabase::create(&format!(
        "CREATE TABLE samples (id INT, flag BOOLEAN, amount DOUBLE, price DECIMAL(12, 3), \
         name VARCHAR(100), day DATE, at DATETIME(6)) CHARACTER SET utf8mb4; {sql_rows}"
    ))
    .await;
    let pool = sqlite_pool(&server.data.join("source.sqlite")).await;
    sea_orm::sqlx::raw_sql(sea_orm::sqlx::AssertSqlSafe(format!(
        "CREATE TABLE samples (id INTEGER, flag BOOLEAN, amount REAL, price TEXT, name TEXT, \
         day DATE, at DATETIME); {}",
        sql_rows
            .replace("true", "1")
            .replace("-1234.567", "'-1234.567'")
    )))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    std::fs::write(
        server.data.join("source.csv"),
        format!(
            "id,flag,amount,price,name,day,at\n1,true,2.25,-1234.567,\"{}\",2026-11-24,2026-11-24T12:34:56.789\n2,,,,,,\n",
            NAME.replace('"', "\"\"")
        ),
    )
    .unwrap();
    let csv = server
        .data_store(file_store("source-csv", "source.csv", "csv"))
        .await;
    // The Parquet source is the CSV typed by a flow: a decimal, a date and a timestamp column.
    let parquet = server
        .data_store(file_store("source-parquet", "source.parquet", "parquet"))
        .await;
    let typed = one_source_flow(
        csv,
        json!({}),
        parquet,
        json!([{"name": "typed", "sql": "SELECT CAST(id AS INT) AS id, flag, amount, \
            CAST(price AS DECIMAL(12, 3)) AS price, name, CAST(day AS DATE) AS day, \
            CAST(at AS TIMESTAMP) AS at FROM src"}]),
        json!([{"transform": "typed", "mode": "replace"}]),
    );
    let end = server.run_flow(typed).await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");

    let sources: Vec<(&str, i64, Value)> = vec![
        (
            "postgres",
            server
                .data_store(crate::databases::postgres_store("pg-source", &pg_source, 5432))
                .await,
            json!({"table": "samples"}),
        ),
        (
            "mysql",
            server.data_store(mysql_source.store("mysql-source")).await,
            json!({"table": "samples"}),
        ),
        (
            "sqlite",
            server
                .data_store(json!({"name": "sqlite-source", "type": "relational_db", "connection": {"engine": "sqlite", "path": "source.sqlite"}}))
                .await,
            json!({"table": "samples"}),
        ),
        ("csv", csv, json!({})),
        ("parquet", parquet, json!({})),
    ];

    // The targets: one database or folder each, a file per source for the file kinds.
    let (_pg_target, pg_target) = postgres_database("").await;
    let mysql_target = MysqlDatabase::create("").await;
    let pg = server
        .data_store(crate::databases::postgres_store(
            "pg-target",
            &pg_target,
            5432,
        ))
        .await;
    let mysql = server.data_store(mysql_target.store("mysql-target")).await;
    let sqlite = server
        .data_store(json!({"name": "sqlite-target", "type": "relational_db", "connection": {"engine": "sqlite", "path": "target.sqlite"}}))
        .await;
    let lake = server
        .data_store(json!({"name": "lake", "type": "columnar_db", "connection": {"path": "lake"}}))
        .await;

    let mut failures = Vec::new();
    for (source_kind, source, read) in &sources {
        let table = format!("from_{source_kind}");
        let mut targets: Vec<(&str, i64, Value, Value)> = Vec::new();
        for (kind, store) in [
            ("postgres", pg),
            ("mysql", mysql),
            ("sqlite", sqlite),
            ("columnar", lake),
        ] {
            targets.push((
                kind,
                store,
                json!({"table": table}),
                json!({"table": table}),
            ));
        }
        for format in ["csv", "parquet"] {
            let path = format!("{table}.{format}");
            let store = server
                .data_store(file_store(&format!("{table}-{format}"), &path, format))
                .await;
            targets.push((format, store, json!({}), json!({})));
        }
        for (target_kind, target, output, read_back) in targets {
            let pair = format!("{source_kind} -> {target_kind}");
            let end = server
                .run_flow(copy(*source, read.clone(), target, output))
                .await;
            if end["output"]["state"] != "COMPLETED" {
                failures.push(format!("{pair}: {}", end["output"]["errors"]));
                continue;
            }
            // Read the target back with a flow of its own, into Parquet.
            let check_path = format!("check_{source_kind}_{target_kind}.parquet");
            let check = server
                .data_store(file_store(
                    &format!("check-{source_kind}-{target_kind}"),
                    &check_path,
                    "parquet",
                ))
                .await;
            let back = one_source_flow(
                target,
                read_back,
                check,
                json!([{"name": "normalized", "sql": NORMALIZE}]),
                json!([{"transform": "normalized", "mode": "replace"}]),
            );
            let end = server.run_flow(back).await;
            if end["output"]["state"] != "COMPLETED" {
                failures.push(format!("{pair}, read back: {}", end["output"]["errors"]));
                continue;
            }
            let batches = parquet_rows(&server.data.join(&check_path), "SELECT * FROM t").await;
            let found: Vec<Vec<String>> = batches
                .iter()
                .flat_map(|batch| {
                    (0..batch.num_rows()).map(move |row| {
                        batch
                            .columns()
                            .iter()
                            .map(|column| array_value_to_string(column, row).unwrap())
                            .collect()
                    })
                })
                .collect();
            if found != expected() {
                failures.push(format!("{pair}: {found:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
