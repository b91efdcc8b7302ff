//! Pipeline metadata held in memory, answering the metadata ports by their documented rules
//! (filters, order, paging), for tests of the layers above them.

use async_trait::async_trait;
use std::cmp::Ordering;

use crate::metadata::collection::{select_log, select_resources};
use crate::metadata::{
    CollectionLog, CollectionLogQuery, ConfigurationQuery, ConfigurationRepository,
    ConfigurationTable, CountOrder, DatasetEntry, FieldEntry, IssueColumn, ResourceQuery,
    SpecificationCatalog,
};
use crate::metadata::{
    DatasetSpecification, IssueBatches, IssueCount, IssueCountQuery, IssueFilters, IssueLog,
    IssueQuery, IssueRow, Paged, PerformanceQuery, PerformanceRepository, PerformanceTable, Record,
    SpecificationQuery, SpecificationRepository, Value,
};
use crate::{Error, Result};

#[derive(Default)]
pub struct MemoryMetadata {
    /// Configuration tables by collection name.
    pub configuration: Vec<(String, ConfigurationTable, Vec<Record>)>,
    /// Issue rows in the order their files hold them.
    pub issues: Vec<IssueRow>,
    pub performance: Vec<(PerformanceTable, Vec<Record>)>,
    pub specifications: Vec<DatasetSpecification>,
    pub catalog_datasets: Vec<DatasetEntry>,
    pub catalog_fields: Vec<FieldEntry>,
    /// The collection log's entries and its resource table.
    pub collection_log: Vec<Record>,
    pub resources: Vec<Record>,
    /// What the issue log answers for its version, whatever the filters.
    pub issue_version: Option<String>,
}

fn column_of(row: &IssueRow, column: IssueColumn) -> Option<&str> {
    match column {
        IssueColumn::Dataset => Some(&row.dataset),
        IssueColumn::Resource => Some(&row.resource),
        IssueColumn::Field => row.field.as_deref(),
        IssueColumn::IssueType => row.issue_type.as_deref(),
    }
}

fn matches(row: &IssueRow, filters: &IssueFilters) -> bool {
    IssueColumn::ALL
        .into_iter()
        .all(|column| filters.admits(column, column_of(row, column)))
}

