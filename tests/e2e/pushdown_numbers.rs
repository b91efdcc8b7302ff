//! The numbers push-down could get wrong, compared on both paths: each transform runs on a
//! Sluice that pushes it down and on one that does not, and the two must end the same way,
//! either both COMPLETED with the same columns and values, or both FAILED with an error naming
//! a column. Decimals with more places than their type says (an unconstrained `numeric`, a
//! computed MySQL DECIMAL), scales over 9, over 38 digits, NaN, negative zero and averages.

use serde_json::{Value, json};

use crate::databases::{MysqlDatabase, postgres_database, postgres_store};
use crate::support::{Options, TestServer, parquet_rows, rows_and_types};

/// One transform over the sources `reads` (each `{"as": …, "table"|"query": …}`), and whether it
/// must be pushed down.
struct Case {
    name: &'static str,
    reads: &'static [(&'static str, &'static str)],
    sql: &'static str,
    pushed_down: bool,
}

const fn case(
    name: &'static str,
    reads: &'static [(&'static str, &'static str)],
    sql: &'static str,
    pushed_down: bool,
) -> Case {
    Case {
        name,
        reads,
        sql,
        pushed_down,
    }
}

/// How a flow ended: its rows and column types, or its error.
#[derive(Debug, PartialEq)]
enum Outcome {
    Completed {
        rows: Vec<String>,
        types: Vec<String>,
    },
    Failed(String),
}

fn source(store: i64, alias: &str, read: &str) -> Value {
    let mut source = json!({"data_store_id": store, "as": alias});
    let (key, value) = match read.strip_prefix("query:") {
        Some(query) => ("query", query),
        None => ("table", read),
    };
    source[key] = json!(value);
    source
}

/// Runs `case` and returns how it ended and where its transform ran.
async fn outcome(server: &TestServer, store: i64, case: &Case) -> (Outcome, String) {
    let file = format!("{}.parquet", case.name);
    let target = server
        .data_store(json!({"name": format!("out_{}", case.name), "type": "file",
            "connection": {"path": file, "format": "parquet"}}))
        .await;
    let sources: Vec<Value> = (case.reads.iter())
        .map(|(alias, read)| source(store, alias, read))
        .collect();
    let end = server
        .run_flow(json!({
            "source_data_store_ids": [store], "target_data_store_id": target,
            "sources": sources,
            "transforms": [{"name": "result", "sql": case.sql}],
            "outputs": [{"transform": "result", "mode": "replace"}]
        }))
        .await;
    let (_, view) = server.get(&format!("/v2/flows/{}", end["id"])).await;
    let ran_in = (view["steps"].as_array().unwrap().iter())
        .find(|s| s["name"] == "result")
        .and_then(|s| s["ran_in"].as_str())
        .unwrap_or("-")
        .to_owned();
    let outcome = match end["output"]["state"].as_str().unwrap() {
        "COMPLETED" => {
            let batches = parquet_rows(&server.data.join(&file), "SELECT * FROM t").await;
            let (mut rows, types) = rows_and_types(&batches);
            rows.sort();
            Outcome::Completed { rows, types }
        }
        "FAILED" => Outcome::Failed(end["output"]["errors"].to_string()),
        other => panic!("{}: ended {other}: {end}", case.name),
    };
    (outcome, ran_in)
}

