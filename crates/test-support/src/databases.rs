//! Fresh databases on the machine's PostgreSQL and MySQL/MariaDB servers, one per test, dropped
//! when the test lets go of them. The servers are found at `SLUICE_TEST_POSTGRES_URL` and
//! `SLUICE_TEST_MYSQL_URL`; a test that cannot reach one says which and how to point elsewhere.

use sea_orm::sqlx::mysql::MySqlConnection;
use sea_orm::sqlx::postgres::PgConnection;
use sea_orm::sqlx::{AssertSqlSafe, Connection};

/// Where the PostgreSQL server is, without a database.
pub fn postgres_server() -> String {
    std::env::var("SLUICE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Where the MySQL or MariaDB server is, without a database.
pub fn mysql_server() -> String {
    std::env::var("SLUICE_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// A connection to the PostgreSQL server's `postgres` database, for creating and dropping others.
///
/// # Panics
/// When the server cannot be reached, saying where it was looked for.
pub async fn postgres_admin() -> PgConnection {
    let server = postgres_server();
    PgConnection::connect(&format!("{server}/postgres"))
        .await
        .unwrap_or_else(|err| {
            panic!(
                "this test needs PostgreSQL at {server} (set SLUICE_TEST_POSTGRES_URL to point \
                 elsewhere): {err}"
            )
        })
}

/// A fresh PostgreSQL database, dropped (its sessions ended) with this.
pub struct PostgresDatabase {
    /// The database's URL.
    pub url: String,
    pub name: String,
}

impl PostgresDatabase {
    /// # Panics
    /// When the server cannot be reached or refuses.
    pub async fn create() -> Self {
        let name = format!("sluice_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = postgres_admin().await;
        sea_orm::sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .unwrap();
        Self {
            url: format!("{}/{name}", postgres_server()),
            name,
        }
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        finish_on_a_thread(async move {
            if let Ok(mut admin) =
                PgConnection::connect(&format!("{}/postgres", postgres_server())).await
            {
                let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                let _ = sea_orm::sqlx::raw_sql(AssertSqlSafe(drop))
                    .execute(&mut admin)
                    .await;
            }
        });
    }
}

/// A fresh MySQL or MariaDB database (utf8mb4), dropped with this.
pub struct MysqlDatabase {
    pub name: String,
    /// The server's URL, without the database.
    pub server: String,
}

impl MysqlDatabase {
    /// # Panics
    /// When the server cannot be reached or refuses.
    pub async fn create() -> Self {
        let server = mysql_server();
        let name = format!("sluice_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = MySqlConnection::connect(&server)
            .await
            .unwrap_or_else(|err| {
                panic!(
                    "this test needs MySQL or MariaDB at {server} (set SLUICE_TEST_MYSQL_URL to \
                 point elsewhere): {err}"
                )
            });
        let create = format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4");
        sea_orm::sqlx::raw_sql(AssertSqlSafe(create))
            .execute(&mut admin)
            .await
            .unwrap();
        Self { name, server }
    }

    /// The database's URL.
    pub fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }
}

impl Drop for MysqlDatabase {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        finish_on_a_thread(async move {
            if let Ok(mut admin) = MySqlConnection::connect(&server).await {
                let drop = format!("DROP DATABASE IF EXISTS `{name}`");
                let _ = sea_orm::sqlx::raw_sql(AssertSqlSafe(drop))
                    .execute(&mut admin)
                    .await;
            }
        });
    }
}

/// Runs `work` to its end on a thread and runtime of its own: for best-effort clean-up in a
/// `Drop`, which cannot await and may run inside the test's runtime.
pub fn finish_on_a_thread(work: impl std::future::Future<Output = ()> + Send + 'static) {
    let _ = std::thread::spawn(move || {
        if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            runtime.block_on(work);
        }
    })
    .join();
}
