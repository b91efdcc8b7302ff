//! Pipeline metadata: the rules of each query (a page of issues needs a dataset; counts group on
//! known columns), answered by whichever adapter the configuration chose.

use std::sync::Arc;

use crate::Result;
use crate::metadata::{
    DatasetSpecification, IssueCount, IssueCountQuery, IssueFilters, IssueLog, IssueQuery,
    IssueRow, Paged, PerformanceQuery, PerformanceRepository, Record, SpecificationQuery,
    SpecificationRepository,
};
use crate::page::Page;

#[derive(Clone)]
pub struct MetadataService {
    issues: Arc<dyn IssueLog>,
    performance: Arc<dyn PerformanceRepository>,
    specification: Arc<dyn SpecificationRepository>,
}

impl MetadataService {
    pub fn new(
        issues: Arc<dyn IssueLog>,
        performance: Arc<dyn PerformanceRepository>,
        specification: Arc<dyn SpecificationRepository>,
    ) -> Self {
        Self {
            issues,
            performance,
            specification,
        }
    }

    /// # Errors
    /// `Invalid` pointing at `/dataset` when no dataset is named; the port's errors.
    pub async fn issues(&self, filters: IssueFilters, page: Page) -> Result<Paged<IssueRow>> {
        self.issues.issues(&IssueQuery::new(filters, page)?).await
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
        self.issues.issue_counts(&query).await
    }

    /// # Errors
    /// `NotFound` when the archive does not hold the table; the port's errors.
    pub async fn performance(&self, query: &PerformanceQuery) -> Result<Paged<Record>> {
        self.performance.rows(query).await
    }

    /// # Errors
    /// The port's errors.
    pub async fn specifications(
        &self,
        query: &SpecificationQuery,
    ) -> Result<Paged<DatasetSpecification>> {
        self.specification.datasets(query).await
    }
}
