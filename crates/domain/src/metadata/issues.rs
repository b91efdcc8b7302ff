//! The issue log: one row per problem a pipeline found in a resource (a line and field of a
//! processed file), and counts of them grouped on the fly.

use std::fmt;

use super::query::FilterValue;
use crate::page::Page;
use crate::{Error, Result};

/// One logged issue. Numbers the log does not know are `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRow {
    pub dataset: String,
    pub resource: String,
    pub line_number: Option<i64>,
    pub entry_number: Option<i64>,
    pub field: Option<String>,
    pub issue_type: Option<String>,
    pub value: Option<String>,
    pub message: Option<String>,
}

/// The columns of the issue log that can be filtered and grouped on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IssueColumn {
    Dataset,
    Resource,
    Field,
    IssueType,
}

impl IssueColumn {
    pub const ALL: [IssueColumn; 4] = [
        IssueColumn::Dataset,
        IssueColumn::Resource,
        IssueColumn::Field,
        IssueColumn::IssueType,
    ];

    /// The column's name in the archive (hyphenated).
    pub fn archive_name(self) -> &'static str {
        match self {
            Self::Dataset => "dataset",
            Self::Resource => "resource",
            Self::Field => "field",
            Self::IssueType => "issue-type",
        }
    }

    /// Accepts the archive's name or its underscore spelling (`issue-type`, `issue_type`).
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.archive_name() == raw || c.archive_name().replace('-', "_") == raw)
    }
}

impl fmt::Display for IssueColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.archive_name())
    }
}

/// Filters on the issue log: a row matches when, for every column given values, its value is
/// one of them; a column with no values matches every row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueFilters {
    pub dataset: Vec<FilterValue>,
    pub resource: Vec<FilterValue>,
    pub field: Vec<FilterValue>,
    pub issue_type: Vec<FilterValue>,
}

impl IssueFilters {
    /// The filters that are set, with the column each applies to and its accepted values.
    pub fn iter(&self) -> impl Iterator<Item = (IssueColumn, &[FilterValue])> {
        [
            (IssueColumn::Dataset, self.dataset.as_slice()),
            (IssueColumn::Resource, self.resource.as_slice()),
            (IssueColumn::Field, self.field.as_slice()),
            (IssueColumn::IssueType, self.issue_type.as_slice()),
        ]
        .into_iter()
        .filter(|(_, values)| !values.is_empty())
    }

    /// The one value a column is filtered on, when it is filtered on exactly one.
    pub fn single(&self, column: IssueColumn) -> Option<&FilterValue> {
        match self.values(column) {
            [one] => Some(one),
            _ => None,
        }
    }

    /// The values a column is filtered on (none: any value).
    pub fn values(&self, column: IssueColumn) -> &[FilterValue] {
        match column {
            IssueColumn::Dataset => &self.dataset,
            IssueColumn::Resource => &self.resource,
            IssueColumn::Field => &self.field,
            IssueColumn::IssueType => &self.issue_type,
        }
    }

    /// Whether a row whose `column` holds `value` passes that column's filter.
    pub fn admits(&self, column: IssueColumn, value: Option<&str>) -> bool {
        let wanted = self.values(column);
        wanted.is_empty() || value.is_some_and(|v| wanted.iter().any(|w| w.as_str() == v))
    }
}

/// A page of the issue log of one dataset.
///
/// Rows come in one documented, stable order, the one the service Sluice replaces answered in:
/// by dataset, by resource, then each row's position in its file (the order the pipeline wrote
/// them), so paging through a result that does not change sees every row exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueQuery {
    filters: IssueFilters,
    page: Page,
}

impl IssueQuery {
    /// # Errors
    /// `Invalid` pointing at `/dataset` when the filters do not name a dataset: the log of every
    /// dataset at once is not a page anyone reads.
    pub fn new(filters: IssueFilters, page: Page) -> Result<Self> {
        if filters.dataset.is_empty() {
            return Err(Error::invalid(
                crate::FieldPath::new("dataset"),
                "is required",
            ));
        }
        Ok(Self { filters, page })
    }

    pub fn filters(&self) -> &IssueFilters {
        &self.filters
    }

    pub fn page(&self) -> Page {
        self.page
    }
}

/// The order of issue counts. Groups of equal count, and groups under [`CountOrder::ByKey`],
/// come in ascending order of their values (unknown values last), so every order is stable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CountOrder {
    /// Largest count first: the groups that matter most.
    #[default]
    LargestFirst,
    SmallestFirst,
    /// By the groups' values alone, as a listing of them reads.
    ByKey,
}

