//! Pipeline metadata read from a Parquet collection archive (the issue log, performance
//! aggregations, the specification), laid out as the pipelines write it, and the pipeline
//! configuration, the specification tables and the collection log from their CSV folders
//! ([`CsvConfiguration`], [`CsvSpecification`], [`CsvCollectionLog`]):
//!
//! ```text
//! log/issue/dataset=<d>/resource=<r>/<r>.parquet   (or flat: log/issue/*.parquet)
//! data/performance/<aggregation>.parquet
//! data/specification/specification.parquet
//! ```
//!
//! One long-lived DataFusion context answers every query: partitions are pruned on dataset and
//! resource, filters and projections go into the scan, and file listings, statistics and footers
//! are cached (listings for a configurable interval, so new files appear without a restart).
//! Queries are built as DataFusion expressions, so every value a client sends is a literal, never
//! SQL text.

mod archive;
mod arrow_values;
mod collection_log;
mod configuration;
mod csv_folder;
mod error;
mod index_file;
mod issue_partitions;
mod issue_summary;
mod issue_version;
mod issues;
mod performance;
mod small_files;
mod specification;
mod specification_tables;
#[cfg(test)]
mod test_archive;

pub use archive::{ArchiveSettings, IssueLayout, ParquetArchive};
pub use collection_log::CsvCollectionLog;
pub use configuration::CsvConfiguration;
pub use error::{Error, Result};
pub use specification_tables::CsvSpecification;
