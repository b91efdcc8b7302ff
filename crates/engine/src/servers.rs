//! Connections to database servers (PostgreSQL, MySQL/MariaDB), shared by their sources and
//! targets, and the way their failures are said: what, where, never the password.

use sea_orm::sqlx::ConnectOptions;
use sea_orm::sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
use secrecy::ExposeSecret;
use sluice_domain::data_store::{ServerConnection, ServerEngine};
use std::sync::OnceLock;
use std::time::Duration;

use crate::{Error, Result};

/// How long a connection attempt may take before the flow fails saying the server did not answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What tells one PostgreSQL database apart from every other, whatever host name or address
/// reaches it: when its server started, and the database's oid on it. Any role may read both.
const IDENTITY_SQL: &str = "SELECT pg_postmaster_start_time()::text, oid::text \
     FROM pg_database WHERE datname = current_database()";

/// The state database's identity, when it is on PostgreSQL: one per process.
static STATE_DATABASE: OnceLock<(String, String)> = OnceLock::new();

/// Refuses, from now on, every store connection that reaches the PostgreSQL state database at
/// `url` (by any spelling of its host), so that no flow can read the stored passwords or write
/// Sluice's own tables.
///
/// # Errors
/// `Database` when the state database cannot be reached.
pub async fn protect_state_database(url: &str) -> Result<()> {
    let failed = |err: sea_orm::sqlx::Error| {
        Error::Database(format!("reading the state database's identity: {err}"))
    };
    let options: PgConnectOptions = url.parse().map_err(failed)?;
    let mut connection = options.connect().await.map_err(failed)?;
    let identity: (String, String) = sea_orm::sqlx::query_as(IDENTITY_SQL)
        .fetch_one(&mut connection)
        .await
        .map_err(failed)?;
    let _ = STATE_DATABASE.set(identity);
    Ok(())
}

#[derive(Clone)]
pub struct Server {
    server: ServerConnection,
}

impl Server {
    pub fn new(server: ServerConnection) -> Self {
        Self { server }
    }

    /// Where the database is, for error lines: never the password.
    pub fn place(&self) -> String {
        let s = &self.server;
        let engine = match s.engine {
            ServerEngine::Postgres => "PostgreSQL",
            ServerEngine::Mysql => "MySQL",
        };
        format!("{engine} {}@{}:{}/{}", s.user, s.host, s.port, s.database)
    }

    /// An error saying what failed where, e.g. `reading from PostgreSQL u@h:5432/db: …`.
    pub fn failed(&self, what: &str, err: impl std::fmt::Display) -> Error {
        Error::Database(format!("{what} {}: {err}", self.place()))
    }

    /// Refuses to connect without the store's password when it is stored but does not open.
    fn password_opens(&self) -> Result<()> {
        match &self.server.password_unreadable {
            Some(reason) => Err(self.failed(
                "connecting to",
                format!(
                    "the data store's stored password cannot be opened: {reason}; give that \
                     key, or set the password again"
                ),
            )),
            None => Ok(()),
        }
    }

    pub async fn postgres(&self) -> Result<PgConnection> {
        self.password_opens()?;
        let s = &self.server;
        let mut options = PgConnectOptions::new()
            .host(&s.host)
            .port(s.port)
            .username(&s.user)
            .database(&s.database)
            .application_name("sluice");
        if let Some(password) = &s.password {
            options = options.password(password.expose_secret());
        }
        let mut connection = self.connect(options).await?;
        if let Some(state) = STATE_DATABASE.get() {
            let identity: (String, String) = sea_orm::sqlx::query_as(IDENTITY_SQL)
                .fetch_one(&mut connection)
                .await
                .map_err(|err| self.failed("reading from", err))?;
            if &identity == state {
                return Err(Error::Location(format!(
                    "{} is Sluice's own state database, which no data store may use",
                    self.place()
                )));
            }
        }
        Ok(connection)
    }

    /// A MySQL or MariaDB session in UTC, so TIMESTAMP values read and written are UTC instants.
    pub async fn mysql(&self) -> Result<MySqlConnection> {
        self.password_opens()?;
        let s = &self.server;
        let mut options = MySqlConnectOptions::new()
            .host(&s.host)
            .port(s.port)
            .username(&s.user)
            .database(&s.database)
            .charset("utf8mb4")
            .timezone(Some("+00:00".to_owned()));
        if let Some(password) = &s.password {
            options = options.password(password.expose_secret());
        }
        self.connect(options).await
    }

    async fn connect<O>(&self, options: O) -> Result<O::Connection>
    where
        O: ConnectOptions,
        O::Connection: Sized,
    {
        tokio::time::timeout(CONNECT_TIMEOUT, options.connect())
            .await
            .map_err(|_| {
                self.failed(
                    "connecting to",
                    format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
                )
            })?
            .map_err(|err| self.failed("connecting to", err))
    }
}
