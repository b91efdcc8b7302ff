//! Sluice's state database: the domain's repositories on sea-orm, over SQLite (the embedded
//! default) or PostgreSQL (production). One adapter for both; the same contract tests run on each.

mod api_keys;
mod connection_json;
mod data_stores;
mod entity;
mod error;
mod flow_inputs;
mod flow_lines;
mod flow_outputs;
mod flow_steps;
mod flows;
mod idempotency;
mod lease_clock;
mod sealed;

use sea_orm::sqlx::sqlite::SqliteSynchronous;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};
use sluice_migration::{Migrator, MigratorTrait};
use std::time::Duration;

pub use error::map_db_err;
pub use sealed::{KEY_LEN, Keyring};

/// The size in bytes a SQLite state database's write-ahead log is cut back to (16 MB).
const WAL_SIZE_LIMIT: &str = "16777216";

/// The state database. Cheap to clone: it shares one connection pool.
#[derive(Clone)]
pub struct StateDatabase {
    db: DatabaseConnection,
    /// Seals data store passwords at rest; without one (tests of other things) they are kept
    /// as given.
    keyring: Option<std::sync::Arc<Keyring>>,
}

impl std::fmt::Debug for StateDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateDatabase")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl StateDatabase {
    /// Connects to `url` (`sqlite:…` or `postgres://…`) and applies pending migrations.
    ///
    /// # Errors
    /// `Unavailable` when the database cannot be reached; `Internal` when a migration fails.
    pub async fn connect(url: &str) -> sluice_domain::Result<Self> {
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .max_connections(16)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(10))
            .sqlx_logging(false)
            // Per connection, so set on every one the pool opens: after a checkpoint the
            // write-ahead log is cut back to this size rather than kept at its largest. In WAL
            // mode NORMAL syncs at checkpoints, not at every commit (SQLite's advice): commits
            // stop queueing behind each other's disk flushes, and a crashed process loses none.
            .map_sqlx_sqlite_opts(|sqlite| {
                sqlite
                    .pragma("journal_size_limit", WAL_SIZE_LIMIT)
                    .synchronous(SqliteSynchronous::Normal)
            });
        let db = Database::connect(options.clone())
            .await
            .map_err(map_db_err)?;
        if db.get_database_backend() == DbBackend::Sqlite {
            // Readers then never wait for the runner's writes.
            db.execute_unprepared("PRAGMA journal_mode = WAL")
                .await
                .map_err(map_db_err)?;
            db.execute_unprepared("PRAGMA foreign_keys = ON")
                .await
                .map_err(map_db_err)?;
        }
        Migrator::up(&db, None).await.map_err(|err| {
            sluice_domain::Error::Internal(format!("migrating the state database failed: {err}"))
        })?;
        // Served by connections opened after the migrations only. One opened before may keep
        // the old schema: SQLite reads it again when a statement runs, but the driver keeps the
        // columns it saw when the statement was prepared, so a row came back without a column
        // a migration had just added ("Missing value for column").
        db.close().await.map_err(map_db_err)?;
        let db = Database::connect(options).await.map_err(map_db_err)?;
        Ok(Self { db, keyring: None })
    }

    /// Seals the passwords this store writes with `keyring`, and opens them with it.
    #[must_use]
    pub fn with_keyring(mut self, keyring: Keyring) -> Self {
        self.keyring = Some(std::sync::Arc::new(keyring));
        self
    }

    /// Copies a SQLite state database's write-ahead log into the database and empties it. SQLite
    /// does so on its own only when no reader holds the log, which under steady load is never,
    /// so the log would grow for as long as the process runs. Nothing to do on PostgreSQL.
    ///
    /// # Errors
    /// `Unavailable` when the database does not answer.
    pub async fn checkpoint(&self) -> sluice_domain::Result<()> {
        if self.db.get_database_backend() == DbBackend::Sqlite {
            // TRUNCATE waits (up to the busy timeout) for readers to move past the log's end,
            // then empties the file.
            self.db
                .execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
                .await
                .map_err(map_db_err)?;
        }
        Ok(())
    }

    /// The connections the pool holds now, and how many of them are idle.
    pub fn connections(&self) -> (u32, usize) {
        match self.db.get_database_backend() {
            DbBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle())
            }
            DbBackend::Sqlite => {
                let pool = self.db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle())
            }
            _ => (0, 0),
        }
    }
}

#[async_trait::async_trait]
impl sluice_domain::ports::Readiness for StateDatabase {
    async fn check(&self) -> sluice_domain::Result<()> {
        self.db.ping().await.map_err(|err| {
            sluice_domain::Error::Unavailable(format!("the state database does not answer: {err}"))
        })
    }
}

/// The direction of a keyset page's id order.
pub(crate) fn id_order(page: sluice_domain::page::Page) -> sea_orm::Order {
    if page.descending() {
        sea_orm::Order::Desc
    } else {
        sea_orm::Order::Asc
    }
}
