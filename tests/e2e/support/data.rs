//! Test data in and out: CSV and SQLite files written for sources, and what targets hold read
//! back (SQLite rows, Parquet row counts, typed rows), with DuckDB as the reference.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// What DuckDB, the reference, answers to `sql`: rows of JSON values.
pub fn duckdb(sql: &str) -> Vec<Vec<Value>> {
    const SCRIPT: &str = "import duckdb, json, sys\nprint(json.dumps(duckdb.sql(sys.argv[1]).fetchall(), default=str))";
    let output = Command::new("python3")
        .args(["-c", SCRIPT, sql])
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "DuckDB, the reference, failed (pip install duckdb): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: Value = serde_json::from_slice(&output.stdout).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|row| row.as_array().unwrap().clone())
        .collect()
}

/// Writes an orders CSV of `rows` rows: id, customer_id (1..=10), amount (id * 7 % 500).
pub fn write_orders_csv(path: &Path, rows: usize) {
    let mut csv = String::from("id,customer_id,amount\n");
    for id in 1..=rows {
        csv.push_str(&format!("{id},{},{}\n", id % 10 + 1, id * 7 % 500));
    }
    std::fs::write(path, csv).unwrap();
}

/// Creates a SQLite database with a `customers` table of ten customers (id, name, country).
pub async fn write_customers_sqlite(path: &Path) {
    let pool = sqlite_pool(path).await;
    sea_orm::sqlx::query(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, country TEXT)",
    )
    .execute(&pool)
    .await
    .unwrap();
    for id in 1..=10 {
        sea_orm::sqlx::query("INSERT INTO customers VALUES (?, ?, ?)")
            .bind(id)
            .bind(format!("customer {id}"))
            .bind(if id % 2 == 0 { "NL" } else { "Ελλάδα" })
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
}

pub async fn sqlite_pool(path: &Path) -> sea_orm::sqlx::SqlitePool {
    let options = sea_orm::sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    sea_orm::sqlx::SqlitePool::connect_with(options)
        .await
        .unwrap()
}

/// Rows of a SQLite query as JSON-ish strings, for comparing.
pub async fn sqlite_rows(path: &Path, sql: &str) -> Vec<Vec<String>> {
    use sea_orm::sqlx::{Row, ValueRef};
    let pool = sqlite_pool(path).await;
    let rows = sea_orm::sqlx::query(sea_orm::sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows.iter()
        .map(|row| {
            (0..row.len())
                .map(|i| {
                    let raw = row.try_get_raw(i).unwrap();
                    if raw.is_null() {
                        "NULL".to_owned()
                    } else if let Ok(v) = row.try_get::<i64, _>(i) {
                        v.to_string()
                    } else if let Ok(v) = row.try_get::<f64, _>(i) {
                        v.to_string()
                    } else {
                        row.try_get::<String, _>(i).unwrap()
                    }
                })
                .collect()
        })
        .collect()
}

/// How many rows the Parquet files of a table folder (or one file) hold, read with DataFusion.
pub async fn parquet_rows(
    path: &Path,
    sql_over_t: &str,
) -> Vec<datafusion::arrow::record_batch::RecordBatch> {
    let ctx = datafusion::prelude::SessionContext::new();
    let mut location = path.to_string_lossy().into_owned();
    if path.is_dir() {
        location.push('/');
    }
    ctx.register_parquet(
        "t",
        &location,
        datafusion::prelude::ParquetReadOptions::default(),
    )
    .await
    .unwrap();
    ctx.sql(sql_over_t).await.unwrap().collect().await.unwrap()
}

/// Rows as text (`a | b | NULL`, in the batches' order) and the columns as `name type`, for
/// comparing two tables value by value.
pub fn rows_and_types(
    batches: &[datafusion::arrow::record_batch::RecordBatch],
) -> (Vec<String>, Vec<String>) {
    let mut rows = Vec::new();
    let mut types = Vec::new();
    for batch in batches {
        types = (batch.schema().fields().iter())
            .map(|f| format!("{} {}", f.name(), f.data_type()))
            .collect();
        for row in 0..batch.num_rows() {
            let values: Vec<String> = (batch.columns().iter())
                .map(|column| {
                    if column.is_null(row) {
                        "NULL".to_owned()
                    } else {
                        datafusion::arrow::util::display::array_value_to_string(column, row)
                            .unwrap()
                    }
                })
                .collect();
            rows.push(values.join(" | "));
        }
    }
    (rows, types)
}
