//! Pipeline metadata: the rules of each query (a page of issues needs a dataset; counts group on
//! known columns), answered by whichever adapter the configuration chose.

use std::sync::Arc;

use crate::Result;
use crate::metadata::{CollectionFilters, CountOrder, FilterValue, IssueBatches, Value};
use crate::metadata::{
    CollectionLog, CollectionLogQuery, CollectionName, ConfigurationQuery, ConfigurationRepository,
    ConfigurationTable, DatasetEntry, DatasetSpecification, FieldEntry, IssueCount,
    IssueCountQuery, IssueFilters, IssueLog, IssueQuery, IssueRow, Paged, PerformanceQuery,
    PerformanceRepository, Record, ResourceQuery, RuleKind, SpecificationCatalog,
    SpecificationQuery, SpecificationRepository,
};
use crate::page::{MAX_LIMIT, Page};

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
        self.issues_of(filters, &[], page).await
    }

    /// As [`Self::issues`], kept to the resources that `organisations` (any of them) published,
    /// as the collection's resource table lists them.
    ///
    /// # Errors
    /// As [`Self::issues`]; the collection log's errors.
    pub async fn issues_of(
        &self,
        filters: IssueFilters,
        organisations: &[FilterValue],
        page: Page,
    ) -> Result<Paged<IssueRow>> {
        let query = IssueQuery::new(filters, page)?;
        let Some(filters) = self
            .narrowed_to(query.filters().clone(), organisations)
            .await?
        else {
            return Ok(Paged::nothing());
        };
        self.ports
            .issues
            .issues(&IssueQuery::new(filters, page)?)
            .await
    }

    /// Every issue [`Self::issues_of`] would page through, as a stream of batches.
    ///
    /// # Errors
    /// As [`Self::issues_of`].
    pub async fn export_issues(
        &self,
        filters: IssueFilters,
        organisations: &[FilterValue],
    ) -> Result<IssueBatches> {
        let query = IssueQuery::new(filters, Page::default())?;
        let Some(filters) = self
            .narrowed_to(query.filters().clone(), organisations)
            .await?
        else {
            return Ok(Box::pin(futures::stream::empty()));
        };
        self.ports
            .issues
            .export(&IssueQuery::new(filters, Page::default())?)
            .await
    }

    /// The version of the files that answer issue queries with `filters` (see
    /// [`IssueLog::version`]); `None` with `organisations`, whose resources come from the
    /// collection log, which has no version.
    ///
    /// # Errors
    /// The port's errors.
    pub async fn issues_version(
        &self,
        filters: &IssueFilters,
        organisations: &[FilterValue],
    ) -> Result<Option<String>> {
        if !organisations.is_empty() {
            return Ok(None);
        }
        self.ports.issues.version(filters).await
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
        self.issue_counts_of(group_by, filters, &[], CountOrder::default(), page)
            .await
    }

    /// As [`Self::issue_counts`], in `order`, counting only the issues of resources that
    /// `organisations` (any of them) published.
    ///
    /// # Errors
    /// As [`Self::issue_counts`]; the collection log's errors.
    pub async fn issue_counts_of(
        &self,
        group_by: &str,
        filters: IssueFilters,
        organisations: &[FilterValue],
        order: CountOrder,
        page: Page,
    ) -> Result<Paged<IssueCount>> {
        // Parsed first, so a bad `group_by` is reported whatever the organisations hold.
        IssueCountQuery::parse(group_by, IssueFilters::default(), page)?;
        let Some(filters) = self.narrowed_to(filters, organisations).await? else {
            return Ok(Paged::nothing());
        };
        let query = IssueCountQuery::parse(group_by, filters, page)?.ordered(order);
        self.ports.issues.issue_counts(&query).await
    }

    /// `filters` with their resources kept to those the organisations published; `None` when
    /// no resource is left, so nothing can match.
    async fn narrowed_to(
        &self,
        mut filters: IssueFilters,
        organisations: &[FilterValue],
    ) -> Result<Option<IssueFilters>> {
        if organisations.is_empty() {
            return Ok(Some(filters));
        }
        let mut published = self.resources_of(organisations).await?;
        if !filters.resource.is_empty() {
            published.retain(|r| filters.resource.contains(r));
        }
        if published.is_empty() {
            return Ok(None);
        }
        filters.resource = published;
        Ok(Some(filters))
    }

    /// Every resource the collection's resource table lists for any of `organisations`, read in
    /// one walk of the table's pages whatever the number of organisations.
    async fn resources_of(&self, organisations: &[FilterValue]) -> Result<Vec<FilterValue>> {
        let mut resources: Vec<FilterValue> = Vec::new();
        let mut offset = 0;
        loop {
            let query = ResourceQuery {
                filters: CollectionFilters {
                    organisation: organisations.to_vec(),
                    ..CollectionFilters::default()
                },
                page: Page::new(Some(MAX_LIMIT), Some(offset))?,
            };
            let page = self.ports.collection_log.resources(&query).await?;
            let read = page.items.len() as u64;
            for row in page.items {
                if let Some(Value::Text(resource)) = row.get("resource")
                    && let Ok(value) = FilterValue::parse("resource", resource.clone())
                    && !resources.contains(&value)
                {
                    resources.push(value);
                }
            }
            offset += read;
            if read == 0 || offset >= page.total {
                return Ok(resources);
            }
        }
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
