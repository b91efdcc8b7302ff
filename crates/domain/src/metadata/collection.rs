//! The collection log: one entry per fetch of an endpoint (when, how long, what status), and the
//! resources those fetches produced, each listing the organisations, datasets and endpoints it
//! belongs to. Rows are text, keyed by the log's own hyphenated column names.
//!
//! The rules that relate them live here, once, so that every adapter answers alike:
//!
//! - a list cell (`organisations`, `datasets`, `endpoints`) holds values separated by `;`, and a
//!   value is in it when `;value;` occurs in `;cell;`;
//! - a resource matches `dataset`, `organisation` or `endpoint` when its list holds the value;
//! - a log entry matches `dataset` or `organisation` when a resource fetched from the entry's
//!   endpoint lists it (so failed fetches, which produced no resource, still belong to the
//!   datasets their endpoint feeds);
//! - log entries come in order of `entry-date`, `endpoint`, `resource`; resources in order of
//!   `start-date`, `resource` (text order, which for these ISO dates is time order).

use std::cmp::Ordering;

use super::query::{FilterValue, Paged};
use super::value::{Record, Value};
use crate::page::Page;

/// The character between the values of a list cell.
pub const LIST_SEPARATOR: char = ';';

/// The columns of the collection log, in the order log entries are sorted on.
pub const LOG_ORDER: [&str; 3] = ["entry-date", "endpoint", "resource"];

/// The columns resources are sorted on.
pub const RESOURCE_ORDER: [&str; 2] = ["start-date", "resource"];

/// Equality and membership filters shared by the log and the resources: a row matches a filter
/// when it matches any of its values; a filter without values matches every row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectionFilters {
    pub dataset: Vec<FilterValue>,
    pub organisation: Vec<FilterValue>,
    pub endpoint: Vec<FilterValue>,
    pub resource: Vec<FilterValue>,
}

/// Whether `wanted` (any value when empty) admits a row by `test` on one of its values.
fn any_of(wanted: &[FilterValue], test: impl Fn(&str) -> bool) -> bool {
    wanted.is_empty() || wanted.iter().any(|v| test(v.as_str()))
}

/// A page of the collection log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionLogQuery {
    pub filters: CollectionFilters,
    pub page: Page,
}

/// A page of the resources the collection produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceQuery {
    pub filters: CollectionFilters,
    pub page: Page,
}

/// Whether a `;`-separated list cell holds `value`.
pub fn list_holds(cell: &str, value: &str) -> bool {
    format!("{LIST_SEPARATOR}{cell}{LIST_SEPARATOR}")
        .contains(&format!("{LIST_SEPARATOR}{value}{LIST_SEPARATOR}"))
}

fn text<'a>(row: &'a Record, column: &str) -> &'a str {
    match row.get(column) {
        Some(Value::Text(s)) => s,
        _ => "",
    }
}

