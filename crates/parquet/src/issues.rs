//! The issue log port over the archive: pages in the documented order, and counts grouped on
//! the fly.

use async_trait::async_trait;
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::SortExpr;
use datafusion::prelude::{DataFrame, Expr, ident, lit};
use sluice_domain::metadata::{
    IssueCount, IssueCountQuery, IssueFilters, IssueLog, IssueQuery, IssueRow, Paged,
};

use crate::ParquetArchive;
use crate::arrow_values::{integers, strings};

/// The columns of a page, in the order of [`IssueQuery`]'s documented sort.
const ISSUE_COLUMNS: [&str; 8] = [
    "dataset",
    "resource",
    "line-number",
    "entry-number",
    "field",
    "issue-type",
    "value",
    "message",
];

/// The name of the count column of a grouped query; no issue column has it.
const COUNT: &str = "count";

fn ascending(column: &str) -> SortExpr {
    ident(column).sort(true, false)
}

/// The filters as one conjunction of equalities on literal values.
fn predicate(filters: &IssueFilters) -> Option<Expr> {
    filters
        .iter()
        .map(|(column, value)| ident(column.archive_name()).eq(lit(value.as_str())))
        .reduce(Expr::and)
}

impl ParquetArchive {
    async fn filtered_issues(&self, filters: &IssueFilters) -> crate::Result<DataFrame> {
        let frame = self.issue_frame().await?;
        Ok(match predicate(filters) {
            Some(predicate) => frame.filter(predicate)?,
            None => frame,
        })
    }
}

#[async_trait]
impl IssueLog for ParquetArchive {
    async fn issues(&self, query: &IssueQuery) -> sluice_domain::Result<Paged<IssueRow>> {
        let frame = self.filtered_issues(query.filters()).await?;
        let (offset, limit) = query.page().window();
        let page = frame
            .clone()
            .select_columns(&ISSUE_COLUMNS)
            .and_then(|f| f.sort(ISSUE_COLUMNS.iter().map(|c| ascending(c)).collect()))
            .and_then(|f| f.limit(offset, Some(limit)))
            .map_err(crate::Error::from)?;
        // The count and the page are independent scans; run them side by side.
        let (total, batches) =
            tokio::try_join!(frame.count(), page.collect()).map_err(crate::Error::from)?;

        let mut items = Vec::new();
        for batch in &batches {
            let dataset = strings(batch, 0)?;
            let resource = strings(batch, 1)?;
            let line_number = integers(batch, 2)?;
            let entry_number = integers(batch, 3)?;
            let field = strings(batch, 4)?;
            let issue_type = strings(batch, 5)?;
            let value = strings(batch, 6)?;
            let message = strings(batch, 7)?;
            for row in 0..batch.num_rows() {
                items.push(IssueRow {
                    dataset: dataset[row].clone().unwrap_or_default(),
                    resource: resource[row].clone().unwrap_or_default(),
                    line_number: line_number[row],
                    entry_number: entry_number[row],
                    field: field[row].clone(),
                    issue_type: issue_type[row].clone(),
                    value: value[row].clone(),
                    message: message[row].clone(),
                });
            }
        }
        Ok(Paged {
            items,
            total: total as u64,
        })
    }

    async fn issue_counts(
        &self,
        query: &IssueCountQuery,
    ) -> sluice_domain::Result<Paged<IssueCount>> {
        let frame = self.filtered_issues(query.filters()).await?;
        let columns = query.group_by();
        let keys: Vec<&str> = columns.iter().map(|c| c.archive_name()).collect();
        let mut order = vec![ident(COUNT).sort(false, false)];
        order.extend(keys.iter().map(|k| ascending(k)));
        // Every group is collected and the page cut here: the number of groups is small next to
        // the rows they count, and the total needs them all anyway.
        let batches = frame
            .aggregate(
                keys.iter().map(|k| ident(*k)).collect(),
                vec![count(lit(1)).alias(COUNT)],
            )
            .and_then(|f| f.sort(order))
            .map_err(crate::Error::from)?
            .collect()
            .await
            .map_err(crate::Error::from)?;

        let mut groups = Vec::new();
        for batch in &batches {
            let key_columns = (0..keys.len())
                .map(|i| strings(batch, i))
                .collect::<crate::Result<Vec<_>>>()?;
            let counts = integers(batch, keys.len())?;
            for row in 0..batch.num_rows() {
                groups.push(IssueCount {
                    key: columns
                        .iter()
                        .zip(&key_columns)
                        .map(|(column, values)| (*column, values[row].clone()))
                        .collect(),
                    count: counts[row].unwrap_or(0).max(0) as u64,
                });
            }
        }
        Ok(Paged::cut(groups, query.page()))
    }
}
