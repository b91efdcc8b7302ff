//! The specification catalog and the pipeline configuration, and a Datasette that pages its
//! tables.

use super::*;

#[tokio::test]
async fn a_datasette_that_pages_its_tables_is_read_to_the_end() {
    let copy = legacy_copy().await;
    // Ten rows a page: the sixteen specifications take two pages of `next_url`, and the copy's
    // two dozen tables are listed in several answers.
    let server = DatasetteServer::start(
        copy,
        &[("max_returned_rows", "10"), ("default_page_size", "10")],
    )
    .await;
    let http = Datasette::open_http(std::slice::from_ref(&server.url))
        .await
        .unwrap();
    let files = Datasette::open_files(&[copy.to_owned()]).await.unwrap();
    let query = SpecificationQuery {
        dataset: None,
        page: page(100, 0),
    };
    let paged = http.datasets(&query).await.unwrap();
    assert_eq!(paged, files.datasets(&query).await.unwrap());
    assert!(paged.total > 10, "{}", paged.total);
}

#[tokio::test]
async fn the_specification_tables_are_the_same_from_every_adapter() {
    let adapters = adapters().await;
    for dataset in ["conservation-area", "address", "tree", "no-such-dataset"] {
        let entry = same_everywhere!(adapters.catalogs, |c| c.dataset(dataset));
        if dataset == "no-such-dataset" {
            assert!(matches!(entry, Err(Error::NotFound { .. })), "{entry:?}");
        } else {
            let entry = entry.unwrap();
            assert!(!entry.fields.is_empty(), "{dataset}: no fields");
            assert!(
                entry.dataset.get("key-field").is_some(),
                "{dataset}: {entry:?}"
            );
        }
    }
    for field in ["reference", "geometry", "no-such-field"] {
        let entry = same_everywhere!(adapters.catalogs, |c| c.field(field));
        if field == "no-such-field" {
            assert!(matches!(entry, Err(Error::NotFound { .. })), "{entry:?}");
        } else {
            assert!(
                !entry.unwrap().datasets.is_empty(),
                "{field}: in no dataset"
            );
        }
    }
}

#[tokio::test]
async fn the_configuration_is_the_same_from_every_adapter() {
    let adapters = adapters().await;
    let mut tables = vec![ConfigurationTable::Endpoints, ConfigurationTable::Sources];
    tables.extend(RuleKind::ALL.into_iter().map(ConfigurationTable::Rules));
    let mut rows_seen = 0;
    for collection in ["border", "listed-building", "no-such-collection"] {
        for table in &tables {
            for (limit, offset) in [(100, 0), (2, 1)] {
                let query = ConfigurationQuery {
                    collection: CollectionName::parse(collection).unwrap(),
                    table: *table,
                    page: page(limit, offset),
                };
                let answer = same_everywhere!(adapters.configurations, |c| c.rows(&query));
                match answer {
                    Ok(paged) => rows_seen += paged.items.len(),
                    Err(Error::NotFound { .. }) => {}
                    Err(other) => panic!("{collection} {table}: {other:?}"),
                }
            }
        }
    }
    assert!(
        rows_seen > 10,
        "the fixtures' configuration has rows to compare"
    );
}
