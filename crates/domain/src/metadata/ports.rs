//! The read ports of the pipeline metadata. The Parquet archive and Datasette adapters implement
//! each one and must answer the same query with the same rows in the same order.

use async_trait::async_trait;

use super::collection::{CollectionLogQuery, ResourceQuery};
use super::configuration::ConfigurationQuery;
use super::issues::{IssueCount, IssueCountQuery, IssueFilters, IssueQuery, IssueRow};
use super::performance::{PerformanceQuery, PerformanceTable};
use super::query::Paged;
use super::specification::{DatasetEntry, DatasetSpecification, FieldEntry, SpecificationQuery};
use super::value::Record;
use crate::Result;

/// Every issue a query selects, in batches, read only as fast as the batches are taken, so an
/// export of any size holds a few batches at a time.
pub type IssueBatches = futures::stream::BoxStream<'static, Result<Vec<IssueRow>>>;

#[async_trait]
pub trait IssueLog: Send + Sync {
    /// One page of issues in the order [`IssueQuery`] documents, and how many match in all.
    ///
    /// # Errors
    /// `Unavailable` when the archive cannot be read; `Internal` when it holds data of an
    /// unexpected shape.
    async fn issues(&self, query: &IssueQuery) -> Result<Paged<IssueRow>>;

    /// One page of issue counts, largest first, and how many groups there are in all.
    ///
    /// # Errors
    /// As [`IssueLog::issues`].
    async fn issue_counts(&self, query: &IssueCountQuery) -> Result<Paged<IssueCount>>;

    /// Every issue `query` selects (its page aside), in its order, as a stream of batches.
    ///
    /// # Errors
    /// As [`IssueLog::issues`], before the stream or as one of its items.
    async fn export(&self, query: &IssueQuery) -> Result<IssueBatches>;

    /// A version of the files that answer queries with `filters`: it changes whenever one of
    /// them is added, replaced or removed (as seen within the listing refresh), so that answers
    /// of equal versions are equal. `None` when the adapter cannot tell without reading them.
    ///
    /// # Errors
    /// As [`IssueLog::issues`].
    async fn version(&self, filters: &IssueFilters) -> Result<Option<String>> {
        let _ = filters;
        Ok(None)
    }
}

#[async_trait]
pub trait PerformanceRepository: Send + Sync {
    /// One page of an aggregation's rows, and how many match in all.
    ///
    /// # Errors
    /// `NotFound` when the archive does not hold the table; `Invalid` pointing at a filter whose
    /// column the table does not have; `Unavailable`.
    async fn rows(&self, query: &PerformanceQuery) -> Result<Paged<Record>>;

    /// The aggregations the archive holds.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn tables(&self) -> Result<Vec<PerformanceTable>>;
}

#[async_trait]
pub trait SpecificationRepository: Send + Sync {
    /// One page of datasets across the specifications, and how many match in all.
    ///
    /// # Errors
    /// `Unavailable`; `Internal` when a specification cannot be read.
    async fn datasets(&self, query: &SpecificationQuery) -> Result<Paged<DatasetSpecification>>;
}

#[async_trait]
pub trait ConfigurationRepository: Send + Sync {
    /// One page of a collection's configuration table (rows keyed by the configuration's own
    /// column names, all text), and how many rows it has.
    ///
    /// # Errors
    /// `NotFound` when the collection, or that table of it, is not configured; `Unavailable`.
    async fn rows(&self, query: &ConfigurationQuery) -> Result<Paged<Record>>;
}

/// The specification's own tables (datasets, fields and which dataset has which field).
#[async_trait]
pub trait SpecificationCatalog: Send + Sync {
    /// # Errors
    /// `NotFound` when the specification has no such dataset; `Unavailable`.
    async fn dataset(&self, dataset: &str) -> Result<DatasetEntry>;

    /// # Errors
    /// `NotFound` when the specification has no such field; `Unavailable`.
    async fn field(&self, field: &str) -> Result<FieldEntry>;
}

/// The collection log and the resources its fetches produced, by the rules of
/// [`crate::metadata::collection`].
#[async_trait]
pub trait CollectionLog: Send + Sync {
    /// One page of log entries, oldest first, and how many match in all. A source without a log
    /// has no entries.
    ///
    /// # Errors
    /// `Unavailable` when the log cannot be read; `Internal` when it holds data of an unexpected
    /// shape.
    async fn log_entries(&self, query: &CollectionLogQuery) -> Result<Paged<Record>>;

    /// One page of resources, by start date, and how many match in all.
    ///
    /// # Errors
    /// As [`CollectionLog::log_entries`].
    async fn resources(&self, query: &ResourceQuery) -> Result<Paged<Record>>;
}
