//! Pipeline metadata: what the pipelines recorded about themselves (the issue log, performance
//! aggregations, the data specification, the collection log) and how they are configured, read through ports that a Parquet archive or a
//! Datasette-style SQLite database answer alike.
//!
//! A query is a value (filters, order, page), never SQL text: adapters bind every value.

pub mod collection;
mod configuration;
mod issues;
mod performance;
mod ports;
mod query;
mod specification;
mod value;

pub use collection::{CollectionFilters, CollectionLogQuery, ResourceQuery};
pub use configuration::{CollectionName, ConfigurationQuery, ConfigurationTable, RuleKind};
pub use issues::{
    CountOrder, IssueColumn, IssueCount, IssueCountQuery, IssueFilters, IssueQuery, IssueRow,
};
pub use performance::{PerformanceQuery, PerformanceTable};
pub use ports::{
    CollectionLog, ConfigurationRepository, IssueBatches, IssueLog, PerformanceRepository,
    SpecificationCatalog, SpecificationRepository,
};
pub use query::{FilterValue, Paged};
pub use specification::{DatasetEntry, DatasetSpecification, FieldEntry, SpecificationQuery};
pub use value::{Record, Value};
