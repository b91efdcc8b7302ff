//! Pipeline metadata: the rules of each query (a page of issues needs a dataset; counts group on
//! known columns), answered by whichever adapter the configuration chose.

use std::sync::Arc;

use crate::Result;
use crate::metadata::{
    CollectionLog, CollectionLogQuery, CollectionName, ConfigurationQuery, ConfigurationRepository,
    ConfigurationTable, DatasetEntry, DatasetSpecification, FieldEntry, IssueCount,
    IssueCountQuery, IssueFilters, IssueLog, IssueQuery, IssueRow, Paged, PerformanceQuery,
    PerformanceRepository, Record, ResourceQuery, RuleKind, SpecificationCatalog,
    SpecificationQuery, SpecificationRepository,
};
use crate::page::Page;

/// The adapters that answer each part of the metadata.
#[derive(Clone)]
pub struct MetadataPorts {
    pub issues: Arc<dyn IssueLog>,
    pub performance: Arc<dyn PerformanceRepository>,
    pub specification: Arc<dyn SpecificationRepository>,
    pub configuration: Arc<dyn ConfigurationRepository>,
    pub catalog: Arc<dyn SpecificationCatalog>,
    pub collection_log: Arc<dyn CollectionLog>,
}

#[derive(Clone)]
pub struct MetadataService {
    ports: MetadataPorts,
}

/// How many rows each table of a collection's configuration holds; absent tables are left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigurationOverview {
    pub collection: CollectionName,
    pub tables: Vec<(ConfigurationTable, u64)>,
}

impl MetadataService {
    pub fn new(ports: MetadataPorts) -> Self {
        Self { ports }
    }

    /// # Errors
    /// `Invalid` pointing at `/dataset` when no dataset is named; the port's errors.
    pub async fn issues(&self, filters: IssueFilters, page: Page) -> Result<Paged<IssueRow>> {
        self.ports
            .issues
            .issues(&IssueQuery::new(filters, page)?)
            .await
    }

    /// `group_by` is the client's comma-separated list of columns.
    ///
    /// # Errors
    /// `Invalid` pointing at `/group_by`; the port's errors.
    pub async fn issue_counts(
        &self,
        group_by: &str,
        filters: IssueFilters,
        page: Page,
    ) -> Result<Paged<IssueCount>> {
        let query = IssueCountQuery::parse(group_by, filters, page)?;
        self.ports.issues.issue_counts(&query).await
    }

    /// # Errors
    /// `NotFound` when the archive does not hold the table; the port's errors.
    pub async fn performance(&self, query: &PerformanceQuery) -> Result<Paged<Record>> {
        self.ports.performance.rows(query).await
    }

    /// # Errors
    /// The port's errors.
    pub async fn specifications(
        &self,
        query: &SpecificationQuery,
    ) -> Result<Paged<DatasetSpecification>> {
        self.ports.specification.datasets(query).await
    }

    /// # Errors
    /// `Invalid` pointing at `/collection`; `NotFound` when the collection has no such table.
    pub async fn configuration(
        &self,
        collection: &str,
        table: ConfigurationTable,
        page: Page,
    ) -> Result<Paged<Record>> {
        let query = ConfigurationQuery {
            collection: CollectionName::parse(collection)?,
            table,
            page,
        };
        self.ports.configuration.rows(&query).await
    }

    /// # Errors
    /// `Invalid` pointing at `/collection`; `NotFound` when nothing is configured for it.
    pub async fn configuration_overview(&self, collection: &str) -> Result<ConfigurationOverview> {
        let collection = CollectionName::parse(collection)?;
        let tables = [ConfigurationTable::Endpoints, ConfigurationTable::Sources]
            .into_iter()
            .chain(RuleKind::ALL.into_iter().map(ConfigurationTable::Rules));
        let mut held = Vec::new();
        for table in tables {
            let query = ConfigurationQuery {
                collection: collection.clone(),
                table,
                page: Page::default(),
            };
            match self.ports.configuration.rows(&query).await {
                Ok(rows) => held.push((table, rows.total)),
                Err(crate::Error::NotFound { .. }) => {}
                Err(other) => return Err(other),
            }
        }
        if held.is_empty() {
            return Err(crate::Error::NotFound {
                entity: "collection",
                key: collection.to_string(),
            });
        }
        Ok(ConfigurationOverview {
            collection,
            tables: held,
        })
    }

    /// # Errors
    /// The port's errors.
    pub async fn collection_log(&self, query: &CollectionLogQuery) -> Result<Paged<Record>> {
        self.ports.collection_log.log_entries(query).await
    }

    /// # Errors
    /// The port's errors.
    pub async fn resources(&self, query: &ResourceQuery) -> Result<Paged<Record>> {
        self.ports.collection_log.resources(query).await
    }

    /// # Errors
    /// `NotFound` when the specification has no such dataset.
    pub async fn specification_dataset(&self, dataset: &str) -> Result<DatasetEntry> {
        self.ports.catalog.dataset(dataset).await
    }

    /// # Errors
    /// `NotFound` when the specification has no such field.
    pub async fn specification_field(&self, field: &str) -> Result<FieldEntry> {
        self.ports.catalog.field(field).await
    }
}
