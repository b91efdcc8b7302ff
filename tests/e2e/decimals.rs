//! Money columns a user can add: PostgreSQL `numeric` and MySQL `DECIMAL` arrive as exact Arrow
//! decimals, so `SUM`, `AVG` and comparisons run without a cast and give the database's own
//! answers; a value a decimal cannot hold fails the flow naming the column.

use serde_json::json;

use crate::databases::{MysqlDatabase, postgres_database, postgres_rows, postgres_store};
use crate::support::{Options, TestServer, one_source_flow};

const ORDERS: &str = r#"CREATE TABLE orders (
    customer_id integer, amount numeric(10, 2), big numeric(40, 10), loose numeric);
INSERT INTO orders VALUES
    (1, 10.50, 123456789012345678901234567890.1234567890, 1.5),
    (1, 20.25, 1.0000000001, 0.000000001),
    (1, -5.00, -2.5, -100),
    (2, 99999999.99, 99999999999999999999999999999.9999999999, 12345678901234567890.123456789),
    (2, 0.01, 0.0000000001, NULL),
    (3, NULL, NULL, NULL),
    (3, 7.75, 7, 7);"#;

/// What every test asks: sums, averages and a comparison on each decimal column.
const PER_CUSTOMER: &str = "SELECT customer_id, SUM(amount) AS total, AVG(amount) AS mean, \
     SUM(big) AS big_total, AVG(big) AS big_mean, SUM(loose) AS loose_total, \
     AVG(loose) AS loose_mean, COUNT(*) FILTER (WHERE amount > 10.00) AS over_ten \
     FROM orders GROUP BY customer_id";

#[tokio::test]
async fn sums_averages_and_comparisons_on_postgresql_numerics_match_postgresql() {
    let (database, name) = postgres_database(ORDERS).await;
    let server = TestServer::start(Options::default()).await;
    let store = server.data_store(postgres_store("shop", &name, 5432)).await;
    let sql = PER_CUSTOMER.replace("FROM orders", "FROM src");
    let end = server
        .run_flow(one_source_flow(
            store,
            json!({"table": "orders"}),
            store,
            json!([{"name": "per_customer", "sql": sql}]),
            json!([{"transform": "per_customer", "table": "per_customer", "mode": "replace"}]),
        ))
        .await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");

    // Compared by value in PostgreSQL: its answer to the same SQL beside Sluice's. Averages are
    // compared at the scale the coarser of the two keeps (PostgreSQL chooses a quotient's scale
    // by its own rule; DataFusion's is the column's plus four).
    let differences = postgres_rows(
        &database,
        &format!(
            "SELECT customer_id::text FROM ({PER_CUSTOMER}) AS expected \
             FULL JOIN per_customer AS got USING (customer_id) \
             WHERE got.total IS DISTINCT FROM expected.total \
                OR got.mean IS DISTINCT FROM round(expected.mean, 6) \
                OR got.big_total IS DISTINCT FROM expected.big_total \
                OR round(got.big_mean, 10) IS DISTINCT FROM expected.big_mean \
                OR got.loose_total IS DISTINCT FROM expected.loose_total \
                OR got.loose_mean IS DISTINCT FROM round(expected.loose_mean, 13) \
                OR got.over_ten IS DISTINCT FROM expected.over_ten"
        ),
    )
    .await;
    assert_eq!(differences, Vec::<Vec<Option<String>>>::new());
    let written = postgres_rows(
        &database,
        "SELECT customer_id::text, total::text, big_total::text, loose_total::text \
         FROM per_customer ORDER BY customer_id",
    )
    .await;
    assert_eq!(
        written[1],
        [
            Some("2".to_owned()),
            Some("100000000.00".to_owned()),
            Some("100000000000000000000000000000.0000000000".to_owned()),
            Some("12345678901234567890.123456789".to_owned()),
        ],
        "exact to the last digit"
    );
}

