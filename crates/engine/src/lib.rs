//! Sluice's flow engine on DataFusion: reads each source into a table (in memory while
//! the flow's memory budget allows, else in scratch files), runs the SQL transforms in
//! dependency order (independent ones concurrently), and writes the outputs to the target, staged
//! and made visible only when every output has been written.

mod analyzer;
mod engine;
mod error;
mod folder;
mod identifiers;
mod location;
mod mysql_arrow;
pub mod pg_copy;
mod scratch;
mod servers;
mod sources;
mod spool;
mod sqlite_arrow;
mod targets;

pub use analyzer::DataFusionSqlAnalyzer;
pub use engine::{DataFusionEngine, EngineSettings};
pub use error::{Error, Result};
pub use folder::DataFolder;
pub use location::S3Settings;
