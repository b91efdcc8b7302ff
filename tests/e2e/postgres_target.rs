//! PostgreSQL as a target: every mapped type written by binary COPY, `replace` swapping a staging
//! table in at commit and leaving nothing behind when the flow fails, `append` adding rows, and a
//! wrong password failing the flow without showing it.

use serde_json::{Value, json};

use crate::databases::{EVERY_TYPE, OTHER_TYPES, postgres_database, postgres_rows, postgres_store};
use crate::support::{Options, TestServer, one_source_flow, write_orders_csv};

fn csv_store(name: &str, path: &str) -> Value {
    json!({"name": name, "type": "file", "connection": {"path": path, "format": "csv"}})
}

/// Values as PostgreSQL's text shows them, `None` for NULL.
fn texts(values: &[Option<&str>]) -> Vec<Option<String>> {
    values.iter().map(|v| v.map(str::to_owned)).collect()
}

#[tokio::test]
async fn every_mapped_type_goes_from_postgresql_into_postgresql_intact() {
    let (_source, source_db) = postgres_database(EVERY_TYPE).await;
    let (target_db, target_name) = postgres_database("").await;
    let server = TestServer::start(Options::default()).await;
    let source = server
        .data_store(postgres_store("warehouse", &source_db, 5432))
        .await;
    let target = server
        .data_store(postgres_store("mart", &target_name, 5432))
        .await;
    let end = server
        .run_flow(one_source_flow(
            source,
            json!({"table": "every_type"}),
            target,
            json!([{"name": "copied", "sql": "SELECT * FROM src"}]),
            json!([{"transform": "copied", "table": "copied", "mode": "replace"}]),
        ))
        .await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
    assert_eq!(end["output"]["steps"][2]["rows"], 2, "{end}");

    let columns = postgres_rows(
        &target_db,
        "SELECT column_name::text || ' ' || data_type::text FROM information_schema.columns \
         WHERE table_name = 'copied' ORDER BY ordinal_position",
    )
    .await;
    let columns: Vec<&str> = columns.iter().map(|c| c[0].as_deref().unwrap()).collect();
    // The character types arrive as Arrow text and land as text; numeric, json, jsonb and uuid
    // arrive as text that remembers its type, and land as that type (numeric without its
    // precision and scale).
    assert_eq!(
        columns,
        [
            "id integer",
            "flag boolean",
            "small smallint",
            "big bigint",
            "ratio real",
            "amount double precision",
            "price numeric",
            "name text",
            "code text",
            "letter text",
            "doc json",
            "docb jsonb",
            "key uuid",
            "raw bytea",
            "day date",
            "at timestamp without time zone",
            "at_tz timestamp with time zone",
        ]
    );
    let rows = postgres_rows(
        &target_db,
        "SELECT id::text, flag::text, small::text, big::text, ratio::text, amount::text, \
         price::text, name, code, letter, doc::text, docb::text, key::text, raw::text, day::text, at::text, \
         (at_tz AT TIME ZONE 'UTC')::text FROM copied ORDER BY id",
    )
    .await;
    assert_eq!(
        rows[0],
        texts(&[
            Some("1"),
            Some("true"),
            Some("-2"),
            Some("9007199254740993"),
            Some("1.5"),
            Some("2.25"),
            Some("-1234.567"),
            Some("Ελλάδα – ünïcode"),
            Some("ab"),
            Some("x "),
            Some(r#"{"a": [1, 2]}"#),
            Some(r#"{"b": 2}"#),
            Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            Some("\\x00ff"),
            Some("2026-11-24"),
            Some("2026-11-24 12:34:56.789"),
            Some("2026-11-24 10:34:56.789"),
        ])
    );
    let mut nulls = vec![None; 17];
    nulls[0] = Some("2".to_owned());
    assert_eq!(rows[1], nulls);
}

#[tokio::test]
async fn typed_columns_of_a_transform_become_typed_postgresql_columns() {
    let (target_db, target_name) = postgres_database("").await;
    let server = TestServer::start(Options::default()).await;
    std::fs::write(
        server.data.join("prices.csv"),
        "id,name,price,day\n1,Ελλάδα,12.5,2026-11-24\n2,,-0.001,\n3,plain,100000,2000-01-01\n",
    )
    .unwrap();
    let source = server.data_store(csv_store("prices", "prices.csv")).await;
    let target = server
        .data_store(postgres_store("mart", &target_name, 5432))
        .await;
    let sql = "SELECT CAST(id AS SMALLINT) AS id, name, CAST(price AS DECIMAL(12, 3)) AS price, \
               CAST(day AS DATE) AS day FROM src";
    let end = server
        .run_flow(one_source_flow(
            source,
            json!({}),
            target,
            json!([{"name": "typed", "sql": sql}]),
            json!([{"transform": "typed", "table": "typed", "mode": "replace"}]),
        ))
        .await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
    let rows = postgres_rows(
        &target_db,
        "SELECT pg_typeof(id)::text, id::text, name, pg_typeof(price)::text, price::text, \
         pg_typeof(day)::text, day::text FROM typed ORDER BY id",
    )
    .await;
    let row = |id, name, price, day| {
        texts(&[
            Some("smallint"),
            Some(id),
            name,
            Some("numeric"),
            Some(price),
            Some("date"),
            day,
        ])
    };
    assert_eq!(
        rows,
        [
            row("1", Some("Ελλάδα"), "12.500", Some("2026-11-24")),
            row("2", None, "-0.001", None),
            row("3", Some("plain"), "100000.000", Some("2000-01-01")),
        ]
    );
}

#[tokio::test]
async fn replace_swaps_in_whole_tables_append_adds_and_a_failed_flow_changes_nothing() {
    let (target_db, target_name) = postgres_database(
        "CREATE TABLE kept (id bigint); INSERT INTO kept VALUES (-1), (-2), (-3);",
    )
    .await;
    let server = TestServer::start(Options::default()).await;
    write_orders_csv(&server.data.join("orders.csv"), 1000);
    let orders = server.data_store(csv_store("orders", "orders.csv")).await;
    let target = server
        .data_store(postgres_store("mart", &target_name, 5432))
        .await;
    let count = async || {
        postgres_rows(&target_db, "SELECT count(*)::text FROM kept").await[0][0]
            .clone()
            .unwrap()
    };

    // The second output cannot be written (PostgreSQL has no column type for a struct) after the
    // first was staged: neither shows.
    let failing = server
        .run_flow(one_source_flow(
            orders,
            json!({}),
            target,
            json!([
                {"name": "ids", "sql": "SELECT id FROM src"},
                {"name": "spans", "sql": "SELECT id, named_struct('days', id) AS span FROM src"}
            ]),
            json!([
                {"transform": "ids", "table": "kept", "mode": "replace"},
                {"transform": "spans", "table": "spans", "mode": "replace"}
            ]),
        ))
        .await;
    assert_eq!(failing["output"]["state"], "FAILED", "{failing}");
    let error = failing["output"]["errors"]["lines"][0].as_str().unwrap();
    assert!(error.contains("column 'span'"), "{error}");
    assert_eq!(count().await, "3");
    let tables = postgres_rows(
        &target_db,
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
    )
    .await;
    assert_eq!(
        tables,
        [[Some("kept".to_owned())]],
        "no staging table is left"
    );

    let ids = json!([{"name": "ids", "sql": "SELECT id FROM src"}]);
    let replace = json!([{"transform": "ids", "table": "kept", "mode": "replace"}]);
    let append = json!([{"transform": "ids", "table": "kept", "mode": "append"}]);
    for (outputs, expected) in [(&replace, "1000"), (&append, "2000"), (&replace, "1000")] {
        let end = server
            .run_flow(one_source_flow(
                orders,
                json!({}),
                target,
                ids.clone(),
                outputs.clone(),
            ))
            .await;
        assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
        assert_eq!(count().await, expected, "after {outputs}");
    }
    let sum = postgres_rows(&target_db, "SELECT sum(id)::text FROM kept").await;
    assert_eq!(sum[0][0].as_deref(), Some("500500"));
}

/// The role whose password PostgreSQL checks: `.ci/run` puts a password rule for it ahead of the
/// machine's trust rules.
const PASSWORD_ROLE: &str = "sluice_password_check";

/// Creates the role (once per PostgreSQL server), with password `the-right-one`.
async fn ensure_password_role(database: &crate::support::StateDatabase) {
    postgres_rows(
        database,
        &format!(
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PASSWORD_ROLE}') THEN
                 CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD 'the-right-one';
               END IF;
             END $$"
        ),
    )
    .await;
}

fn role_store(name: &str, database: &str, password: &str) -> serde_json::Value {
    json!({"name": name, "type": "relational_db", "connection": {
        "engine": "postgres", "host": "127.0.0.1", "port": 5432, "user": PASSWORD_ROLE,
        "password": password, "database": database
    }})
}

#[tokio::test]
async fn a_wrong_password_fails_the_flow_saying_where_and_never_showing_it() {
    let (target_db, target_name) = postgres_database("").await;
    ensure_password_role(&target_db).await;
    let server = TestServer::start(Options::default()).await;
    write_orders_csv(&server.data.join("orders.csv"), 10);
    let orders = server.data_store(csv_store("orders", "orders.csv")).await;
    let target = server
        .data_store(role_store("mart", &target_name, "not-the-right-one"))
        .await;
    let end = server
        .run_flow(one_source_flow(
            orders,
            json!({}),
            target,
            json!([{"name": "ids", "sql": "SELECT id FROM src"}]),
            json!([{"transform": "ids", "table": "ids", "mode": "replace"}]),
        ))
        .await;
    assert_eq!(
        end["output"]["state"], "FAILED",
        "PostgreSQL took a wrong password: this test needs the password rule for \
         {PASSWORD_ROLE} that .ci/run adds to pg_hba.conf. {end}"
    );
    let error = end["output"]["errors"]["lines"][0].as_str().unwrap();
    let place = format!("connecting to PostgreSQL {PASSWORD_ROLE}@127.0.0.1:5432/{target_name}");
    assert!(error.contains(&place), "{error}");
    assert!(error.contains("password authentication failed"), "{error}");
    let everything = format!("{end}{}", server.output());
    assert!(!everything.contains("not-the-right-one"), "{everything}");
}

#[tokio::test]
async fn missing_permissions_fail_the_flow_with_postgresql_s_refusal() {
    // Tables of postgres's, in a database whose public schema the role may not create in.
    let (database, name) = postgres_database("CREATE TABLE secret (id integer)").await;
    ensure_password_role(&database).await;
    let server = TestServer::start(Options::default()).await;
    write_orders_csv(&server.data.join("orders.csv"), 10);
    let orders = server.data_store(csv_store("orders", "orders.csv")).await;
    let as_role = server
        .data_store(role_store("guarded", &name, "the-right-one"))
        .await;
    let out = server.data_store(csv_store("out", "out.csv")).await;
    let ids = json!([{"name": "ids", "sql": "SELECT id FROM src"}]);
    let into_table = json!([{"transform": "ids", "table": "ids", "mode": "replace"}]);
    let into_file = json!([{"transform": "ids", "mode": "replace"}]);
    let cases = [
        (
            orders,
            json!({}),
            as_role,
            into_table,
            "writing to",
            "permission denied for schema public",
        ),
        (
            as_role,
            json!({"table": "secret"}),
            out,
            into_file,
            "reading from",
            "permission denied for table secret",
        ),
    ];
    for (source, read, target, outputs, what, refusal) in cases {
        let end = server
            .run_flow(one_source_flow(source, read, target, ids.clone(), outputs))
            .await;
        assert_eq!(end["output"]["state"], "FAILED", "{end}");
        let error = end["output"]["errors"]["lines"][0].as_str().unwrap();
        let place = format!("{what} PostgreSQL {PASSWORD_ROLE}@127.0.0.1:5432/{name}");
        assert!(error.contains(&place), "{error} should say {place}");
        assert!(error.contains(refusal), "{error} should say {refusal}");
    }
}

#[tokio::test]
async fn arrays_times_and_intervals_go_from_postgresql_into_postgresql_and_through_parquet() {
    let (database, name) = postgres_database(OTHER_TYPES).await;
    let server = TestServer::start(Options::default()).await;
    let shop = server.data_store(postgres_store("shop", &name, 5432)).await;
    let lake = server
        .data_store(json!({"name": "lake", "type": "columnar_db", "connection": {"path": "lake"}}))
        .await;
    let copy = |source, target, table: &str, into: &str| {
        one_source_flow(
            source,
            json!({"table": table}),
            target,
            json!([{"name": "copied", "sql": "SELECT * FROM src"}]),
            json!([{"transform": "copied", "table": into, "mode": "replace"}]),
        )
    };
    for input in [
        copy(shop, shop, "other_types", "direct"),
        copy(shop, lake, "other_types", "other_types"),
        copy(lake, shop, "other_types", "through_parquet"),
    ] {
        let end = server.run_flow(input).await;
        assert_eq!(end["output"]["state"], "COMPLETED", "{end}");
    }
    let types = |table: &str| {
        format!(
            "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) \
             FROM pg_attribute WHERE attrelid = '{table}'::regclass AND attnum > 0"
        )
    };
    let direct = postgres_rows(&database, &types("direct")).await;
    assert_eq!(
        direct[0][0].as_deref().unwrap(),
        "id integer, counts integer[], tags text[], prices numeric(10,2)[], \
         at time without time zone, took interval, feeling text, amount integer, name text, \
         address text, network text, device text, cash text, spot text, zoned text, bits text"
    );
    // Parquet keeps no interval finer than milliseconds: it holds the interval's text.
    let through = postgres_rows(&database, &types("through_parquet")).await;
    assert_eq!(
        through[0][0].as_deref().unwrap(),
        direct[0][0]
            .as_deref()
            .unwrap()
            .replace("took interval", "took text")
    );
    for (table, took) in [("direct", "took::text"), ("through_parquet", "NULL")] {
        let differences = postgres_rows(
            &database,
            &format!(
                "SELECT count(*)::text FROM (\
                 SELECT id, counts, tags, prices, at, {took}, feeling::text, amount, name::text, \
                   cash::text, host(address) FROM other_types \
                 EXCEPT ALL SELECT id, counts, tags, prices, at, {took}, feeling, amount, name, \
                   cash, address FROM {table}) AS d"
            ),
        )
        .await;
        assert_eq!(differences, [[Some("0".to_owned())]], "{table}");
    }
    let took = postgres_rows(&database, "SELECT took FROM through_parquet ORDER BY id").await;
    assert_eq!(
        took,
        [[Some("1 mons 2 days 3.500000000 secs".to_owned())], [None]]
    );
}
