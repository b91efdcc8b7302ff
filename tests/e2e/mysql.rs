//! MySQL/MariaDB as a source and as a target, against the machine's MariaDB: every mapped type
//! read into Parquet, typed columns written back, staging tables swapped in (and dropped when the
//! flow fails), and a wrong password failing the flow without showing it.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::array_value_to_string;
use serde_json::json;
use std::time::Duration;

use crate::databases::{EVERY_MYSQL_TYPE, MysqlDatabase};
use crate::support::{Options, TestServer, one_source_flow, parquet_rows, write_orders_csv};

fn some(values: &[&str]) -> Vec<Option<String>> {
    values.iter().map(|v| Some((*v).to_owned())).collect()
}

#[tokio::test]
async fn a_mysql_table_of_every_mapped_type_reaches_parquet_intact() {
    let source = MysqlDatabase::create(EVERY_MYSQL_TYPE).await;
    let server = TestServer::start(Options::default()).await;
    let store = server.data_store(source.store("shop")).await;
    let target = server
        .data_store(json!({"name": "out", "type": "file", "connection": {"path": "every.parquet", "format": "parquet"}}))
        .await;
    let end = server
        .run_flow(one_source_flow(
            store,
            json!({"table": "every_type"}),
            target,
            json!([{"name": "copied", "sql": "SELECT * FROM src ORDER BY id"}]),
            json!([{"transform": "copied", "mode": "replace"}]),
        ))
        .await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");

    let batches = parquet_rows(
        &server.data.join("every.parquet"),
        "SELECT * FROM t ORDER BY id",
    )
    .await;
    let batch = &batches[0];
    let expected = [
        ("flag", "Boolean", "true"),
        ("tiny", "Int16", "-2"),
        ("small", "Int16", "-300"),
        ("medium", "Int32", "70000"),
        ("big", "Int64", "9007199254740993"),
        ("ubig", "UInt64", "18446744073709551615"),
        ("utiny", "Int16", "255"),
        ("ratio", "Float32", "1.5"),
        ("amount", "Float64", "2.25"),
        ("price", "Decimal128(12, 3)", "-1234.567"),
        ("name", "Utf8", "Ελλάδα – ünïcode"),
        ("letter", "Utf8", "x"),
        ("body", "Utf8", "long text"),
        ("doc", "Utf8", r#"{"a": [1, 2]}"#),
        ("kind", "Utf8", "b"),
        ("raw", "Binary", "00ff"),
        ("blob_value", "Binary", "0102"),
        ("day", "Date32", "2026-11-24"),
        ("at", "Timestamp(µs)", "2026-11-24T12:34:56.789"),
        (
            "at_ts",
            "Timestamp(µs, \"UTC\")",
            "2026-11-24T10:34:56.789Z",
        ),
    ];
    for (column, arrow_type, value) in expected {
        let array = batch.column_by_name(column).unwrap();
        assert_eq!(
            array
                .data_type()
                .to_string()
                .replace("Utf8View", "Utf8")
                .replace("BinaryView", "Binary"),
            arrow_type,
            "type of {column}"
        );
        assert_eq!(array_value_to_string(array, 0).unwrap(), value, "{column}");
        assert!(array.is_null(1), "{column} of the NULL row");
    }
}

#[tokio::test]
async fn a_mysql_table_round_trips_through_a_mysql_target() {
    let source = MysqlDatabase::create(EVERY_MYSQL_TYPE).await;
    let target = MysqlDatabase::create("").await;
    let server = TestServer::start(Options::default()).await;
    let from = server.data_store(source.store("shop")).await;
    let to = server.data_store(target.store("mart")).await;
    let end = server
        .run_flow(one_source_flow(
            from,
            json!({"table": "every_type"}),
            to,
            json!([{"name": "copied", "sql": "SELECT *, CAST(price AS DECIMAL(12, 3)) AS price_decimal FROM src"}]),
            json!([{"transform": "copied", "table": "copied", "mode": "replace"}]),
        ))
        .await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
    let columns = [
        "id",
        "flag",
        "tiny",
        "small",
        "medium",
        "big",
        "ubig",
        "utiny",
        "ratio",
        "amount",
        "price",
        "name",
        "letter",
        "body",
        "doc",
        "kind",
        "HEX(raw)",
        "HEX(blob_value)",
        "day",
        "at",
        "at_ts",
        "price_decimal",
    ];
    let select = |table: &str| {
        let casts: Vec<String> = columns
            .iter()
            .map(|c| format!("CAST({c} AS CHAR)"))
            .collect();
        format!("SELECT {} FROM {table} ORDER BY id", casts.join(", "))
    };
    let rows = target.rows(&select("copied")).await;
    assert_eq!(
        rows[0],
        some(&[
            "1",
            "1",
            "-2",
            "-300",
            "70000",
            "9007199254740993",
            "18446744073709551615",
            "255",
            "1.5",
            "2.25",
            "-1234.567",
            "Ελλάδα – ünïcode",
            "x",
            "long text",
            r#"{"a": [1, 2]}"#,
            "b",
            "00FF",
            "0102",
            "2026-11-24",
            "2026-11-24 12:34:56.789000",
            "2026-11-24 10:34:56.789000",
            "-1234.567",
        ])
    );
    let mut nulls = vec![None; columns.len()];
    nulls[0] = Some("2".to_owned());
    assert_eq!(rows[1], nulls);
    let types = target
        .rows(
            "SELECT CAST(CONCAT(column_name, ' ', column_type) AS CHAR) FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = 'copied' \
             AND column_name IN ('flag', 'ubig', 'price_decimal', 'day', 'at_ts') ORDER BY ordinal_position",
        )
        .await;
    let types: Vec<String> = types.into_iter().map(|r| r[0].clone().unwrap()).collect();
    assert_eq!(
        types,
        [
            "flag tinyint(1)",
            "ubig bigint(20) unsigned",
            "day date",
            "at_ts datetime(6)",
            "price_decimal decimal(12,3)"
        ]
    );
}

#[tokio::test]
async fn a_mysql_target_swaps_whole_tables_appends_and_drops_its_staging_tables_on_failure() {
    let target = MysqlDatabase::create(
        "CREATE TABLE kept (id BIGINT); INSERT INTO kept VALUES (-1), (-2), (-3);",
    )
    .await;
    let server = TestServer::start(Options::default()).await;
    write_orders_csv(&server.data.join("orders.csv"), 2500);
    let orders = server
        .data_store(json!({"name": "orders", "type": "file", "connection": {"path": "orders.csv", "format": "csv"}}))
        .await;
    let mart = server.data_store(target.store("mart")).await;
    let count = async || {
        target.rows("SELECT CAST(count(*) AS CHAR) FROM kept").await[0][0]
            .clone()
            .unwrap()
    };

    // The second output fails after the first was staged: neither shows, no staging table stays.
    let input = json!({
        "source_data_store_ids": [orders], "target_data_store_id": mart,
        "sources": [{"data_store_id": orders, "as": "src"}],
        "transforms": [
            {"name": "ids", "sql": "SELECT id FROM src"},
            {"name": "spans", "sql": "SELECT id, INTERVAL '1 day' AS span FROM src"}
        ],
        "outputs": [
            {"transform": "ids", "table": "kept", "mode": "replace"},
            {"transform": "spans", "table": "spans", "mode": "replace"}
        ]
    });
    let failing = server.run_flow(input).await;
    assert_eq!(failing["output"]["state"], "FAILED", "{failing}");
    let error = failing["output"]["errors"]["lines"][0].as_str().unwrap();
    assert!(error.contains("column 'span'"), "{error}");
    assert_eq!(count().await, "3");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while target.tables().await != ["kept"] && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        target.tables().await,
        ["kept"],
        "the staging table is dropped"
    );

    for (mode, expected) in [("replace", "2500"), ("append", "5000"), ("replace", "2500")] {
        let end = server
            .run_flow(one_source_flow(
                orders,
                json!({}),
                mart,
                json!([{"name": "copied", "sql": "SELECT id FROM src"}]),
                json!([{"transform": "copied", "table": "kept", "mode": mode}]),
            ))
            .await;
        assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
        assert_eq!(count().await, expected, "after {mode}");
        assert_eq!(target.tables().await, ["kept"], "after {mode}");
    }
    // A table appended to for the first time is created.
    let end = server
        .run_flow(one_source_flow(
            orders,
            json!({}),
            mart,
            json!([{"name": "copied", "sql": "SELECT id FROM src"}]),
            json!([{"transform": "copied", "table": "fresh", "mode": "append"}]),
        ))
        .await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
    let fresh = target.rows("SELECT CAST(sum(id) AS CHAR) FROM fresh").await;
    assert_eq!(fresh[0][0].as_deref(), Some("3126250"));
}

