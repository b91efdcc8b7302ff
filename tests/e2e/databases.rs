//! Real databases the connector tests read from and write to: a fresh PostgreSQL or MariaDB
//! database per test on the machine's servers, dropped afterwards.

use sea_orm::sqlx::mysql::MySqlConnection;
use sea_orm::sqlx::postgres::PgConnection;
use sea_orm::sqlx::{AssertSqlSafe, Connection, Row};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

use crate::support::StateDatabase;

/// A fresh PostgreSQL database (dropped with the returned guard) holding `sql`'s tables, and its
/// name.
pub async fn postgres_database(sql: &str) -> (StateDatabase, String) {
    let database = StateDatabase::postgres().await;
    if !sql.is_empty() {
        let db = Database::connect(&database.url).await.unwrap();
        db.execute_unprepared(sql).await.unwrap();
        db.close().await.unwrap();
    }
    let name = database.url.rsplit('/').next().unwrap().to_owned();
    (database, name)
}

/// A `relational_db` store for `database` on the machine's PostgreSQL, as user postgres.
pub fn postgres_store(name: &str, database: &str, port: u16) -> Value {
    json!({"name": name, "type": "relational_db", "connection": {
        "engine": "postgres", "host": "127.0.0.1", "port": port, "user": "postgres", "database": database
    }})
}

/// The rows of `sql` on `database`, each value as text (`None` for NULL): the query casts
/// whatever it selects to text.
pub async fn postgres_rows(database: &StateDatabase, sql: &str) -> Vec<Vec<Option<String>>> {
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    let rows = sea_orm::sqlx::query(AssertSqlSafe(sql.to_owned()))
        .fetch_all(&mut connection)
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
    rows.iter()
        .map(|row| {
            (0..row.len())
                .map(|i| row.try_get::<Option<String>, _>(i).unwrap())
                .collect()
        })
        .collect()
}

/// The table of every PostgreSQL type Sluice maps, with one row of values (non-ASCII text among
/// them) and one row of NULLs.
pub const EVERY_TYPE: &str = r#"CREATE TABLE every_type (
    id integer, flag boolean, small smallint, big bigint, ratio real, amount double precision,
    price numeric(12,3), name text, code varchar(10), letter char(2), doc json, docb jsonb,
    key uuid, raw bytea, day date, at timestamp, at_tz timestamptz);
INSERT INTO every_type VALUES
    (1, true, -2, 9007199254740993, 1.5, 2.25, -1234.567, 'Ελλάδα – ünïcode', 'ab', 'x',
     '{"a": [1, 2]}', '{"b": 2}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\x00ff',
     '2026-11-24', '2026-11-24 12:34:56.789', '2026-11-24 12:34:56.789+02'),
    (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL);"#;

/// A column of each type Sluice reads beyond the plain ones: arrays as lists, `time`, `interval`,
/// and types Arrow has no match for, which arrive as PostgreSQL's text form of them.
pub const OTHER_TYPES: &str = r#"CREATE EXTENSION IF NOT EXISTS citext;
CREATE TYPE mood AS ENUM ('sad', 'happy');
CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
CREATE TABLE other_types (
    id integer, counts integer[], tags text[], prices numeric(10, 2)[], at time,
    took interval, feeling mood, amount positive, name citext, address inet, network cidr,
    device macaddr, cash money, spot point, zoned timetz, bits bit(4));
INSERT INTO other_types VALUES
    (1, '{1,NULL,3}', '{"a b",ü}', '{1.50,-2.25}', '12:34:56.789', '1 mon 2 days 00:00:03.5',
     'happy', 7, 'MiXeD', '192.168.0.1', '10.0.0.0/8', '08:00:2b:01:02:03', 12.34,
     '(1,2)', '12:00:00+02', B'1010'),
    (2, '{}', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);"#;

/// A fresh database on the machine's MySQL/MariaDB (`SLUICE_TEST_MYSQL_URL`, by default
/// root without a password on 127.0.0.1:3306), dropped when this is.
pub struct MysqlDatabase {
    pub name: String,
    database: sluice_test_support::MysqlDatabase,
}

impl MysqlDatabase {
    pub async fn create(sql: &str) -> Self {
        let database = sluice_test_support::MysqlDatabase::create().await;
        let database = Self {
            name: database.name.clone(),
            database,
        };
        if !sql.is_empty() {
            let mut connection = database.connect().await;
            sea_orm::sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                .execute(&mut connection)
                .await
                .unwrap_or_else(|err| panic!("{sql}: {err}"));
        }
        database
    }

    async fn connect(&self) -> MySqlConnection {
        let mut connection = MySqlConnection::connect(&self.database.url())
            .await
            .unwrap();
        sea_orm::sqlx::raw_sql("SET time_zone = '+00:00'")
            .execute(&mut connection)
            .await
            .unwrap();
        connection
    }

    /// A `relational_db` store for this database, as the test server's root user.
    pub fn store(&self, name: &str) -> Value {
        let url = self.database.server.trim_start_matches("mysql://");
        let (user, address) = url.split_once('@').unwrap();
        let (host, port) = address.split_once(':').unwrap();
        json!({"name": name, "type": "relational_db", "connection": {
            "engine": "mysql", "host": host, "port": port.parse::<u16>().unwrap(), "user": user,
            "database": self.name
        }})
    }

    /// The rows of `sql`, each value as text (`None` for NULL): the query casts what it selects
    /// to CHAR.
    pub async fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let mut connection = self.connect().await;
        let rows = sea_orm::sqlx::query(AssertSqlSafe(sql.to_owned()))
            .fetch_all(&mut connection)
            .await
            .unwrap_or_else(|err| panic!("{sql}: {err}"));
        rows.iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| row.try_get_unchecked::<Option<String>, _>(i).unwrap())
                    .collect()
            })
            .collect()
    }

    /// The names of the database's tables, in order.
    pub async fn tables(&self) -> Vec<String> {
        self.rows("SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY 1")
            .await
            .into_iter()
            .map(|r| r[0].clone().unwrap())
            .collect()
    }
}

/// The table of every MySQL/MariaDB type Sluice maps, with one row of values (non-ASCII text
/// among them) and one row of NULLs.
pub const EVERY_MYSQL_TYPE: &str = r#"CREATE TABLE every_type (
    id INT, flag BOOLEAN, tiny TINYINT, small SMALLINT, medium MEDIUMINT, big BIGINT,
    ubig BIGINT UNSIGNED, utiny TINYINT UNSIGNED, ratio FLOAT, amount DOUBLE,
    price DECIMAL(12,3), name VARCHAR(100), letter CHAR(2), body TEXT, doc JSON,
    kind ENUM('a', 'b'), raw VARBINARY(10), blob_value BLOB, day DATE, at DATETIME(6),
    at_ts TIMESTAMP(6) NULL) CHARACTER SET utf8mb4;
INSERT INTO every_type VALUES
    (1, true, -2, -300, 70000, 9007199254740993, 18446744073709551615, 255, 1.5, 2.25,
     -1234.567, 'Ελλάδα – ünïcode', 'x', 'long text', '{"a": [1, 2]}', 'b', X'00FF', X'0102',
     '2026-11-24', '2026-11-24 12:34:56.789', '2026-11-24 10:34:56.789'),
    (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL);"#;