fn compare_on(a: &Record, b: &Record, columns: &[&str]) -> Ordering {
    columns
        .iter()
        .map(|c| text(a, c).cmp(text(b, c)))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

fn resource_matches(resource: &Record, filters: &CollectionFilters) -> bool {
    let held = |column: &str, wanted: &[FilterValue]| {
        any_of(wanted, |v| list_holds(text(resource, column), v))
    };
    held("datasets", &filters.dataset)
        && held("organisations", &filters.organisation)
        && held("endpoints", &filters.endpoint)
        && any_of(&filters.resource, |v| text(resource, "resource") == v)
}

/// The page of `resources` (every row of the resource table) that `query` asks for.
pub fn select_resources(mut resources: Vec<Record>, query: &ResourceQuery) -> Paged<Record> {
    resources.retain(|r| resource_matches(r, &query.filters));
    resources.sort_by(|a, b| compare_on(a, b, &RESOURCE_ORDER));
    Paged::cut(resources, query.page)
}

/// The page of `log` (every entry of the log) that `query` asks for; `resources` are every row
/// of the resource table, which says which datasets and organisations an endpoint feeds.
pub fn select_log(
    mut log: Vec<Record>,
    resources: &[Record],
    query: &CollectionLogQuery,
) -> Paged<Record> {
    let filters = &query.filters;
    let by_resource = CollectionFilters {
        dataset: filters.dataset.clone(),
        organisation: filters.organisation.clone(),
        ..CollectionFilters::default()
    };
    let through_resources = !filters.dataset.is_empty() || !filters.organisation.is_empty();
    log.retain(|entry| {
        let endpoint = text(entry, "endpoint");
        any_of(&filters.endpoint, |v| endpoint == v)
            && any_of(&filters.resource, |v| text(entry, "resource") == v)
            && (!through_resources
                || resources.iter().any(|r| {
                    list_holds(text(r, "endpoints"), endpoint) && resource_matches(r, &by_resource)
                }))
    });
    log.sort_by(|a, b| compare_on(a, b, &LOG_ORDER));
    Paged::cut(log, query.page)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, &str)]) -> Record {
        Record(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::Text((*v).to_owned())))
                .collect(),
        )
    }

    fn value(raw: &str) -> Vec<FilterValue> {
        vec![FilterValue::parse("x", raw.to_owned()).unwrap()]
    }

    fn resources() -> Vec<Record> {
        vec![
            row(&[
                ("resource", "r2"),
                ("organisations", "org:A;org:B"),
                ("datasets", "tree"),
                ("endpoints", "e1;e2"),
                ("start-date", "2021-02-01"),
            ]),
            row(&[
                ("resource", "r1"),
                ("organisations", "org:B"),
                ("datasets", "tree-preservation-zone"),
                ("endpoints", "e3"),
                ("start-date", "2021-01-01"),
            ]),
        ]
    }

    #[test]
    fn list_cells_hold_whole_values_only() {
        assert!(list_holds("a;bb;c", "bb"));
        assert!(list_holds("bb", "bb"));
        assert!(!list_holds("a;bbb", "bb"));
        assert!(!list_holds("", "bb"));
    }

    #[test]
    fn resources_match_on_their_lists_and_come_by_start_date() {
        let all = ResourceQuery {
            filters: CollectionFilters::default(),
            page: Page::default(),
        };
        let names: Vec<_> = select_resources(resources(), &all)
            .items
            .iter()
            .map(|r| text(r, "resource").to_owned())
            .collect();
        assert_eq!(names, ["r1", "r2"]);

        let tree = ResourceQuery {
            filters: CollectionFilters {
                dataset: value("tree"),
                ..Default::default()
            },
            page: Page::default(),
        };
        let found = select_resources(resources(), &tree);
        assert_eq!(found.total, 1);
        assert_eq!(text(&found.items[0], "resource"), "r2");
    }

    #[test]
    fn log_entries_belong_to_the_datasets_their_endpoint_feeds() {
        let log = vec![
            row(&[
                ("entry-date", "2021-03-01"),
                ("endpoint", "e2"),
                ("resource", ""),
            ]),
            row(&[
                ("entry-date", "2021-01-01"),
                ("endpoint", "e3"),
                ("resource", "r1"),
            ]),
            row(&[
                ("entry-date", "2021-02-01"),
                ("endpoint", "e1"),
                ("resource", "r2"),
            ]),
        ];
        let query = |filters| CollectionLogQuery {
            filters,
            page: Page::default(),
        };
        let tree = select_log(
            log.clone(),
            &resources(),
            &query(CollectionFilters {
                dataset: value("tree"),
                ..Default::default()
            }),
        );
        let endpoints: Vec<_> = tree
            .items
            .iter()
            .map(|r| text(r, "endpoint").to_owned())
            .collect();
        // The failed fetch from e2 produced nothing, but e2 feeds tree.
        assert_eq!(endpoints, ["e1", "e2"]);

        let org_b = select_log(
            log.clone(),
            &resources(),
            &query(CollectionFilters {
                organisation: value("org:B"),
                ..Default::default()
            }),
        );
        assert_eq!(org_b.total, 3);
        assert_eq!(text(&org_b.items[0], "endpoint"), "e3", "oldest first");

        let nowhere = select_log(
            log,
            &resources(),
            &query(CollectionFilters {
                dataset: value("tree;tree-preservation-zone"),
                ..Default::default()
            }),
        );
        assert_eq!(nowhere.total, 0);
    }
}