#[tokio::test]
async fn mysql_stores_that_cannot_be_used_fail_the_flow_saying_where() {
    let database = MysqlDatabase::create(
        "CREATE TABLE present (id INT);
         CREATE USER IF NOT EXISTS 'sluice_password_check'@'%' IDENTIFIED BY 'the-right-one';",
    )
    .await;
    let server = TestServer::start(Options::default()).await;
    let out = server
        .data_store(json!({"name": "out", "type": "file", "connection": {"path": "out.parquet", "format": "parquet"}}))
        .await;
    let reachable = server.data_store(database.store("shop")).await;
    let mut wrong_password = database.store("guarded");
    wrong_password["connection"]["user"] = json!("sluice_password_check");
    wrong_password["connection"]["password"] = json!("not-the-right-one");
    let wrong_password = server.data_store(wrong_password).await;
    let mut unreachable = database.store("nowhere");
    unreachable["connection"]["port"] = json!(1);
    let unreachable = server.data_store(unreachable).await;
    let name = &database.name;
    let cases = [
        (
            unreachable,
            "present",
            format!("connecting to MySQL root@127.0.0.1:1/{name}"),
            "refused",
        ),
        (
            wrong_password,
            "present",
            format!("connecting to MySQL sluice_password_check@127.0.0.1:3306/{name}"),
            "Access denied for user 'sluice_password_check'",
        ),
        (
            reachable,
            "missing",
            format!("reading from MySQL root@127.0.0.1:3306/{name}"),
            "missing' doesn't exist",
        ),
    ];
    for (store, table, place, what) in cases {
        let end = server
            .run_flow(one_source_flow(
                store,
                json!({"table": table}),
                out,
                json!([{"name": "copied", "sql": "SELECT * FROM src"}]),
                json!([{"transform": "copied", "mode": "replace"}]),
            ))
            .await;
        assert_eq!(end["output"]["state"], "FAILED", "{end}");
        let error = end["output"]["errors"]["lines"][0].as_str().unwrap();
        assert!(error.contains(&place), "{error} should say {place}");
        assert!(error.contains(what), "{error} should say {what}");
    }
    assert!(!server.output().contains("not-the-right-one"));
    assert!(!server.data.join("out.parquet").exists());
}

