//! The adapter's errors, and how they become the domain's.

use datafusion::error::DataFusionError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the archive location '{0}' is not usable: {1}")]
    Location(String, String),

    #[error(transparent)]
    DataFusion(#[from] DataFusionError),

    #[error("the archive holds data of an unexpected shape: {0}")]
    Shape(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for sluice_domain::Error {
    fn from(error: Error) -> Self {
        match error {
            Error::DataFusion(DataFusionError::ObjectStore(e)) => {
                Self::Unavailable(format!("the archive cannot be read: {e}"))
            }
            Error::DataFusion(DataFusionError::IoError(e)) => {
                Self::Unavailable(format!("the archive cannot be read: {e}"))
            }
            other => Self::Internal(other.to_string()),
        }
    }
}
