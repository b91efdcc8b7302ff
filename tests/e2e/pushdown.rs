//! Transforms pushed down to the database holding their sources: a corpus of transforms run on
//! PostgreSQL and MariaDB sources by a Sluice that pushes them down and by one that does not,
//! whose results must be identical (columns, types and values), and the flow's view saying
//! where each step ran.

use serde_json::{Value, json};

use crate::databases::{MysqlDatabase, postgres_database, postgres_store};
use crate::support::{Options, TestServer, parquet_rows, rows_and_types};

const ORDERS: usize = 120;

/// The same rows for both databases: NULLs, negative and fractional numbers, text differing
/// only in case, accents or trailing spaces, instants through the year.
fn orders_values(with_postgres_types: bool) -> String {
    let regions = ["'north'", "'North'", "'south'", "'Süd'", "'east '", "NULL"];
    let codes = ["'ab'", "'abc'", "'a'"];
    (1..=ORDERS)
        .map(|i| {
            let amount = if i % 17 == 0 {
                "NULL".to_owned()
            } else {
                let cents = (i * 3737 % 100_000) as i64 * if i % 13 == 0 { -1 } else { 1 };
                format!("{}.{:02}", cents / 100, (cents % 100).abs())
            };
            let qty = if i % 23 == 0 {
                "NULL".to_owned()
            } else {
                (i % 9).to_string()
            };
            let price = format!("{}", i as f64 * 1.25 - 30.0);
            let hours = i * 37;
            let at = format!(
                "'2026-{:02}-{:02} {:02}:00:00'",
                1 + hours / 24 / 28 % 12,
                1 + hours / 24 % 28,
                hours % 24
            );
            let note = if i % 2 == 0 {
                "NULL".to_owned()
            } else {
                format!("'n{i}'")
            };
            let mut row = vec![
                i.to_string(),
                (i % 11).to_string(),
                regions[i % regions.len()].to_owned(),
                amount,
                qty,
                price,
                at,
                note,
                codes[i % codes.len()].to_owned(),
            ];
            if with_postgres_types {
                row.push(format!("'a0eebc99-9c0b-4ef8-bb6d-6bb9bd38{i:04}'"));
            }
            format!("({})", row.join(", "))
        })
        .collect::<Vec<_>>()
        .join(",\n")
}

fn customers_values() -> String {
    (1..=10)
        .map(|i| format!("({i}, 'c{i}', '{}')", if i % 2 == 0 { "FR" } else { "fr" }))
        .collect::<Vec<_>>()
        .join(", ")
}

fn postgres_tables() -> String {
    format!(
        "SET TIME ZONE 'Europe/Paris';
         CREATE TABLE orders (id integer NOT NULL, customer_id integer, region text,
             amount numeric(12,2), qty integer, price double precision, at timestamptz,
             note text, code char(3), key uuid);
         INSERT INTO orders VALUES {};
         CREATE TABLE customers (id integer NOT NULL, name text, country varchar(2));
         INSERT INTO customers VALUES {};",
        orders_values(true),
        customers_values()
    )
}

fn mysql_tables() -> String {
    format!(
        "SET time_zone = '+01:00';
         CREATE TABLE orders (id INT NOT NULL, customer_id INT, region VARCHAR(20),
             amount DECIMAL(12,2), qty INT, price DOUBLE, at TIMESTAMP(6) NULL, note TEXT,
             code CHAR(3)) CHARACTER SET utf8mb4;
         INSERT INTO orders VALUES {};
         CREATE TABLE customers (id INT NOT NULL, name VARCHAR(20), country VARCHAR(2))
             CHARACTER SET utf8mb4;
         INSERT INTO customers VALUES {};",
        orders_values(false),
        customers_values()
    )
}

/// A transform of the corpus, and whether it goes down to PostgreSQL and to MariaDB.
struct Case {
    name: &'static str,
    sql: &'static str,
    postgres: bool,
    mysql: bool,
}

const fn case(name: &'static str, sql: &'static str, postgres: bool, mysql: bool) -> Case {
    Case {
        name,
        sql,
        postgres,
        mysql,
    }
}