#[tokio::test]
async fn mysql_time_bit_set_enum_year_and_spatial_columns_reach_parquet_and_come_back_typed() {
    let database = MysqlDatabase::create(
        "CREATE TABLE odd (id INT, took TIME(3), flags BIT(4), kinds SET('a', 'b', 'c'), \
             mood ENUM('sad', 'it''s ok'), born YEAR, spot POINT);
         INSERT INTO odd VALUES (1, '-12:30:05.250', b'1010', 'a,c', 'it''s ok', 1999, \
             ST_GeomFromText('POINT(1 2)')),
             (2, NULL, NULL, NULL, NULL, NULL, NULL);",
    )
    .await;
    let server = TestServer::start(Options::default()).await;
    let source = server.data_store(database.store("shop")).await;
    let file = server
        .data_store(json!({"name": "out", "type": "file", "connection": {"path": "odd.parquet", "format": "parquet"}}))
        .await;
    let end = server
        .run_flow(one_source_flow(
            source,
            json!({"table": "odd"}),
            file,
            json!([{"name": "copied", "sql": "SELECT * FROM src ORDER BY id"}]),
            json!([{"transform": "copied", "mode": "replace"}]),
        ))
        .await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
    let batches = parquet_rows(
        &server.data.join("odd.parquet"),
        "SELECT took, flags, kinds, mood, born, spot FROM t ORDER BY id",
    )
    .await;
    let batch = &batches[0];
    let value = |i: usize| array_value_to_string(batch.column(i), 0).unwrap();
    assert_eq!(value(0), "-12:30:05.250");
    assert_eq!(value(1), "10");
    assert_eq!(value(2), "a,c");
    assert_eq!(value(3), "it's ok");
    assert_eq!(value(4), "1999");
    // MySQL's own form of a point: SRID 0, then the WKB (little-endian, type 1, x, y).
    let spot = cast(batch.column(5), &DataType::Binary).unwrap();
    let spot = spot.as_binary::<i32>().value(0).to_vec();
    assert_eq!(spot.len(), 4 + 21, "{spot:?}");
    assert_eq!(&spot[4..9], [1, 1, 0, 0, 0]);
    for i in 0..6 {
        assert!(batch.column(i).is_null(1), "column {i} of the NULL row");
    }

    // Back from the Parquet file into MySQL: each column is created with its type again.
    let mart = server.data_store(database.store("mart")).await;
    let end = server
        .run_flow(one_source_flow(
            file,
            json!({}),
            mart,
            json!([{"name": "back", "sql": "SELECT * FROM src"}]),
            json!([{"transform": "back", "table": "odd_back", "mode": "replace"}]),
        ))
        .await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
    let column_types = |table: &str| {
        format!(
            "SELECT CAST(CONCAT(column_name, ' ', column_type) AS CHAR) \
             FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = '{table}' ORDER BY ordinal_position"
        )
    };
    let types = database.rows(&column_types("odd_back")).await;
    assert_eq!(types, database.rows(&column_types("odd")).await);
    assert_eq!(types[3], some(&["kinds set('a','b','c')"]), "{types:?}");
    let compared = "SELECT CAST(took AS CHAR), CAST(flags + 0 AS CHAR), kinds, mood, \
                    CAST(born AS CHAR), ST_AsText(spot) FROM {} ORDER BY id";
    assert_eq!(
        database.rows(&compared.replace("{}", "odd_back")).await,
        database.rows(&compared.replace("{}", "odd")).await
    );
    assert_eq!(
        database.rows(&compared.replace("{}", "odd_back")).await[0],
        some(&[
            "-12:30:05.250",
            "10",
            "a,c",
            "it's ok",
            "1999",
            "POINT(1 2)"
        ])
    );
}

