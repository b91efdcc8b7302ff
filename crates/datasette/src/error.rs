//! The adapter's errors, and how they become the domain's.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the database {0} cannot be opened: {1}")]
    Open(String, String),

    #[error("sqlite: {0}")]
    Sqlite(#[from] sea_orm::sqlx::Error),

    #[error("datasette at {url}: {message}")]
    Http { url: String, message: String },

    #[error("the databases hold data of an unexpected shape: {0}")]
    Shape(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for sluice_domain::Error {
    fn from(error: Error) -> Self {
        match error {
            Error::Open(..) | Error::Http { .. } => Self::Unavailable(error.to_string()),
            Error::Sqlite(sea_orm::sqlx::Error::Io(_) | sea_orm::sqlx::Error::PoolTimedOut) => {
                Self::Unavailable(error.to_string())
            }
            other => Self::Internal(other.to_string()),
        }
    }
}
