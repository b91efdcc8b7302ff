//! Performance aggregations the pipelines publish: one table per aggregation, its columns
//! defined by the archive.

use std::fmt;

use super::query::FilterValue;
use crate::page::Page;

/// The aggregations Sluice serves. An archive may hold only some of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PerformanceTable {
    /// One row per organisation and dataset: endpoints and issue counts by severity.
    ProvisionSummary,
    IssueTypeSummary,
    EndpointDatasetSummary,
    DatasetResourceMapping,
}

impl PerformanceTable {
    pub const ALL: [PerformanceTable; 4] = [
        PerformanceTable::ProvisionSummary,
        PerformanceTable::IssueTypeSummary,
        PerformanceTable::EndpointDatasetSummary,
        PerformanceTable::DatasetResourceMapping,
    ];

    /// The table's name in the archive and in the API path.
    pub fn name(self) -> &'static str {
        match self {
            Self::ProvisionSummary => "provision_summary",
            Self::IssueTypeSummary => "issue_type_summary",
            Self::EndpointDatasetSummary => "endpoint_dataset_summary",
            Self::DatasetResourceMapping => "dataset_resource_mapping",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == raw)
    }
}

impl fmt::Display for PerformanceTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A page of one aggregation, filtered on its `dataset` and `organisation` columns.
///
/// Rows come ordered by every column, in the table's column order, ascending with nulls last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerformanceQuery {
    pub table: PerformanceTable,
    pub dataset: Option<FilterValue>,
    pub organisation: Option<FilterValue>,
    pub page: Page,
}

impl PerformanceQuery {
    /// The filters that are set, by the column they apply to.
    pub fn filters(&self) -> impl Iterator<Item = (&'static str, &FilterValue)> {
        [
            ("dataset", &self.dataset),
            ("organisation", &self.organisation),
        ]
        .into_iter()
        .filter_map(|(column, value)| value.as_ref().map(|v| (column, v)))
    }
}
