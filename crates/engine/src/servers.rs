//! Connections to database servers (PostgreSQL, MySQL/MariaDB), shared by their sources and
//! targets, and the way their failures are said: what, where, never the password.

use sea_orm::sqlx::ConnectOptions;
use sea_orm::sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
use secrecy::ExposeSecret;
use sluice_domain::data_store::{ServerConnection, ServerEngine};
use std::time::Duration;

use crate::{Error, Result};

/// How long a connection attempt may take before the flow fails saying the server did not answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

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

    pub async fn postgres(&self) -> Result<PgConnection> {
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
        self.connect(options).await
    }

    /// A MySQL or MariaDB session in UTC, so TIMESTAMP values read and written are UTC instants.
    pub async fn mysql(&self) -> Result<MySqlConnection> {
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