impl CountOrder {
    /// The names a client orders by: `-count`, `count`, `key`.
    pub const NAMES: [(&'static str, CountOrder); 3] = [
        ("-count", CountOrder::LargestFirst),
        ("count", CountOrder::SmallestFirst),
        ("key", CountOrder::ByKey),
    ];

    /// # Errors
    /// `Invalid` pointing at `/order_by` when `raw` is not one of [`CountOrder::NAMES`].
    pub fn parse(raw: &str) -> Result<Self> {
        Self::NAMES
            .iter()
            .find(|(name, _)| *name == raw)
            .map(|(_, order)| *order)
            .ok_or_else(|| {
                let names: Vec<_> = Self::NAMES.iter().map(|(name, _)| *name).collect();
                Error::invalid(
                    crate::FieldPath::new("order_by"),
                    format!("'{raw}' is not an order; use one of {}", names.join(", ")),
                )
            })
    }
}

/// Issue counts grouped by some columns, in a [`CountOrder`] (largest first unless asked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueCountQuery {
    group_by: Vec<IssueColumn>,
    filters: IssueFilters,
    order: CountOrder,
    page: Page,
}

impl IssueCountQuery {
    /// `group_by` is the comma-separated list the client sent, e.g. `dataset,issue-type`.
    ///
    /// # Errors
    /// `Invalid` pointing at `/group_by` when it is empty, names an unknown column or names one
    /// twice.
    pub fn parse(group_by: &str, filters: IssueFilters, page: Page) -> Result<Self> {
        let mut columns = Vec::new();
        for raw in group_by.split(',').map(str::trim) {
            let column = IssueColumn::parse(raw).ok_or_else(|| {
                let known: Vec<_> = IssueColumn::ALL.iter().map(|c| c.archive_name()).collect();
                Error::invalid(
                    crate::FieldPath::new("group_by"),
                    format!(
                        "'{raw}' is not a column to group by; use {}",
                        known.join(", ")
                    ),
                )
            })?;
            if columns.contains(&column) {
                return Err(Error::invalid(
                    crate::FieldPath::new("group_by"),
                    format!("'{raw}' is named twice"),
                ));
            }
            columns.push(column);
        }
        Ok(Self {
            group_by: columns,
            filters,
            order: CountOrder::default(),
            page,
        })
    }

    #[must_use]
    pub fn ordered(self, order: CountOrder) -> Self {
        Self { order, ..self }
    }

    pub fn group_by(&self) -> &[IssueColumn] {
        &self.group_by
    }

    pub fn order(&self) -> CountOrder {
        self.order
    }

    pub fn filters(&self) -> &IssueFilters {
        &self.filters
    }

    pub fn page(&self) -> Page {
        self.page
    }
}

/// How many issues one group holds; `key` holds the group's value of each column of the query's
/// `group_by`, in its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueCount {
    pub key: Vec<(IssueColumn, Option<String>)>,
    pub count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters() -> IssueFilters {
        IssueFilters::default()
    }

    #[test]
    fn an_issue_query_without_a_dataset_is_refused() {
        let err = IssueQuery::new(filters(), Page::default()).unwrap_err();
        assert!(matches!(err, Error::Invalid(v) if v[0].path.to_string() == "/dataset"));
    }

    #[test]
    fn group_by_accepts_hyphenated_and_underscored_names_in_order() {
        let q = IssueCountQuery::parse("issue_type, dataset,field", filters(), Page::default())
            .unwrap();
        assert_eq!(
            q.group_by(),
            [
                IssueColumn::IssueType,
                IssueColumn::Dataset,
                IssueColumn::Field
            ]
        );
        let q = IssueCountQuery::parse("issue-type", filters(), Page::default()).unwrap();
        assert_eq!(q.group_by(), [IssueColumn::IssueType]);
    }

    #[test]
    fn group_by_refuses_unknown_empty_and_repeated_columns() {
        for bad in [
            "value",
            "",
            "dataset,",
            "dataset,dataset",
            "dataset;drop table issue",
        ] {
            let err = IssueCountQuery::parse(bad, filters(), Page::default()).unwrap_err();
            assert!(
                matches!(&err, Error::Invalid(v) if v[0].path.to_string() == "/group_by"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn count_orders_come_from_an_allow_list() {
        assert_eq!(
            CountOrder::parse("-count").unwrap(),
            CountOrder::LargestFirst
        );
        assert_eq!(CountOrder::parse("key").unwrap(), CountOrder::ByKey);
        for bad in ["", "-key", "count desc", "n"] {
            let err = CountOrder::parse(bad).unwrap_err();
            assert!(matches!(&err, Error::Invalid(v) if v[0].path.to_string() == "/order_by"));
        }
    }

    #[test]
    fn a_row_passes_a_filter_when_its_value_is_one_of_those_given() {
        let value = |raw: &str| FilterValue::parse("x", raw.to_owned()).unwrap();
        let filters = IssueFilters {
            dataset: vec![value("a"), value("b")],
            ..IssueFilters::default()
        };
        assert!(filters.admits(IssueColumn::Dataset, Some("b")));
        assert!(!filters.admits(IssueColumn::Dataset, Some("c")));
        assert!(!filters.admits(IssueColumn::Dataset, None));
        assert!(
            filters.admits(IssueColumn::Field, None),
            "no filter: any value"
        );
        assert_eq!(filters.single(IssueColumn::Dataset), None);
    }

    #[test]
    fn an_empty_filter_value_is_refused() {
        let err = FilterValue::parse("resource", String::new()).unwrap_err();
        assert!(matches!(err, Error::Invalid(v) if v[0].path.to_string() == "/resource"));
    }
}