#[tokio::test]
async fn a_numeric_round_trip_through_parquet_keeps_its_precision_and_scale() {
    let (database, name) = postgres_database(ORDERS).await;
    let server = TestServer::start(Options::default()).await;
    let shop = server.data_store(postgres_store("shop", &name, 5432)).await;
    let lake = server
        .data_store(json!({"name": "lake", "type": "columnar_db", "connection": {"path": "lake"}}))
        .await;
    let copy = |source, target, read| {
        one_source_flow(
            source,
            read,
            target,
            json!([{"name": "copied", "sql": "SELECT * FROM src"}]),
            json!([{"transform": "copied", "table": "orders_copy", "mode": "replace"}]),
        )
    };
    let out = server
        .run_flow(copy(shop, lake, json!({"table": "orders"})))
        .await;
    assert_eq!(out["output"]["state"], "COMPLETED", "{out}");
    let back = server
        .run_flow(copy(lake, shop, json!({"table": "orders_copy"})))
        .await;
    assert_eq!(back["output"]["state"], "COMPLETED", "{back}");

    let types = postgres_rows(
        &database,
        "SELECT column_name::text, format_type(atttypid, atttypmod) \
         FROM information_schema.columns JOIN pg_attribute \
           ON attrelid = 'orders_copy'::regclass AND attname = column_name \
         WHERE table_name = 'orders_copy' ORDER BY ordinal_position",
    )
    .await;
    let types: Vec<String> = types
        .iter()
        .map(|r| format!("{} {}", r[0].as_deref().unwrap(), r[1].as_deref().unwrap()))
        .collect();
    assert_eq!(
        types,
        [
            "customer_id integer",
            "amount numeric(10,2)",
            "big numeric(40,10)",
            "loose numeric"
        ]
    );
    let differences = postgres_rows(
        &database,
        "SELECT count(*)::text FROM (SELECT * FROM orders EXCEPT ALL SELECT * FROM orders_copy) AS d",
    )
    .await;
    assert_eq!(differences, [[Some("0".to_owned())]]);
}

#[tokio::test]
async fn a_numeric_a_decimal_cannot_hold_fails_the_flow_naming_the_column() {
    let (_database, name) = postgres_database("").await;
    let server = TestServer::start(Options::default()).await;
    let store = server.data_store(postgres_store("shop", &name, 5432)).await;
    let end = server
        .run_flow(one_source_flow(
            store,
            // A computed numeric has no declared scale: nine digits after the point are kept,
            // and a third has more.
            json!({"query": "SELECT 1::numeric / 3 AS third"}),
            store,
            json!([{"name": "copied", "sql": "SELECT * FROM src"}]),
            json!([{"transform": "copied", "table": "thirds", "mode": "replace"}]),
        ))
        .await;
    assert_eq!(end["output"]["state"], "FAILED", "{end}");
    let error = end["output"]["errors"].to_string();
    assert!(
        error.contains("column 'third'") && error.contains("more than 9 digits after the point"),
        "{end}"
    );
    assert!(
        !error.contains("0.3333"),
        "the value stays out of the error: {end}"
    );
}

#[tokio::test]
async fn sums_averages_and_comparisons_on_mysql_decimals_match_mariadb() {
    let database = MysqlDatabase::create(
        "CREATE TABLE orders (customer_id INT, amount DECIMAL(12, 3), wide DECIMAL(50, 5));
         INSERT INTO orders VALUES (1, 10.500, 1234567890123456789012345678901234567890.12345),
             (1, 20.255, 1.5), (1, -5.000, -2), (2, 999999999.999, 0.00001), (2, 0.001, NULL),
             (3, NULL, NULL), (3, 7.750, 7);",
    )
    .await;
    let server = TestServer::start(Options::default()).await;
    let store = server.data_store(database.store("shop")).await;
    let per_customer = "SELECT customer_id, SUM(amount) AS total, AVG(amount) AS mean, \
         SUM(wide) AS wide_total, SUM(CASE WHEN amount > 10.000 THEN 1 ELSE 0 END) AS over_ten \
         FROM orders GROUP BY customer_id";
    let end = server
        .run_flow(one_source_flow(
            store,
            json!({"table": "orders"}),
            store,
            json!([{"name": "per_customer", "sql": per_customer.replace("FROM orders", "FROM src")}]),
            json!([{"transform": "per_customer", "table": "per_customer", "mode": "replace"}]),
        ))
        .await;
    assert_eq!(end["output"]["state"], "COMPLETED", "{end}");

    let differences = database
        .rows(&format!(
            "SELECT CAST(e.customer_id AS CHAR) FROM ({per_customer}) AS e \
             LEFT JOIN per_customer AS g ON g.customer_id = e.customer_id \
             WHERE NOT (g.total <=> e.total) OR NOT (g.mean <=> ROUND(e.mean, 7)) \
                OR NOT (g.wide_total <=> e.wide_total) OR NOT (g.over_ten <=> e.over_ten)"
        ))
        .await;
    assert_eq!(differences, Vec::<Vec<Option<String>>>::new());
    let written = database
        .rows("SELECT CAST(total AS CHAR), CAST(wide_total AS CHAR) FROM per_customer ORDER BY customer_id")
        .await;
    assert_eq!(
        written[0],
        [
            Some("25.755".to_owned()),
            Some("1234567890123456789012345678901234567889.62345".to_owned())
        ]
    );
}
