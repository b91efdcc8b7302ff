//! Sluice's flow engine on DataFusion: reads each source into a table, runs the SQL transforms
//! as soon as the tables they read are ready (independent ones concurrently), and writes the
//! outputs to the target, staged and made visible only when every output has been written. A
//! table that one step reads once streams straight into that step; one that several read is kept
//! (in memory while the flow's memory budget allows, else in scratch files).

mod analyzer;
mod cluster;
mod connectors;
mod engine;
mod error;
mod folder;
mod handoff;
mod location;
mod memory_pool;
mod plan_errors;
mod pushdown;
mod redact;
mod rows;
mod scratch;
mod spool;
mod wiring;

pub use analyzer::DataFusionSqlAnalyzer;
pub use connectors::{protect_state_database, staged_under};
pub use engine::{DataFusionEngine, EngineSettings};
pub use error::{Error, Result};
pub use folder::DataFolder;
pub use location::S3Settings;
