use sea_orm::{DbErr, RuntimeErr, SqlErr, sqlx};
use sluice_domain::Error;

/// Translates a database error into the domain's, so no driver type leaves this crate.
pub fn map_db_err(err: DbErr) -> Error {
    if let Some(SqlErr::UniqueConstraintViolation(detail)) = err.sql_err() {
        return Error::Conflict(format!("already exists ({detail})"));
    }
    match &err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Error::Unavailable(err.to_string()),
        DbErr::Exec(RuntimeErr::SqlxError(inner)) | DbErr::Query(RuntimeErr::SqlxError(inner))
            if is_transient(inner) =>
        {
            Error::Unavailable(err.to_string())
        }
        _ => Error::Internal(err.to_string()),
    }
}

/// Whether the state database may well answer a retry: the connection broke, the server is
/// restarting or shutting sessions down (a pooler restart, a failover, an operator terminating
/// backends), it is out of connections, or the statement lost a race with another.
fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // PostgreSQL's SQLSTATE: connection exceptions (08…), operator intervention (57P0…),
            // too many connections, serialization failures and deadlocks. SQLite's result
            // codes: busy (5) and locked (6).
            code.starts_with("08")
                || matches!(
                    code.as_ref(),
                    "57P01" | "57P02" | "57P03" | "53300" | "40001" | "40P01" | "5" | "6"
                )
        }),
        _ => false,
    }
}

/// A stored row that no longer parses as the domain type: the store was edited by hand.
pub fn corrupt(what: &str, id: i64, why: impl std::fmt::Display) -> Error {
    Error::Internal(format!("stored {what} {id} is unreadable: {why}"))
}
