//! The issue log, performance and specifications: pages, counts, orders and exports.

use super::*;

#[tokio::test]
async fn issue_pages_are_the_same_from_every_adapter() {
    let adapters = adapters().await;
    for (pairs, limit, offset) in [
        (vec![("dataset", "conservation-area")], 100, 0),
        (vec![("dataset", "conservation-area")], 50, 20_000),
        (
            vec![
                ("dataset", "conservation-area-document"),
                ("issue_type", "invalid URI"),
            ],
            100,
            300,
        ),
        (
            vec![
                ("dataset", "conservation-area-document"),
                ("field", "document-url"),
            ],
            30,
            5,
        ),
        (
            vec![
                ("dataset", "border"),
                (
                    "resource",
                    "4a57239e3c1174c80b6d4a0278ab386a7c3664f2e985b2e07a66bbec84988b30",
                ),
            ],
            100,
            0,
        ),
        // Repeated filters: rows whose value is any of those given, across datasets.
        (
            vec![
                ("dataset", "conservation-area"),
                ("dataset", "border"),
                ("issue_type", "invalid URI"),
                ("issue_type", "missing value"),
            ],
            100,
            0,
        ),
        (
            vec![
                ("dataset", "conservation-area-document"),
                ("dataset", "conservation-area"),
            ],
            100,
            19_950,
        ),
    ] {
        let query = IssueQuery::new(filters(&pairs), page(limit, offset)).unwrap();
        let answer = same_everywhere!(adapters.all, |m| m.issues(&query)).unwrap();
        assert!(!answer.items.is_empty(), "{pairs:?}: nothing to compare");
        assert!(answer.total >= answer.items.len() as u64);
    }
}

#[tokio::test]
async fn issue_counts_are_the_same_from_every_adapter() {
    let adapters = adapters().await;
    for (group_by, pairs, offset) in [
        ("dataset,issue-type", vec![], 0),
        ("issue_type", vec![("dataset", "conservation-area")], 0),
        ("resource,field", vec![("dataset", "conservation-area")], 10),
        (
            "field",
            vec![
                ("dataset", "conservation-area-document"),
                ("issue_type", "invalid URI"),
            ],
            0,
        ),
    ] {
        let query = IssueCountQuery::parse(group_by, filters(&pairs), page(50, offset)).unwrap();
        let answer = same_everywhere!(adapters.all, |m| m.issue_counts(&query)).unwrap();
        assert!(!answer.items.is_empty(), "{group_by}: nothing to compare");
    }
}

#[tokio::test]
async fn issue_counts_come_in_the_order_asked_from_every_adapter() {
    let adapters = adapters().await;
    let by = |order| {
        IssueCountQuery::parse(
            "dataset,issue-type",
            filters(&[("dataset", "conservation-area"), ("dataset", "border")]),
            page(100, 0),
        )
        .unwrap()
        .ordered(order)
    };
    let largest = same_everywhere!(adapters.all, |m| m
        .issue_counts(&by(CountOrder::LargestFirst)))
    .unwrap();
    let smallest = same_everywhere!(adapters.all, |m| m
        .issue_counts(&by(CountOrder::SmallestFirst)))
    .unwrap();
    let by_key =
        same_everywhere!(adapters.all, |m| m.issue_counts(&by(CountOrder::ByKey))).unwrap();
    let counts: Vec<u64> = largest.items.iter().map(|g| g.count).collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
    let counts: Vec<u64> = smallest.items.iter().map(|g| g.count).collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
    // Unknown values sort last.
    let keys: Vec<Vec<String>> = by_key
        .items
        .iter()
        .map(|g| {
            g.key
                .iter()
                .map(|(_, v)| v.clone().unwrap_or_else(|| char::MAX.to_string()))
                .collect()
        })
        .collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "{keys:?}");
    let datasets: std::collections::BTreeSet<_> = keys.iter().map(|k| k[0].clone()).collect();
    assert_eq!(datasets.len(), 2, "both datasets are counted: {datasets:?}");
}

