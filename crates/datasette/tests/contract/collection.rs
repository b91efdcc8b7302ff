//! The collection log and its resources.

use super::*;

pub(super) fn collection_filters(pairs: &[(&str, &str)]) -> CollectionFilters {
    let mut filters = CollectionFilters::default();
    for (name, value) in pairs {
        let value = FilterValue::parse(name, (*value).to_owned()).unwrap();
        match *name {
            "dataset" => filters.dataset.push(value),
            "organisation" => filters.organisation.push(value),
            "endpoint" => filters.endpoint.push(value),
            "resource" => filters.resource.push(value),
            other => panic!("no filter {other}"),
        }
    }
    filters
}

pub(super) fn column<'a>(record: &'a sluice_domain::metadata::Record, name: &str) -> &'a str {
    match record.get(name) {
        Some(Value::Text(text)) => text,
        other => panic!("{name}: {other:?}"),
    }
}

#[tokio::test]
async fn the_collection_log_is_the_same_from_every_adapter() {
    let adapters = adapters().await;
    for (pairs, expected) in [
        (vec![], 9),
        // Fetches from the endpoints feeding it for Southwark, the failed one included.
        (
            vec![
                ("dataset", "listed-building-outline"),
                ("organisation", "local-authority-eng:SWK"),
            ],
            5,
        ),
        (vec![("dataset", "tree")], 3),
        (vec![("organisation", "local-authority-eng:CAT")], 5),
        (vec![("endpoint", FED)], 2),
        (vec![("resource", MULTI)], 1),
        (vec![("dataset", "listed-building")], 0),
        (vec![("dataset", "tree"), ("dataset", "listed-building")], 3),
        (vec![("endpoint", FED), ("endpoint", SHARED)], 3),
        (
            vec![
                ("dataset", "x' OR '1'='1"),
                ("endpoint", "'; DROP TABLE log; --"),
            ],
            0,
        ),
    ] {
        let query = CollectionLogQuery {
            filters: collection_filters(&pairs),
            page: page(100, 0),
        };
        let answer = same_everywhere!(adapters.logs, |m| m.log_entries(&query)).unwrap();
        assert_eq!(answer.total, expected, "{pairs:?}");
        let dates: Vec<&str> = answer
            .items
            .iter()
            .map(|r| column(r, "entry-date"))
            .collect();
        assert!(dates.is_sorted(), "{pairs:?}: {dates:?}");
    }
    let second_page = CollectionLogQuery {
        filters: CollectionFilters::default(),
        page: page(3, 6),
    };
    let answer = same_everywhere!(adapters.logs, |m| m.log_entries(&second_page)).unwrap();
    assert_eq!(answer.items.len(), 3);
    assert_eq!(
        column(&answer.items[0], "content-type"),
        "",
        "the failed fetch"
    );
}

#[tokio::test]
async fn resources_are_the_same_from_every_adapter() {
    let adapters = adapters().await;
    for (pairs, expected) in [
        (vec![], 8),
        (vec![("dataset", "listed-building-outline")], 6),
        (vec![("dataset", "tree")], 1),
        (vec![("endpoint", FED)], 2),
        (
            vec![
                ("organisation", "local-authority-eng:CAT"),
                ("dataset", "locally-listed-building"),
            ],
            1,
        ),
        (vec![("resource", MULTI), ("endpoint", SHARED)], 1),
        (vec![("dataset", "listed-building")], 0),
        // A repeated filter accepts any of its values.
        (
            vec![("dataset", "tree"), ("dataset", "listed-building-outline")],
            6,
        ),
        (
            vec![
                ("dataset", "tree"),
                ("dataset", "locally-listed-building"),
                ("organisation", "local-authority-eng:CAT"),
            ],
            2,
        ),
    ] {
        let query = ResourceQuery {
            filters: collection_filters(&pairs),
            page: page(100, 0),
        };
        let answer = same_everywhere!(adapters.logs, |m| m.resources(&query)).unwrap();
        assert_eq!(answer.total, expected, "{pairs:?}");
    }
}
