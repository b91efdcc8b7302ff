use datafusion::error::DataFusionError;

/// What can go wrong inside the engine. Its message ends up on the flow's error line, so it says
/// what and where, and never holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    DataFusion(#[from] DataFusionError),

    /// A transform's SQL that does not plan, in the user's words ([`crate::plan_errors`]): it
    /// speaks of the user's own SQL, not of the data.
    #[error("{0}")]
    Plan(String),

    #[error("{0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),

    #[error("{0}")]
    Sqlite(String),

    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },

    #[error("{0}")]
    Unsupported(String),

    /// A database that refused, failed or could not be reached, said with where it is.
    #[error("{0}")]
    Database(String),

    #[error("{0}")]
    Location(String),
}

impl Error {
    /// The error as a flow's error line says it: what a driver or the engine said, with any
    /// quoted value hidden (it may have been read from a source, see [`crate::redact`]);
    /// Sluice's own words as they are.
    pub fn for_flow(&self) -> String {
        if let Some(exhausted) = self.out_of_memory() {
            // DataFusion's words name the operator and the sizes, never a value.
            return format!(
                "the flow's joins, aggregates and sorts needed more memory than \
                 engine.operator_memory_per_flow_mb allows, and one that cannot spill to disk \
                 (a hash join's build side, say) could not get it; give flows more memory, or \
                 make the side a join builds on smaller ({exhausted})"
            );
        }
        if self.out_of_scratch() {
            return "the flow's sorts, aggregates and joins wrote more to its scratch folder than \
                    engine.scratch_per_flow_mb allows; its scratch files were removed. Give flows \
                    more scratch space, or make what they sort, group or join smaller"
                .into();
        }
        match self {
            Self::DataFusion(_) | Self::Arrow(_) | Self::Sqlite(_) | Self::Database(_) => {
                crate::redact::hide_values(&self.to_string())
            }
            Self::Plan(_) | Self::Io { .. } | Self::Unsupported(_) | Self::Location(_) => {
                self.to_string()
            }
        }
    }

    /// Whether DataFusion stopped a spill at the flow's scratch cap. It reports it as an I/O
    /// error of the spill file's writer, which keeps only its words.
    fn out_of_scratch(&self) -> bool {
        let Self::DataFusion(error) = self else {
            return false;
        };
        let said = match error.find_root() {
            DataFusionError::IoError(io) => io.to_string(),
            other => other.to_string(),
        };
        said.contains("spilling process has exceeded the allowable limit")
    }

    /// What DataFusion said when it ran out of the flow's operator memory.
    fn out_of_memory(&self) -> Option<String> {
        let Self::DataFusion(error) = self else {
            return None;
        };
        match error.find_root() {
            DataFusionError::ResourcesExhausted(said) => Some(said.clone()),
            _ => {
                let said = error.to_string();
                let at = said.find("Resources exhausted")?;
                Some(said[at..].to_owned())
            }
        }
    }

    /// The planning error of a transform whose SQL is `sql`.
    pub fn plan(error: &DataFusionError, sql: &str) -> Self {
        Self::Plan(crate::plan_errors::readable(error, sql))
    }

    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}

impl From<sea_orm::sqlx::Error> for Error {
    fn from(err: sea_orm::sqlx::Error) -> Self {
        Self::Sqlite(err.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