const CORPUS: &[Case] = &[
    // A copy leaves no row behind: nothing to gain, and Sluice reads a large table in parallel.
    case(
        "whole_table",
        "SELECT id, amount, region FROM orders ORDER BY id",
        false,
        false,
    ),
    case(
        "filtered_aggregate",
        "SELECT qty, count(*) AS n, sum(amount) AS total, min(at) AS first_at, \
         max(customer_id) AS top FROM orders WHERE price > 10 GROUP BY qty",
        true,
        true,
    ),
    case(
        "inner_join",
        "SELECT o.id, c.id AS customer, o.amount FROM orders o \
         JOIN customers c ON o.customer_id = c.id WHERE o.qty > 3",
        true,
        true,
    ),
    case(
        "left_join_counts_nulls",
        "SELECT c.id, count(o.id) AS n, sum(o.qty) AS q FROM customers c \
         LEFT JOIN orders o ON o.customer_id = c.id AND o.qty > 6 GROUP BY c.id",
        true,
        true,
    ),
    case(
        "cte",
        "WITH big AS (SELECT * FROM orders WHERE amount > 50) \
         SELECT customer_id, sum(qty) AS q, count(*) AS n FROM big GROUP BY customer_id",
        true,
        true,
    ),
    case(
        "window",
        "SELECT id, row_number() OVER (PARTITION BY customer_id ORDER BY id) AS rn, \
         sum(amount) OVER (PARTITION BY customer_id ORDER BY id) AS running FROM orders \
         WHERE id > 3",
        true,
        false,
    ),
    case(
        "window_nulls_first",
        "SELECT id, sum(qty) OVER (PARTITION BY customer_id ORDER BY id NULLS FIRST) AS r \
         FROM orders WHERE id > 3",
        true,
        true,
    ),
    case(
        "average_of_integers",
        "SELECT customer_id, avg(qty) AS a FROM orders GROUP BY customer_id",
        true,
        true,
    ),
    case(
        "null_handling",
        "SELECT id, coalesce(note, 'none') AS note, nullif(qty, 0) AS q, amount IS NULL AS no_amount \
         FROM orders WHERE note IS NULL OR qty IS NOT NULL",
        true,
        true,
    ),
    case(
        "numerics",
        "SELECT id, amount * 2 + 1 AS a, qty % 4 AS m, -amount AS neg, abs(price) AS ap, \
         qty * qty - 3 AS q FROM orders WHERE id > 3",
        true,
        true,
    ),
    case(
        "float_arithmetic",
        "SELECT id, price * qty AS p, -price AS neg FROM orders WHERE id > 3",
        true,
        false,
    ),
    case(
        "integer_division",
        "SELECT id, qty / 4 AS d, (qty - 5) / 2 AS e FROM orders WHERE id > 3",
        true,
        false,
    ),
    case(
        "decimal_division",
        "SELECT id, amount / 3 AS third FROM orders WHERE id > 3",
        false,
        false,
    ),
    case(
        "instants_with_zones",
        "SELECT id, at FROM orders WHERE at >= '2026-03-01T00:00:00Z' \
         AND at < '2026-06-01T00:00:00+02:00'",
        true,
        false,
    ),
    case(
        "dates",
        "SELECT count(*) AS n FROM orders WHERE at < CAST('2026-05-01' AS DATE)",
        false,
        false,
    ),
    case(
        "text_grouped",
        "SELECT region, count(*) AS n FROM orders GROUP BY region",
        true,
        false,
    ),
    case(
        "text_compared",
        "SELECT id FROM orders WHERE region = 'north' OR region IN ('Süd')",
        true,
        false,
    ),
    case(
        "text_sorted",
        "SELECT region, id FROM orders ORDER BY region, id LIMIT 20",
        false,
        false,
    ),
    case(
        "text_matched",
        "SELECT id, region FROM orders WHERE region LIKE '%o%' OR note LIKE 'n1_'",
        true,
        false,
    ),
    case(
        "padded_text",
        "SELECT id, code FROM orders WHERE code = 'ab ' OR code = 'a'",
        true,
        false,
    ),
    case(
        "top_n",
        "SELECT id, amount FROM orders WHERE amount IS NOT NULL ORDER BY amount DESC, id LIMIT 7",
        true,
        false,
    ),
    case(
        "distinct_and_count_distinct",
        "SELECT DISTINCT customer_id, qty FROM orders WHERE qty > 4",
        true,
        true,
    ),
    case(
        "union_all",
        "SELECT id FROM orders WHERE qty > 6 UNION ALL SELECT id FROM customers",
        true,
        true,
    ),
    case(
        "case_when",
        "SELECT id, CASE WHEN qty > 5 THEN 'big' WHEN qty IS NULL THEN 'none' ELSE 'small' END \
         AS size, count(DISTINCT customer_id) OVER () AS customers FROM orders",
        false,
        false,
    ),
    case(
        "having_and_offset",
        "SELECT customer_id, count(*) AS n FROM orders GROUP BY customer_id \
         HAVING count(*) > 5 ORDER BY customer_id NULLS FIRST LIMIT 5 OFFSET 2",
        true,
        true,
    ),
    case(
        "derived_table",
        "SELECT s.customer_id, s.total FROM (SELECT customer_id, sum(qty) AS total FROM orders \
         GROUP BY customer_id) s WHERE s.total > 10",
        true,
        true,
    ),
    case(
        "full_join",
        "SELECT c.id AS cid, o.id AS oid FROM customers c FULL JOIN orders o \
         ON o.customer_id = c.id WHERE o.id IS NULL OR o.id < 20",
        true,
        false,
    ),
    case(
        "concat_and_distinct_from",
        "SELECT id, region || '-' || note AS label FROM orders WHERE qty IS DISTINCT FROM 3",
        true,
        false,
    ),
    case(
        "between_in_not",
        "SELECT id FROM orders WHERE qty BETWEEN 2 AND 5 AND customer_id NOT IN (1, 3) \
         AND NOT (price < 0)",
        true,
        true,
    ),
    case(
        "count_distinct",
        "SELECT count(DISTINCT customer_id) AS c, count(note) AS notes FROM orders",
        true,
        true,
    ),
];

