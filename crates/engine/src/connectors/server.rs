//! Connections to database servers (PostgreSQL, MySQL/MariaDB), shared by their sources and
//! targets, and the way their failures are said: what, where, never the password.

use sea_orm::sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
use sea_orm::sqlx::{AssertSqlSafe, ConnectOptions};
use secrecy::ExposeSecret;
use sluice_domain::data_store::{ServerConnection, ServerKind};
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

/// What went wrong, as a flow's error line says it: a database's own message, without what its
/// driver adds for programmers (sqlx's `error returned from database:`, and PostgreSQL's source
/// line, `… at line 3655`).
pub struct Said(String);

impl From<sea_orm::sqlx::Error> for Said {
    fn from(err: sea_orm::sqlx::Error) -> Self {
        match err.as_database_error() {
            Some(database) => Self(database.message().to_owned()),
            None => Self(err.to_string()),
        }
    }
}

impl From<&str> for Said {
    fn from(said: &str) -> Self {
        Self(said.to_owned())
    }
}

impl From<String> for Said {
    fn from(said: String) -> Self {
        Self(said)
    }
}

impl Server {
    pub fn new(server: ServerConnection) -> Self {
        Self { server }
    }

    /// Where the database is, for error lines: never the password.
    pub fn place(&self) -> String {
        let s = &self.server;
        let engine = match s.engine {
            ServerKind::Postgres => "PostgreSQL",
            ServerKind::Mysql => "MySQL",
        };
        format!("{engine} {}@{}:{}/{}", s.user, s.host, s.port, s.database)
    }

    /// An error saying what failed where, e.g. `reading from PostgreSQL u@h:5432/db: …`.
    pub fn failed(&self, what: &str, err: impl Into<Said>) -> Error {
        Error::Database(format!("{what} {}: {}", self.place(), err.into().0))
    }

    /// A source's read that failed. Source queries run in read-only transactions (a source is
    /// something Sluice reads); a query that tries to change data is told so in those words.
    pub fn reading_failed(&self, err: sea_orm::sqlx::Error) -> Error {
        // SQLSTATE 25006, read_only_sql_transaction, on PostgreSQL and MySQL alike.
        let changes_data = err
            .as_database_error()
            .and_then(|err| err.code())
            .is_some_and(|code| code == "25006");
        if changes_data {
            return self.failed(
                "reading from",
                "a source only reads, and this query tries to change data (Sluice runs every \
                 source query in a read-only transaction); nothing was changed",
            );
        }
        self.failed("reading from", err)
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

/// Stops a query on its server when the step reading it is dropped (a cancel, another step's
/// failure) before it ends. Dropping a connection is not enough: a server computing an
/// aggregate or a join sends nothing until it is done, so it would only notice the closed socket
/// then, having done all the work. The cancel goes over a connection of its own.
pub struct QueryCanceller {
    server: Server,
    /// The session running the query: a PostgreSQL backend pid, a MySQL connection id.
    session: Option<i64>,
    /// When the PostgreSQL backend started: a pid is reused once its backend ends, and the pair
    /// names one session only.
    started: String,
}

impl QueryCanceller {
    /// Watches the query `connection` is about to run.
    ///
    /// # Errors
    /// The server does not say which session `connection` is.
    pub async fn postgres(server: &Server, connection: &mut PgConnection) -> Result<Self> {
        let (pid, started): (i32, String) = sea_orm::sqlx::query_as(
            "SELECT pid, backend_start::text FROM pg_stat_activity WHERE pid = pg_backend_pid()",
        )
        .fetch_one(connection)
        .await
        .map_err(|err| server.failed("reading from", err))?;
        Ok(Self {
            server: server.clone(),
            session: Some(i64::from(pid)),
            started,
        })
    }

    /// Watches the query `connection` is about to run.
    ///
    /// # Errors
    /// The server does not say which session `connection` is.
    pub async fn mysql(server: &Server, connection: &mut MySqlConnection) -> Result<Self> {
        let (id,): (u64,) = sea_orm::sqlx::query_as("SELECT CONNECTION_ID()")
            .fetch_one(connection)
            .await
            .map_err(|err| server.failed("reading from", err))?;
        Ok(Self {
            server: server.clone(),
            // MySQL does not reuse a connection id while the server runs.
            session: i64::try_from(id).ok(),
            started: String::new(),
        })
    }

    /// The query ended by itself: nothing to stop.
    pub fn finished(mut self) {
        self.session = None;
    }
}

impl Drop for QueryCanceller {
    fn drop(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let server = self.server.clone();
        let started = std::mem::take(&mut self.started);
        runtime.spawn(async move {
            let stopped: std::result::Result<(), String> = async {
                match server.server.engine {
                    ServerKind::Postgres => {
                        let mut connection = server.postgres().await.map_err(|e| e.to_string())?;
                        sea_orm::sqlx::query(
                            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity \
                             WHERE pid = $1 AND backend_start::text = $2",
                        )
                        .bind(i32::try_from(session).unwrap_or_default())
                        .bind(started)
                        .execute(&mut connection)
                        .await
                        .map_err(|e| e.to_string())?;
                    }
                    ServerKind::Mysql => {
                        let mut connection = server.mysql().await.map_err(|e| e.to_string())?;
                        sea_orm::sqlx::raw_sql(AssertSqlSafe(format!("KILL QUERY {session}")))
                            .execute(&mut connection)
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                }
                Ok(())
            }
            .await;
            if let Err(err) = stopped {
                tracing::warn!(place = %server.place(), error = %err, "could not stop a query whose reader stopped");
            }
        });
    }
}
