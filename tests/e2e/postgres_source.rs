//! PostgreSQL as a source: every mapped type through a flow into Parquet, and sources that cannot
//! be read failing the flow with an error line that says where.

use datafusion::arrow::array::{Array, AsArray, BinaryArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::arrow::util::display::array_value_to_string;
use serde_json::{Value, json};
use std::time::Duration;

use crate::databases::{EVERY_TYPE, OTHER_TYPES, postgres_database, postgres_store};
use crate::support::{Options, TestServer, parquet_rows};

fn copy_to_parquet(source: i64, target: i64, table: &str) -> Value {
    json!({
        "source_data_store_ids": [source], "target_data_store_id": target,
        "sources": [{"data_store_id": source, "table": table, "as": "src"}],
        "transforms": [{"name": "copied", "sql": "SELECT * FROM src ORDER BY id"}],
        "outputs": [{"transform": "copied", "mode": "replace"}]
    })
}

#[tokio::test]
async fn a_postgresql_table_of_every_mapped_type_reaches_parquet_intact() {
    let (_source, database) = postgres_database(EVERY_TYPE).await;
    let server = TestServer::start(Options::default()).await;
    let source = server
        .data_store(postgres_store("warehouse", &database, 5432))
        .await;
    let target = server
        .data_store(json!({"name": "out", "type": "file", "connection": {"path": "every.parquet", "format": "parquet"}}))
        .await;
    let input = server
        .flow_input(copy_to_parquet(source, target, "every_type"))
        .await;
    let flow = server.start_flow(input).await;
    let (_, end) = server.wait_for_end(flow, Duration::from_secs(30)).await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
    assert_eq!(end["output"]["steps"][0]["rows"], 2, "{end}");

    let batches = parquet_rows(
        &server.data.join("every.parquet"),
        "SELECT * FROM t ORDER BY id",
    )
    .await;
    let batch = &batches[0];
    let text = |column: &str| {
        let array = batch.column_by_name(column).unwrap();
        assert!(array.is_null(1), "{column} of the NULL row");
        array_value_to_string(array, 0).unwrap()
    };
    let expected = [
        ("flag", "true"),
        ("small", "-2"),
        ("big", "9007199254740993"),
        ("ratio", "1.5"),
        ("amount", "2.25"),
        ("price", "-1234.567"),
        ("name", "Ελλάδα – ünïcode"),
        ("code", "ab"),
        ("letter", "x "),
        ("doc", r#"{"a": [1, 2]}"#),
        ("docb", r#"{"b": 2}"#),
        ("key", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        ("day", "2026-11-24"),
    ];
    for (column, value) in expected {
        assert_eq!(text(column), value, "column {column}");
    }
    // Read back from Parquet as binary or binary view: compare the bytes.
    let raw = cast(batch.column_by_name("raw").unwrap(), &DataType::Binary).unwrap();
    let raw = raw.as_any().downcast_ref::<BinaryArray>().unwrap();
    assert_eq!(raw.value(0), [0x00, 0xff]);
    assert!(raw.is_null(1));
    // 2026-11-24 12:34:56.789, and the same wall time at +02:00 as an instant in UTC.
    let local = 1_795_523_696_789_000_i64;
    for (column, zone, micros) in [
        ("at", None, local),
        ("at_tz", Some("UTC"), local - 7_200_000_000),
    ] {
        let array = batch.column_by_name(column).unwrap();
        assert_eq!(
            array.data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, zone.map(Into::into)),
            "{column}"
        );
        assert_eq!(
            array.as_primitive::<TimestampMicrosecondType>().value(0),
            micros,
            "{column}"
        );
        assert!(array.is_null(1));
    }
}

#[tokio::test]
async fn a_postgresql_source_that_cannot_be_read_fails_the_flow_saying_where() {
    let (_source, database) = postgres_database("CREATE TABLE present (id integer)").await;
    let server = TestServer::start(Options::default()).await;
    let target = server
        .data_store(json!({"name": "out", "type": "file", "connection": {"path": "out.parquet", "format": "parquet"}}))
        .await;
    let reachable = server
        .data_store(postgres_store("warehouse", &database, 5432))
        .await;
    // Nothing listens on port 1.
    let unreachable = server
        .data_store(postgres_store("nowhere", &database, 1))
        .await;
    let cases = [
        (
            unreachable,
            "present",
            format!("connecting to PostgreSQL postgres@127.0.0.1:1/{database}"),
        ),
        (
            reachable,
            "missing",
            "relation \"missing\" does not exist".to_owned(),
        ),
    ];
    for (store, table, expected) in cases {
        let input = server
            .flow_input(copy_to_parquet(store, target, table))
            .await;
        let flow = server.start_flow(input).await;
        let (_, end) = server.wait_for_end(flow, Duration::from_secs(30)).await;
        assert_eq!(end["output"]["state"], "FAILED", "{end}");
        let error = end["output"]["errors"]["lines"][0].as_str().unwrap();
        assert!(error.contains("step ingest 'src' failed"), "{error}");
        assert!(error.contains(&expected), "{error} should say {expected}");
        assert_eq!(end["output"]["steps"][0]["state"], "FAILED", "{end}");
    }
    assert!(!server.data.join("out.parquet").exists());
}

#[tokio::test]
async fn a_large_postgresql_table_read_in_page_ranges_arrives_whole_and_once() {
    // Large enough (over 1,024 pages) to be read by several connections, one page range each.
    let (database, name) = postgres_database(
        "CREATE TABLE big AS SELECT i AS id, repeat('x', 40) AS pad \
         FROM generate_series(1, 250000) AS t(i)",
    )
    .await;
    let pages =
        crate::databases::postgres_rows(&database, "SELECT (pg_relation_size('big') / 8192)::text")
            .await;
    let pages: i64 = pages[0][0].as_deref().unwrap().parse().unwrap();
    assert!(pages >= 1024, "{pages} pages");

    let server = TestServer::start(Options::default()).await;
    let source = server
        .data_store(postgres_store("warehouse", &name, 5432))
        .await;
    let target = server
        .data_store(json!({"name": "out", "type": "file", "connection": {"path": "big.parquet", "format": "parquet"}}))
        .await;
    let input = server
        .flow_input(copy_to_parquet(source, target, "big"))
        .await;
    let flow = server.start_flow(input).await;
    let (_, end) = server.wait_for_end(flow, Duration::from_secs(60)).await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
    let batches = parquet_rows(
        &server.data.join("big.parquet"),
        "SELECT count(*) AS n, count(DISTINCT id) AS ids, sum(id) AS total FROM t",
    )
    .await;
    let value = |column: &str| {
        array_value_to_string(batches[0].column_by_name(column).unwrap(), 0).unwrap()
    };
    assert_eq!(
        (value("n"), value("ids"), value("total")),
        ("250000".into(), "250000".into(), "31250125000".into())
    );
}

#[tokio::test]
async fn arrays_times_intervals_and_every_other_type_reach_parquet() {
    let (_source, database) = postgres_database(OTHER_TYPES).await;
    let server = TestServer::start(Options::default()).await;
    let source = server
        .data_store(postgres_store("warehouse", &database, 5432))
        .await;
    let target = server
        .data_store(json!({"name": "out", "type": "file", "connection": {"path": "other.parquet", "format": "parquet"}}))
        .await;
    let input = server
        .flow_input(copy_to_parquet(source, target, "other_types"))
        .await;
    let flow = server.start_flow(input).await;
    let (_, end) = server.wait_for_end(flow, Duration::from_secs(30)).await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");

    let batches = parquet_rows(
        &server.data.join("other.parquet"),
        "SELECT * FROM t ORDER BY id",
    )
    .await;
    let batch = &batches[0];
    let expected = [
        ("counts", "List(Int32)", "[1, , 3]"),
        ("tags", "List(Utf8)", "[a b, ü]"),
        ("prices", "List(Decimal128(10, 2))", "[1.50, -2.25]"),
        ("at", "Time64(µs)", "12:34:56.789"),
        // Parquet's interval keeps milliseconds only: the interval is written as its text.
        ("took", "Utf8", "1 mons 2 days 3.500000000 secs"),
        ("feeling", "Utf8", "happy"),
        // A domain is its base type.
        ("amount", "Int32", "7"),
        ("name", "Utf8", "MiXeD"),
        ("address", "Utf8", "192.168.0.1"),
        ("network", "Utf8", "10.0.0.0/8"),
        ("device", "Utf8", "08:00:2b:01:02:03"),
        ("cash", "Utf8", "$12.34"),
        ("spot", "Utf8", "(1,2)"),
        ("zoned", "Utf8", "12:00:00+02"),
        ("bits", "Utf8", "1010"),
    ];
    for (column, arrow_type, value) in expected {
        let array = batch.column_by_name(column).unwrap();
        let shown = array
            .data_type()
            .to_string()
            .replace("Utf8View", "Utf8")
            .replace("non-null ", "");
        assert_eq!(shown, arrow_type, "type of {column}");
        assert_eq!(array_value_to_string(array, 0).unwrap(), value, "{column}");
    }
    let counts = batch.column_by_name("counts").unwrap();
    assert!(
        !counts.is_null(1),
        "an empty array is an empty list, not NULL"
    );
    assert_eq!(array_value_to_string(counts, 1).unwrap(), "[]");
    assert!(batch.column_by_name("tags").unwrap().is_null(1));
}

#[tokio::test]
async fn a_query_reading_a_type_arrow_lacks_gets_its_text_form_too() {
    let (_source, database) = postgres_database("").await;
    let server = TestServer::start(Options::default()).await;
    let source = server
        .data_store(postgres_store("warehouse", &database, 5432))
        .await;
    let target = server
        .data_store(json!({"name": "out", "type": "file", "connection": {"path": "q.parquet", "format": "parquet"}}))
        .await;
    let input = server
        .flow_input(json!({
            "source_data_store_ids": [source], "target_data_store_id": target,
            "sources": [{"data_store_id": source, "as": "src",
                "query": "SELECT 1 AS id, '10.1.2.3'::inet AS address, '[1,3]'::int4range AS span"}],
            "transforms": [{"name": "copied", "sql": "SELECT * FROM src"}],
            "outputs": [{"transform": "copied", "mode": "replace"}]
        }))
        .await;
    let flow = server.start_flow(input).await;
    let (_, end) = server.wait_for_end(flow, Duration::from_secs(30)).await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
    let batches = parquet_rows(&server.data.join("q.parquet"), "SELECT * FROM t").await;
    let value = |column: &str| {
        array_value_to_string(batches[0].column_by_name(column).unwrap(), 0).unwrap()
    };
    assert_eq!(value("address"), "10.1.2.3");
    assert_eq!(value("span"), "[1,4)");
}