/// A flow reading both tables of `store` and writing `case`'s result to Parquet.
fn flow_input(store: i64, target: i64, case: &Case) -> Value {
    json!({
        "source_data_store_ids": [store], "target_data_store_id": target,
        "sources": [
            {"data_store_id": store, "table": "orders", "as": "orders"},
            {"data_store_id": store, "table": "customers", "as": "customers"}
        ],
        "transforms": [{"name": "result", "sql": case.sql}],
        "outputs": [{"transform": "result", "mode": "replace"}]
    })
}

/// Runs `case` on `server` and returns its rows (as text, in order when the transform orders
/// them, else sorted), its columns' types, and the flow's `/v2` view.
async fn run(server: &TestServer, store: i64, case: &Case) -> (Vec<String>, Vec<String>, Value) {
    let file = format!("{}.parquet", case.name);
    let target = server
        .data_store(json!({"name": format!("out_{}", case.name), "type": "file",
            "connection": {"path": file, "format": "parquet"}}))
        .await;
    let end = server.run_flow(flow_input(store, target, case)).await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{}: {end}", case.name);
    let (_, view) = server.get(&format!("/v2/flows/{}", end["id"])).await;
    let batches = parquet_rows(&server.data.join(&file), "SELECT * FROM t").await;
    let (mut rows, types) = rows_and_types(&batches);
    if !case.sql.contains("ORDER BY") || case.sql.contains("OVER") {
        rows.sort();
    }
    (rows, types, view)
}

