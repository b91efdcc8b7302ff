//! Sluice's flow engine on DataFusion: reads each source into a table, runs the SQL transforms in
//! dependency order (independent ones concurrently), and writes the outputs to the target, staged
//! and made visible only when every output has been written.

mod analyzer;
mod engine;
mod error;
mod folder;
pub mod pg_copy;
mod sources;
mod sqlite_arrow;
mod targets;

pub use analyzer::DataFusionSqlAnalyzer;
pub use engine::{DataFusionEngine, EngineSettings};
pub use error::{Error, Result};
pub use folder::DataFolder;
