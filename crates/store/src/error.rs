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
            if matches!(
                inner.as_ref(),
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Tls(_)
            ) =>
        {
            Error::Unavailable(err.to_string())
        }
        _ => Error::Internal(err.to_string()),
    }
}

/// A stored row that no longer parses as the domain type: the store was edited by hand.
pub fn corrupt(what: &str, id: i64, why: impl std::fmt::Display) -> Error {
    Error::Internal(format!("stored {what} {id} is unreadable: {why}"))
}