/// Where each step of the flow ran, by step name.
fn places(view: &Value) -> Vec<(String, String)> {
    view["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["ran_in"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect()
}

async fn differential(store: Value, engine: &str, pushed_down: fn(&Case) -> bool) {
    let pushing = TestServer::start(Options::default()).await;
    let pulling = TestServer::start(Options {
        env: vec![("SLUICE__ENGINE__PUSH_DOWN", "false".into())],
        ..Options::default()
    })
    .await;
    let on_pushing = pushing.data_store(store.clone()).await;
    let on_pulling = pulling.data_store(store).await;
    let down = format!("pushed down to {engine} store \"warehouse\"");
    let mut failures = Vec::new();
    for case in CORPUS {
        let (rows, types, view) = run(&pushing, on_pushing, case).await;
        let (expected_rows, expected_types, pulled_view) = run(&pulling, on_pulling, case).await;
        assert!(
            !expected_rows.is_empty(),
            "{}: no rows to compare",
            case.name
        );
        if types != expected_types {
            failures.push(format!(
                "{}: columns {types:?}, in Sluice {expected_types:?}",
                case.name
            ));
        }
        if rows != expected_rows {
            let only = |a: &[String], b: &[String]| -> Vec<String> {
                a.iter()
                    .filter(|r| !b.contains(r))
                    .take(5)
                    .cloned()
                    .collect()
            };
            failures.push(format!(
                "{}: rows differ\npushed down only: {:#?}\nin Sluice only: {:#?}",
                case.name,
                only(&rows, &expected_rows),
                only(&expected_rows, &rows)
            ));
        }
        let ran = places(&view);
        let transform = &ran.iter().find(|(name, _)| name == "result").unwrap().1;
        let expected = if pushed_down(case) {
            down.as_str()
        } else {
            "in Sluice"
        };
        if transform != expected {
            let (_, log) = pushing
                .get(&format!("/v2/flows/{}/logs?limit=100", view["id"]))
                .await;
            let notes: Vec<&Value> = (log["items"].as_array().unwrap().iter())
                .filter(|l| l["line"].as_str().unwrap().contains("step transform"))
                .collect();
            failures.push(format!(
                "{}: ran {transform}, expected {expected}: {notes:#?}",
                case.name
            ));
            continue;
        }
        // A source only pushed-down transforms read never reaches Sluice: no rows of its own.
        for step in view["steps"].as_array().unwrap() {
            let read = case.sql.contains(step["name"].as_str().unwrap());
            if step["kind"] == "ingest" && read && pushed_down(case) {
                assert_eq!(step["ran_in"], down.as_str(), "{}: {view}", case.name);
                assert_eq!(step["rows"], Value::Null, "{}: {view}", case.name);
            }
        }
        for (name, place) in places(&pulled_view) {
            assert_eq!(
                place, "in Sluice",
                "{}: {name} with push-down off",
                case.name
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test]
async fn transforms_pushed_down_to_postgresql_give_what_sluice_gives() {
    let (_database, name) = postgres_database(&postgres_tables()).await;
    differential(postgres_store("warehouse", &name, 5432), "postgres", |c| {
        c.postgres
    })
    .await;
}

#[tokio::test]
async fn transforms_pushed_down_to_mariadb_give_what_sluice_gives() {
    let database = MysqlDatabase::create(&mysql_tables()).await;
    differential(database.store("warehouse"), "mysql", |c| c.mysql).await;
}

#[tokio::test]
async fn a_pushed_down_transform_says_so_in_the_log_and_reads_only_its_result() {
    let (_database, name) = postgres_database(&postgres_tables()).await;
    let server = TestServer::start(Options::default()).await;
    let store = server
        .data_store(postgres_store("warehouse", &name, 5432))
        .await;
    let case = CORPUS
        .iter()
        .find(|c| c.name == "filtered_aggregate")
        .unwrap();
    let (rows, _, view) = run(&server, store, case).await;
    let (status, lines) = server
        .get(&format!("/v2/flows/{}/logs?limit=100", view["id"]))
        .await;
    assert_eq!(status, 200, "{lines}");
    let log: Vec<&str> = (lines["items"].as_array().unwrap().iter())
        .map(|l| l["line"].as_str().unwrap())
        .collect();
    let sent = log
        .iter()
        .find(|l| l.contains("step transform 'result': the database runs: SELECT"))
        .unwrap_or_else(|| panic!("{log:#?}"));
    assert!(sent.contains("\"orders\""), "{sent}");
    assert!(log.iter().any(|l| l.contains(
        "step ingest 'orders' pushed down to postgres store \"warehouse\""
    )), "{log:#?}");
    let result = view["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "result")
        .unwrap();
    assert_eq!(result["rows"], rows.len(), "{view}");
}

/// Where a cancel test's long query runs, and how to see it running.
enum Running<'a> {
    Postgres(&'a crate::support::StateDatabase, &'a str),
    Mysql(&'a MysqlDatabase),
}

impl Running<'_> {
    /// How many queries run on the database for Sluice, other than the one asking.
    async fn queries(&self) -> i64 {
        let rows = match self {
            Self::Postgres(database, name) => {
                crate::databases::postgres_rows(
                    database,
                    &format!(
                        "SELECT count(*)::text FROM pg_stat_activity WHERE datname = '{name}' \
                         AND application_name = 'sluice' AND state = 'active' \
                         AND pid <> pg_backend_pid()"
                    ),
                )
                .await
            }
            Self::Mysql(database) => {
                database
                    .rows(&format!(
                        "SELECT CAST(count(*) AS CHAR) FROM information_schema.processlist \
                         WHERE db = '{}' AND command = 'Query' AND id <> CONNECTION_ID()",
                        database.name
                    ))
                    .await
            }
        };
        rows[0][0].as_deref().unwrap().parse().unwrap()
    }
}

/// Starts a flow whose transform makes `store`'s database compare 800 million pairs one by one
/// (minutes of work, and not one row sent before it is done), cancels it once the query runs,
/// and requires the query gone from the database within 2 s.
async fn cancel_stops_the_query(store: Value, running: Running<'_>) {
    let server = TestServer::start(Options::default()).await;
    let store = server.data_store(store).await;
    let target = server
        .data_store(json!({"name": "out", "type": "file",
            "connection": {"path": "pairs.parquet", "format": "parquet"}}))
        .await;
    let input = server
        .flow_input(json!({
            "source_data_store_ids": [store], "target_data_store_id": target,
            "sources": [{"data_store_id": store, "table": "big", "as": "big"}],
            "transforms": [{"name": "pairs", "sql":
                "SELECT count(*) AS n FROM big a JOIN big b ON a.id < b.id WHERE a.id % 7 = b.id % 5"}],
            "outputs": [{"transform": "pairs", "mode": "replace"}]
        }))
        .await;
    let flow = server.start_flow(input).await;
    let seconds = std::time::Duration::from_secs;
    server
        .wait_for_step(flow, ("transform", "pairs"), "RUNNING", seconds(30))
        .await;
    let started = std::time::Instant::now();
    while running.queries().await == 0 {
        assert!(started.elapsed() < seconds(10), "the query never ran");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let asked = std::time::Instant::now();
    let (status, _) = server
        .post(&format!("/v1/flows/{flow}/cancel"), &json!({}))
        .await;
    assert_eq!(status, 202);
    server.wait_for_state(flow, "CANCELLED", seconds(10)).await;
    while running.queries().await > 0 {
        assert!(
            asked.elapsed() < seconds(2),
            "the database still runs the query 2 s after the cancel"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_cancel_stops_the_pushed_down_query_in_postgresql() {
    let (database, name) = postgres_database(
        "CREATE TABLE big AS SELECT i AS id FROM generate_series(1, 40000) AS t(i); ANALYZE big;",
    )
    .await;
    let store = postgres_store("warehouse", &name, 5432);
    cancel_stops_the_query(store, Running::Postgres(&database, &name)).await;
}

#[tokio::test]
async fn a_cancel_stops_the_pushed_down_query_in_mariadb() {
    let database = MysqlDatabase::create(
        "CREATE TABLE big (id INT); INSERT INTO big SELECT seq FROM seq_1_to_40000",
    )
    .await;
    cancel_stops_the_query(database.store("warehouse"), Running::Mysql(&database)).await;
}