#[tokio::test]
async fn a_mysql_type_named_in_a_parquet_file_is_never_pasted_into_sql() {
    use datafusion::arrow::array::{StringArray, UInt64Array};
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::parquet::arrow::ArrowWriter;
    use std::sync::Arc;

    let database =
        MysqlDatabase::create("CREATE TABLE kept (id INT); INSERT INTO kept VALUES (1);").await;
    let server = TestServer::start(Options::default()).await;
    // Whoever writes a Parquet file chooses its metadata.
    let typed = |name: &str, data_type, declared: &str| {
        Field::new(name, data_type, true).with_metadata(
            [("sluice.mysql_type".to_owned(), declared.to_owned())]
                .into_iter()
                .collect(),
        )
    };
    let schema = Arc::new(Schema::new(vec![
        typed(
            "sneaky",
            DataType::Utf8,
            "enum('a'), b INT); DROP TABLE kept; -- ')",
        ),
        typed("quoted", DataType::Utf8, "set('a\\'), b INT, c ENUM(''')"),
        typed("flags", DataType::UInt64, "bit(4)"),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["a"])),
            Arc::new(StringArray::from(vec!["a"])),
            Arc::new(UInt64Array::from(vec![5])),
        ],
    )
    .unwrap();
    let file = std::fs::File::create(server.data.join("crafted.parquet")).unwrap();
    let mut writer = ArrowWriter::try_new(file, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();

    let source = server
        .data_store(json!({"name": "crafted", "type": "file", "connection": {"path": "crafted.parquet", "format": "parquet"}}))
        .await;
    let mart = server.data_store(database.store("mart")).await;
    let end = server
        .run_flow(one_source_flow(
            source,
            json!({}),
            mart,
            json!([{"name": "landed", "sql": "SELECT * FROM src"}]),
            json!([{"transform": "landed", "table": "landed", "mode": "replace"}]),
        ))
        .await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
    let types = database
        .rows(
            "SELECT CAST(CONCAT(column_name, ' ', column_type) AS CHAR) \
             FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = 'landed' ORDER BY ordinal_position",
        )
        .await;
    assert_eq!(
        types,
        [
            some(&["sneaky longtext"]),
            some(&["quoted longtext"]),
            some(&["flags bit(4)"])
        ]
    );
    assert_eq!(database.tables().await, ["kept", "landed"]);
}