#[tokio::test]
async fn performance_and_specification_are_the_same_from_every_adapter() {
    let adapters = adapters().await;
    let text = |name: &str, v: &str| Some(FilterValue::parse(name, v.to_owned()).unwrap());
    for (dataset, organisation, offset) in [
        (text("dataset", "conservation-area"), None, 0),
        (None, text("organisation", "local-authority:BST"), 0),
        (None, None, 5_000),
    ] {
        let query = PerformanceQuery {
            table: PerformanceTable::ProvisionSummary,
            dataset,
            organisation,
            page: page(100, offset),
        };
        let answer = same_everywhere!(adapters.all, |m| m.rows(&query)).unwrap();
        assert!(!answer.items.is_empty(), "{query:?}: nothing to compare");
    }
    let missing = PerformanceQuery {
        table: PerformanceTable::EndpointDatasetSummary,
        dataset: None,
        organisation: None,
        page: Page::default(),
    };
    for (name, metadata) in &adapters.all {
        assert!(
            matches!(metadata.rows(&missing).await, Err(Error::NotFound { .. })),
            "{name}"
        );
        assert_eq!(
            metadata.tables().await.unwrap(),
            [PerformanceTable::ProvisionSummary],
            "{name}"
        );
    }

    for dataset in [None, text("dataset", "conservation-area")] {
        let query = SpecificationQuery {
            dataset,
            page: page(100, 0),
        };
        let answer = same_everywhere!(adapters.all, |m| m.datasets(&query)).unwrap();
        assert!(!answer.items.is_empty());
    }
}

#[tokio::test]
async fn injection_shaped_values_match_nothing_on_every_adapter() {
    let adapters = adapters().await;
    for value in [
        "x' OR '1'='1",
        "a\"; DROP TABLE issue; --",
        "1 UNION SELECT sql FROM sqlite_master",
    ] {
        let query = IssueQuery::new(
            filters(&[("dataset", value), ("resource", value)]),
            Page::default(),
        )
        .unwrap();
        let answer = same_everywhere!(adapters.all, |m| m.issues(&query)).unwrap();
        assert_eq!(answer.total, 0, "{value}");
        let query = PerformanceQuery {
            table: PerformanceTable::ProvisionSummary,
            dataset: Some(FilterValue::parse("dataset", value.to_owned()).unwrap()),
            organisation: None,
            page: Page::default(),
        };
        let answer = same_everywhere!(adapters.all, |m| m.rows(&query)).unwrap();
        assert_eq!(answer.total, 0, "{value}");
    }
}

#[tokio::test]
async fn an_export_holds_every_page_in_order_on_every_adapter() {
    use futures::TryStreamExt;
    let adapters = adapters().await;
    for pairs in [
        vec![
            ("dataset", "border"),
            ("dataset", "conservation-area-document"),
        ],
        vec![
            ("dataset", "conservation-area"),
            ("issue_type", "missing value"),
            ("issue_type", "invalid date"),
        ],
    ] {
        let whole = IssueQuery::new(filters(&pairs), Page::default()).unwrap();
        let exported = same_everywhere!(adapters.all, |m| async {
            m.export(&whole).await?.try_concat().await
        })
        .unwrap();
        let (_, parquet) = &adapters.all[0];
        let mut paged = Vec::new();
        for offset in (0..).step_by(100) {
            let query = IssueQuery::new(filters(&pairs), page(100, offset)).unwrap();
            let page = parquet.issues(&query).await.unwrap();
            if page.items.is_empty() {
                break;
            }
            paged.extend(page.items);
        }
        assert!(
            exported.len() > EXPORT_CHUNK_OF_DATASETTE,
            "{pairs:?}: {}",
            exported.len()
        );
        assert_eq!(exported, paged, "{pairs:?}");
    }
}

/// More rows than the Datasette adapter reads at once, so that exports span several chunks.
pub(super) const EXPORT_CHUNK_OF_DATASETTE: usize = 1000;
