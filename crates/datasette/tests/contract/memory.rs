//! The in-memory fake, filled with every row the archive and the CSV sources hold, read through
//! their ports: it is then held to the same answers as they are.

use super::*;
use sluice_domain::metadata::Paged;
use sluice_domain::testing::MemoryMetadata;

/// Every item of a paged answer, asked a page at a time.
pub(super) async fn every<T, F, Fut>(mut ask: F) -> Vec<T>
where
    F: FnMut(Page) -> Fut,
    Fut: std::future::Future<Output = sluice_domain::Result<Paged<T>>>,
{
    let mut items = Vec::new();
    for offset in (0..).step_by(100) {
        let answer = ask(page(100, offset)).await.unwrap();
        let last = answer.items.len() < 100;
        items.extend(answer.items);
        if last {
            return items;
        }
    }
    unreachable!("an endless range")
}

/// The values of `column` in a CSV file of the fixtures' specification.
pub(super) fn specification_column(file: &str, column: &str) -> Vec<String> {
    let mut reader = csv::Reader::from_path(fixtures().join("specification").join(file)).unwrap();
    let at = reader.headers().unwrap().iter().position(|h| h == column);
    let at = at.unwrap_or_else(|| panic!("{file} has no {column} column"));
    reader
        .records()
        .map(|record| record.unwrap()[at].to_owned())
        .collect()
}

/// The in-memory fake holding every row the archive and the CSV sources hold, read through
/// their ports: it is then held to the same answers as they are.
pub(super) async fn memory_copy(
    archive: &ParquetArchive,
    log: &CsvCollectionLog,
    catalog: &CsvSpecification,
    configuration: &CsvConfiguration,
) -> MemoryMetadata {
    use futures::TryStreamExt;
    // An issue query names its datasets: every one the log counts.
    let datasets = every(|page| {
        let query = IssueCountQuery::parse("dataset", IssueFilters::default(), page).unwrap();
        async move { archive.issue_counts(&query).await }
    })
    .await;
    let mut everything = IssueFilters::default();
    for group in datasets {
        let (_, dataset) = &group.key[0];
        let dataset = dataset.clone().expect("every issue has a dataset");
        everything
            .dataset
            .push(FilterValue::parse("dataset", dataset).unwrap());
    }
    let whole = IssueQuery::new(everything, Page::default()).unwrap();
    let issues = archive
        .export(&whole)
        .await
        .unwrap()
        .try_concat()
        .await
        .unwrap();
    let mut performance = Vec::new();
    for table in archive.tables().await.unwrap() {
        let rows = every(|page| {
            let query = PerformanceQuery {
                table,
                dataset: None,
                organisation: None,
                page,
            };
            async move { archive.rows(&query).await }
        })
        .await;
        performance.push((table, rows));
    }
    let specifications = every(|page| {
        let query = SpecificationQuery {
            dataset: None,
            page,
        };
        async move { archive.datasets(&query).await }
    })
    .await;
    let mut catalog_datasets = Vec::new();
    for name in specification_column("dataset.csv", "dataset") {
        catalog_datasets.push(catalog.dataset(&name).await.unwrap());
    }
    let mut catalog_fields = Vec::new();
    for name in specification_column("field.csv", "field") {
        catalog_fields.push(catalog.field(&name).await.unwrap());
    }
    let collection_log = every(|page| {
        let query = CollectionLogQuery {
            filters: CollectionFilters::default(),
            page,
        };
        async move { log.log_entries(&query).await }
    })
    .await;
    let resources = every(|page| {
        let query = ResourceQuery {
            filters: CollectionFilters::default(),
            page,
        };
        async move { log.resources(&query).await }
    })
    .await;
    let mut tables = vec![ConfigurationTable::Endpoints, ConfigurationTable::Sources];
    tables.extend(RuleKind::ALL.into_iter().map(ConfigurationTable::Rules));
    let mut collections: Vec<String> = ["collection", "pipeline"]
        .into_iter()
        .flat_map(|part| std::fs::read_dir(fixtures().join("config").join(part)).unwrap())
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    collections.sort();
    collections.dedup();
    let mut configured = Vec::new();
    for collection in collections {
        for table in &tables {
            let query = |page| ConfigurationQuery {
                collection: CollectionName::parse(&collection).unwrap(),
                table: *table,
                page,
            };
            match configuration.rows(&query(Page::default())).await {
                Err(Error::NotFound { .. }) => continue,
                other => {
                    other.unwrap();
                }
            }
            let rows = every(|page| {
                let query = query(page);
                async move { configuration.rows(&query).await }
            })
            .await;
            configured.push((collection.clone(), *table, rows));
        }
    }
    MemoryMetadata {
        configuration: configured,
        issues,
        performance,
        specifications,
        catalog_datasets,
        catalog_fields,
        collection_log,
        resources,
        issue_version: None,
    }
}