async fn compare(store: Value, engine: &str, cases: &[Case]) {
    let pushing = TestServer::start(Options::default()).await;
    let pulling = TestServer::start(Options {
        env: vec![("SLUICE__ENGINE__PUSH_DOWN", "false".into())],
        ..Options::default()
    })
    .await;
    let on_pushing = pushing.data_store(store.clone()).await;
    let on_pulling = pulling.data_store(store).await;
    let down = format!("pushed down to {engine} store \"numbers\"");
    let mut failures = Vec::new();
    for case in cases {
        let (pushed, ran_in) = outcome(&pushing, on_pushing, case).await;
        let (pulled, _) = outcome(&pulling, on_pulling, case).await;
        let expected_place = if case.pushed_down {
            down.as_str()
        } else {
            "in Sluice"
        };
        if ran_in != expected_place {
            failures.push(format!(
                "{}: ran {ran_in}, expected {expected_place}",
                case.name
            ));
        }
        match (&pushed, &pulled) {
            (Outcome::Completed { .. }, Outcome::Completed { .. }) if pushed == pulled => {}
            (Outcome::Failed(a), Outcome::Failed(b))
                if a.contains("column '") && b.contains("column '") => {}
            _ => failures.push(format!(
                "{}: pushed down {pushed:?}\nin Sluice {pulled:?}",
                case.name
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

const POSTGRES_TABLES: &str = "
    CREATE TABLE ratios (id integer NOT NULL, r numeric);
    INSERT INTO ratios VALUES (1, 1.42857142857142857143), (2, 0.5), (3, NULL);
    CREATE TABLE nines (id integer NOT NULL, r numeric);
    INSERT INTO nines VALUES (1, 1.5), (2, 2.123456789), (3, -0.000000001),
        (4, 12345678901234567890.123456789), (5, NULL), (6, 0);
    CREATE TABLE fine (id integer NOT NULL, d numeric(30, 12));
    INSERT INTO fine VALUES (1, 0.000000000001), (2, 123.456789012345), (3, -7.25);
    CREATE TABLE wide (id integer NOT NULL, w numeric(50, 2));
    INSERT INTO wide VALUES (1, 123456789012345678901234567890123456789012.25), (2, -1.5);
    CREATE TABLE huge (id integer NOT NULL, r numeric);
    INSERT INTO huge VALUES (1, 1e40), (2, 1);
    CREATE TABLE nan (id integer NOT NULL, r numeric);
    INSERT INTO nan VALUES (1, 'NaN'), (2, 1);
    CREATE TABLE floats (id integer NOT NULL, f double precision, n integer);
    INSERT INTO floats VALUES (1, '-0', 1), (2, '0', 1), (3, 2.5, 2), (4, 'NaN', 4),
        (5, '-Infinity', 7), (6, 1e-300, NULL);
";

const POSTGRES_CASES: &[Case] = &[
    // More places than the 9 Sluice reads an unconstrained numeric with: never rounded.
    case(
        "max_of_unconstrained",
        &[("ratios", "ratios")],
        "SELECT max(r) AS m FROM ratios WHERE id > 0",
        true,
    ),
    case(
        "sum_of_unconstrained",
        &[("ratios", "ratios")],
        "SELECT id, sum(r) AS s FROM ratios WHERE id < 3 GROUP BY id",
        true,
    ),
    case(
        "unconstrained_within_nine_places",
        &[("nines", "nines")],
        "SELECT sum(r) AS s, max(r) AS hi, min(r) AS lo, count(r) AS n FROM nines WHERE id > 0",
        true,
    ),
    case(
        "unconstrained_times_two",
        &[("nines", "nines")],
        "SELECT id, r * 2 AS twice FROM nines WHERE r > 0",
        true,
    ),
    case(
        "average_of_unconstrained",
        &[("nines", "nines")],
        "SELECT avg(r) AS mean FROM nines WHERE id > 0",
        false,
    ),
    case(
        "scale_over_nine",
        &[("fine", "fine")],
        "SELECT sum(d) AS s, max(d) AS hi, min(d) AS lo FROM fine WHERE id > 0",
        true,
    ),
    case(
        "over_38_digits",
        &[("wide", "wide")],
        "SELECT id, w FROM wide WHERE id > 0",
        true,
    ),
    case(
        "sum_over_38_digits",
        &[("wide", "wide")],
        "SELECT sum(w) AS s FROM wide WHERE id > 0",
        false,
    ),
    case(
        "unconstrained_too_large",
        &[("huge", "huge")],
        "SELECT max(r) AS m FROM huge WHERE id > 0",
        true,
    ),
    case(
        "numeric_nan",
        &[("nan", "nan")],
        "SELECT max(r) AS m FROM nan WHERE id > 0",
        true,
    ),
    case(
        "float_extremes",
        &[("floats", "floats")],
        "SELECT max(f) AS hi, min(f) AS lo, count(f) AS n FROM floats WHERE id > 0",
        false,
    ),
    case(
        "negative_zero_kept",
        &[("floats", "floats")],
        "SELECT id, f FROM floats WHERE id < 3",
        true,
    ),
    case(
        "average_of_integers",
        &[("floats", "floats")],
        "SELECT avg(n) AS mean FROM floats WHERE id > 0",
        true,
    ),
    case(
        "floats_compared_with_zero",
        &[("floats", "floats")],
        "SELECT id FROM floats WHERE f >= 0",
        true,
    ),
    case(
        "floats_compared_with_negative_zero",
        &[("floats", "floats")],
        "SELECT id FROM floats WHERE f < 0.0 OR f = -0.0",
        true,
    ),
    case(
        "floats_sorted",
        &[("floats", "floats")],
        "SELECT id, f FROM floats WHERE id > 0 ORDER BY f, id DESC LIMIT 3",
        false,
    ),
    case(
        "min_of_zeros",
        &[("floats", "floats")],
        "SELECT min(f) AS lo, max(f) AS hi FROM floats WHERE id < 3",
        false,
    ),
    case(
        "average_of_floats",
        &[("floats", "floats")],
        "SELECT avg(f) AS mean FROM floats WHERE id IN (3, 6)",
        true,
    ),
    // A source query's computed numeric: described without a scale on both paths.
    case(
        "max_of_a_computed_numeric",
        &[(
            "q",
            "query:SELECT id, r + 0.0000000001 AS shifted FROM nines",
        )],
        "SELECT max(shifted) AS m FROM q WHERE id > 0",
        true,
    ),
];

#[tokio::test]
async fn postgresql_numbers_end_the_same_whether_pushed_down_or_not() {
    let (_database, name) = postgres_database(POSTGRES_TABLES).await;
    compare(
        postgres_store("numbers", &name, 5432),
        "postgres",
        POSTGRES_CASES,
    )
    .await;
}

const MYSQL_TABLES: &str = "
    CREATE TABLE tenths (id INT NOT NULL, d DECIMAL(20, 10));
    INSERT INTO tenths VALUES (1, 1.0000000001), (2, 2.5), (3, NULL);
    CREATE TABLE widest (id INT NOT NULL, d DECIMAL(65, 30));
    INSERT INTO widest VALUES (1, 12345678901234567890123456789012345.123456789012345678901234567890),
        (2, -0.000000000000000000000000000001);
    CREATE TABLE floats (id INT NOT NULL, f DOUBLE, n INT);
    INSERT INTO floats VALUES (1, 0, 1), (2, 2.5, 1), (3, -7.75, 2), (4, 1e-300, 4);
";

const MYSQL_CASES: &[Case] = &[
    case(
        "scale_over_nine",
        &[("tenths", "tenths")],
        "SELECT sum(d) AS s, max(d) AS hi, min(d) AS lo FROM tenths WHERE id > 0",
        true,
    ),
    // A computed DECIMAL of a source query, with 14 places: never rounded to 9.
    case(
        "max_of_a_computed_decimal",
        &[("q", "query:SELECT id, d / 3 AS third FROM tenths")],
        "SELECT max(third) AS m FROM q WHERE id > 0",
        true,
    ),
    case(
        "over_38_digits",
        &[("widest", "widest")],
        "SELECT id, d FROM widest WHERE id > 0",
        true,
    ),
    case(
        "average_of_decimals",
        &[("tenths", "tenths")],
        "SELECT avg(d) AS mean FROM tenths WHERE id > 0",
        false,
    ),
    case(
        "average_of_integers",
        &[("floats", "floats")],
        "SELECT avg(n) AS mean FROM floats WHERE id > 0",
        true,
    ),
    case(
        "float_extremes",
        &[("floats", "floats")],
        "SELECT max(f) AS hi, min(f) AS lo, sum(f) AS s FROM floats WHERE id > 0",
        false,
    ),
    case(
        "float_sum_and_comparison",
        &[("floats", "floats")],
        "SELECT sum(f) AS s, count(*) AS n FROM floats WHERE f >= 0",
        true,
    ),
];

#[tokio::test]
async fn mariadb_numbers_end_the_same_whether_pushed_down_or_not() {
    let database = MysqlDatabase::create(MYSQL_TABLES).await;
    compare(database.store("numbers"), "mysql", MYSQL_CASES).await;
}
