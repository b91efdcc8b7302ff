//! The metadata endpoints over the real fixtures, checked against DuckDB on the same files.

mod archive;
mod datasette;
mod reference;

use crate::support::{Options, S3Server, TestServer, duckdb, fixtures};
use reference::*;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

const ISSUE_ORDER: &str =
    r#"dataset, resource, "line-number", "entry-number", field, "issue-type", value, message"#;

async fn on_fixtures() -> TestServer {
    TestServer::start(Options {
        archive: fixtures().join("collection-archive"),
        env: vec![
            (
                "SLUICE__CONFIGURATION__URL",
                fixtures().join("config").to_string_lossy().into_owned(),
            ),
            (
                "SLUICE__SPECIFICATION__URL",
                fixtures()
                    .join("specification")
                    .to_string_lossy()
                    .into_owned(),
            ),
            (
                "SLUICE__COLLECTION_LOG__URL",
                fixtures()
                    .join("collection-log")
                    .to_string_lossy()
                    .into_owned(),
            ),
        ],
        ..Options::default()
    })
    .await
}

/// Every endpoint's answers on the fixtures, each checked against DuckDB's on the same files.
async fn answers_match_duckdb(server: &TestServer) {
    issue_pages_match_duckdb_row_for_row(server).await;
    issue_counts_match_duckdbs_group_by(server).await;
    the_provision_summary_is_filtered_like_duckdb_filters_it(server).await;
    specifications_list_every_dataset_of_the_specification_file(server).await;
    configuration_tables_match_their_csv_files(server).await;
    specification_tables_match_their_csv_files(server).await;
    the_collection_log_matches_duckdb_on_its_csv_files(server).await;
    v2_issue_pages_walk_the_file_order_of_several_datasets(server).await;
    v2_issue_counts_match_duckdbs_group_by(server).await;
}

#[tokio::test]
async fn an_archive_in_a_folder_answers_like_duckdb() {
    answers_match_duckdb(&on_fixtures().await).await;
}

#[tokio::test]
async fn an_archive_on_an_s3_compatible_server_answers_like_duckdb() {
    let s3 = S3Server::start().await;
    s3.upload(
        &fixtures().join("collection-archive"),
        "pipelines",
        "archive/v1",
    )
    .await;
    s3.upload(&fixtures().join("config"), "pipelines", "config")
        .await;
    s3.upload(
        &fixtures().join("specification"),
        "pipelines",
        "specification",
    )
    .await;
    s3.upload(
        &fixtures().join("collection-log"),
        "pipelines",
        "collection-log",
    )
    .await;
    let mut env = s3.env();
    env.push(("SLUICE__CONFIGURATION__URL", "s3://pipelines/config".into()));
    env.push((
        "SLUICE__SPECIFICATION__URL",
        "s3://pipelines/specification".into(),
    ));
    env.push((
        "SLUICE__COLLECTION_LOG__URL",
        "s3://pipelines/collection-log".into(),
    ));
    let server = TestServer::start(Options {
        archive: "s3://pipelines/archive/v1".into(),
        env,
        ..Options::default()
    })
    .await;
    answers_match_duckdb(&server).await;
}

fn partitioned_issues() -> String {
    format!(
        "read_parquet('{}/collection-archive/log/issue/*/*/*.parquet', hive_partitioning=true, \
         union_by_name=true, filename=true, file_row_number=true)",
        fixtures().display()
    )
}

/// The order of `/v1/log/issue`: dataset, resource, then each row's position in its file.
const FILE_ORDER: &str = "dataset, resource, filename, file_row_number";

/// DuckDB's rows as the API keys them.
fn issue_objects(rows: Vec<Vec<Value>>) -> Vec<Value> {
    rows.into_iter()
        .map(|r| {
            json!({
                "dataset": r[0], "resource": r[1], "line-number": r[2], "entry-number": r[3],
                "field": r[4], "issue-type": r[5], "value": r[6], "message": r[7],
            })
        })
        .collect()
}

fn count(sql: &str) -> u64 {
    duckdb(sql)[0][0].as_u64().unwrap()
}

fn page_of(query: &str) -> (u64, u64) {
    let param = |name: &str, default: u64| {
        query
            .split('&')
            .find_map(|p| p.strip_prefix(&format!("{name}=")))
            .map_or(default, |v| v.parse().unwrap())
    };
    (param("offset", 0), param("limit", 50))
}