/// Ascending with unknowns last, as every metadata order is.
fn nulls_last<T: Ord>(a: &Option<T>, b: &Option<T>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.cmp(b),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// The order [`crate::metadata::IssueQuery`] documents: by dataset, by resource, then each
/// row's place in its file, which here is the order the rows were added in (the sorts that use
/// this are stable).
fn issue_order(a: &IssueRow, b: &IssueRow) -> Ordering {
    a.dataset
        .cmp(&b.dataset)
        .then_with(|| a.resource.cmp(&b.resource))
}

#[async_trait]
impl IssueLog for MemoryMetadata {
    async fn issues(&self, query: &IssueQuery) -> Result<Paged<IssueRow>> {
        let mut rows: Vec<IssueRow> = self
            .issues
            .iter()
            .filter(|row| matches(row, query.filters()))
            .cloned()
            .collect();
        rows.sort_by(issue_order);
        Ok(Paged::cut(rows, query.page()))
    }

    async fn export(&self, query: &IssueQuery) -> Result<IssueBatches> {
        let mut rows: Vec<IssueRow> = self
            .issues
            .iter()
            .filter(|row| matches(row, query.filters()))
            .cloned()
            .collect();
        rows.sort_by(issue_order);
        // Batches of two, so that tests see a stream of several.
        let batches: Vec<Result<Vec<IssueRow>>> =
            rows.chunks(2).map(|chunk| Ok(chunk.to_vec())).collect();
        Ok(Box::pin(futures::stream::iter(batches)))
    }

    async fn version(&self, _filters: &IssueFilters) -> Result<Option<String>> {
        Ok(self.issue_version.clone())
    }

    async fn issue_counts(&self, query: &IssueCountQuery) -> Result<Paged<IssueCount>> {
        let mut groups: Vec<IssueCount> = Vec::new();
        for row in self
            .issues
            .iter()
            .filter(|row| matches(row, query.filters()))
        {
            let key: Vec<_> = query
                .group_by()
                .iter()
                .map(|c| (*c, column_of(row, *c).map(str::to_owned)))
                .collect();
            match groups.iter_mut().find(|g| g.key == key) {
                Some(group) => group.count += 1,
                None => groups.push(IssueCount { key, count: 1 }),
            }
        }
        groups.sort_by(|a, b| {
            let by_key = || {
                a.key
                    .iter()
                    .zip(&b.key)
                    .map(|((_, a), (_, b))| nulls_last(a, b))
                    .find(|o| o.is_ne())
                    .unwrap_or(Ordering::Equal)
            };
            match query.order() {
                CountOrder::LargestFirst => b.count.cmp(&a.count).then_with(by_key),
                CountOrder::SmallestFirst => a.count.cmp(&b.count).then_with(by_key),
                CountOrder::ByKey => by_key(),
            }
        });
        Ok(Paged::cut(groups, query.page()))
    }
}

#[async_trait]
impl PerformanceRepository for MemoryMetadata {
    async fn rows(&self, query: &PerformanceQuery) -> Result<Paged<Record>> {
        let (_, rows) = self
            .performance
            .iter()
            .find(|(table, _)| *table == query.table)
            .ok_or_else(|| Error::NotFound {
                entity: "performance table",
                key: query.table.name().to_owned(),
            })?;
        let mut selected = Vec::new();
        for row in rows {
            let mut keep = true;
            for (column, value) in query.filters() {
                match row.get(column) {
                    None => {
                        return Err(Error::invalid(
                            crate::FieldPath::new(column.to_owned()),
                            format!("{} has no {column} column to filter on", query.table),
                        ));
                    }
                    Some(Value::Text(text)) if text == value.as_str() => {}
                    Some(_) => keep = false,
                }
            }
            if keep {
                selected.push(row.clone());
            }
        }
        Ok(Paged::cut(selected, query.page))
    }

    async fn tables(&self) -> Result<Vec<PerformanceTable>> {
        Ok(self.performance.iter().map(|(table, _)| *table).collect())
    }
}

#[async_trait]
impl SpecificationRepository for MemoryMetadata {
    async fn datasets(&self, query: &SpecificationQuery) -> Result<Paged<DatasetSpecification>> {
        let mut datasets: Vec<_> = self
            .specifications
            .iter()
            .filter(|d| {
                query
                    .dataset
                    .as_ref()
                    .is_none_or(|w| d.dataset == w.as_str())
            })
            .cloned()
            .collect();
        DatasetSpecification::sort(&mut datasets);
        Ok(Paged::cut(datasets, query.page))
    }
}

#[async_trait]
impl ConfigurationRepository for MemoryMetadata {
    async fn rows(&self, query: &ConfigurationQuery) -> Result<Paged<Record>> {
        let (_, _, rows) = self
            .configuration
            .iter()
            .find(|(collection, table, _)| {
                collection == query.collection.as_str() && *table == query.table
            })
            .ok_or_else(|| Error::NotFound {
                entity: "configuration",
                key: format!("{} of {}", query.table, query.collection),
            })?;
        Ok(Paged::cut(rows.clone(), query.page))
    }
}

fn named(record: &Record, column: &str, wanted: &str) -> bool {
    matches!(record.get(column), Some(Value::Text(v)) if v == wanted)
}

#[async_trait]
impl SpecificationCatalog for MemoryMetadata {
    async fn dataset(&self, dataset: &str) -> Result<DatasetEntry> {
        self.catalog_datasets
            .iter()
            .find(|d| named(&d.dataset, "dataset", dataset))
            .cloned()
            .ok_or_else(|| Error::NotFound {
                entity: "dataset",
                key: dataset.to_owned(),
            })
    }

    async fn field(&self, field: &str) -> Result<FieldEntry> {
        self.catalog_fields
            .iter()
            .find(|f| named(&f.field, "field", field))
            .cloned()
            .ok_or_else(|| Error::NotFound {
                entity: "field",
                key: field.to_owned(),
            })
    }
}

#[async_trait]
impl CollectionLog for MemoryMetadata {
    async fn log_entries(&self, query: &CollectionLogQuery) -> Result<Paged<Record>> {
        Ok(select_log(
            self.collection_log.clone(),
            &self.resources,
            query,
        ))
    }

    async fn resources(&self, query: &ResourceQuery) -> Result<Paged<Record>> {
        Ok(select_resources(self.resources.clone(), query))
    }
}
