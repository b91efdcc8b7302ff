//! The issue log port over the archive: pages in the documented order, and counts grouped on
//! the fly.
//!
//! Pages are in the order the replaced service answered: by dataset, by resource, then each
//! row's position in its file (the order the pipeline wrote them). A page of a partitioned log
//! reads only the partitions it falls in (see [`crate::issue_partitions`]); other pages order
//! every matching row, keeping the page.

use std::cmp::Ordering;
use std::collections::HashMap;

use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::SortExpr;
use datafusion::prelude::{DataFrame, Expr, ident, lit};
use futures::{StreamExt, TryStreamExt};
use sluice_domain::metadata::{
    CountOrder, FilterValue, IssueBatches, IssueColumn, IssueCount, IssueCountQuery, IssueFilters,
    IssueLog, IssueQuery, IssueRow, Paged,
};

use crate::ParquetArchive;
use crate::arrow_values::{integers, strings};
use crate::issue_partitions::{Partition, PartitionCounts, covering, plain};
use crate::issue_summary::Summary;

/// The columns of a page.
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

/// The name of a row's position in the log read in file order; no issue column has it.
const POSITION: &str = "sluice_position";

fn ascending(column: &str) -> SortExpr {
    ident(column).sort(true, false)
}

/// The filters as one conjunction, each column equal to its one value or in its list of values.
fn predicate(filters: &IssueFilters) -> Option<Expr> {
    filters
        .iter()
        .map(|(column, values)| {
            let column = ident(column.archive_name());
            match values {
                [one] => column.eq(lit(one.as_str())),
                many => column.in_list(many.iter().map(|v| lit(v.as_str())).collect(), false),
            }
        })
        .reduce(Expr::and)
}

impl ParquetArchive {
    async fn filtered_issues(&self, filters: &IssueFilters) -> crate::Result<DataFrame> {
        filtered(self.issue_frame().await?, filters)
    }

    /// The filtered rows, one stream in file order (see [`Self::issue_frame_in_file_order`]).
    async fn filtered_issues_in_file_order(
        &self,
        filters: &IssueFilters,
    ) -> crate::Result<DataFrame> {
        filtered(self.issue_frame_in_file_order().await?, filters)
    }
}

fn filtered(frame: DataFrame, filters: &IssueFilters) -> crate::Result<DataFrame> {
    Ok(match predicate(filters) {
        Some(predicate) => frame.filter(predicate)?,
        None => frame,
    })
}

/// The rows before a page and the partitions it falls in, with the page's total.
struct PageSpan {
    dataset: String,
    total: u64,
    /// The page's partitions, in order, each with how many of its rows match; empty when the
    /// page is past the end.
    resources: Vec<(String, u64)>,
    /// How many rows of the result come before the first of them.
    before: u64,
}

impl ParquetArchive {
    /// Where a page of one dataset falls, found without sorting: from the partitions' row counts
    /// in their footers when only dataset and resource are filtered, else from a count of the
    /// matching rows per partition (a scan of the filtered columns alone). `None` when the
    /// layout or a value needs the general path.
    async fn page_span(&self, query: &IssueQuery) -> crate::Result<Option<PageSpan>> {
        let filters = query.filters();
        // One dataset's partitions are counted; pages across datasets take the general path.
        let (Some(counts), Some(dataset)) = (
            self.partition_counts(),
            filters.single(IssueColumn::Dataset),
        ) else {
            return Ok(None);
        };
        let values_are_plain = filters
            .dataset
            .iter()
            .chain(&filters.resource)
            .all(|v| plain(v.as_str()));
        if !values_are_plain {
            return Ok(None);
        }
        let mut rows: Vec<(String, u64)> =
            if filters.field.is_empty() && filters.issue_type.is_empty() {
                let Some(partitions) = counts.of(dataset.as_str()).await? else {
                    return Ok(None);
                };
                partitions
                    .iter()
                    .filter(|p| filters.admits(IssueColumn::Resource, Some(&p.resource)))
                    .map(|p| (p.resource.clone(), p.rows))
                    .collect()
            } else {
                self.rows_per_resource(filters).await?
            };
        rows.sort();
        let total = rows.iter().map(|(_, n)| n).sum();
        let (offset, limit) = (query.page().offset(), query.page().limit());
        let (resources, before) =
            covering(rows.iter().map(|(r, n)| (r.as_str(), *n)), offset, limit);
        let matching: HashMap<&str, u64> = rows.iter().map(|(r, n)| (r.as_str(), *n)).collect();
        Ok(Some(PageSpan {
            dataset: dataset.as_str().to_owned(),
            total,
            resources: resources
                .into_iter()
                .map(|r| (r.to_owned(), matching[r]))
                .collect(),
            before,
        }))
    }

    /// How many rows match the filters in each resource partition: from the partitions'
    /// summaries where there are some, else from a count of the filtered rows.
    async fn rows_per_resource(&self, filters: &IssueFilters) -> crate::Result<Vec<(String, u64)>> {
        if let Some(summaries) = self.summaries(filters).await? {
            return Ok(summaries
                .iter()
                .map(|s| {
                    let rows = s.admitted(filters).map(|g| g.rows).sum();
                    (s.resource.clone(), rows)
                })
                .collect());
        }
        let batches = self
            .filtered_issues(filters)
            .await?
            .aggregate(vec![ident("resource")], vec![count(lit(1)).alias(COUNT)])?
            .collect()
            .await?;
        let mut rows = Vec::new();
        for batch in &batches {
            let resources = strings(batch, 0)?;
            let counts = integers(batch, 1)?;
            for (resource, n) in resources.into_iter().zip(counts) {
                rows.push((resource.unwrap_or_default(), n.unwrap_or(0).max(0) as u64));
            }
        }
        Ok(rows)
    }

    /// The rows `offset..offset + limit` of the partitions of `span`: each partition is read
    /// alone in file order, from the first row of the page it holds, for as many rows as it
    /// holds; nothing is sorted, and no other partition is planned or opened.
    async fn page_of_partitions(
        &self,
        span: &PageSpan,
        filters: &IssueFilters,
        offset: usize,
        limit: usize,
    ) -> crate::Result<Vec<IssueRow>> {
        // Dataset and resource are the partition's; the other filters are read.
        let within = IssueFilters {
            dataset: Vec::new(),
            resource: Vec::new(),
            ..filters.clone()
        };
        let mut skip = offset.saturating_sub(usize::try_from(span.before).unwrap_or(usize::MAX));
        if within.iter().next().is_none()
            && let Some(counts) = self.partition_counts()
            && let Some(partitions) = counts.of(&span.dataset).await?
        {
            return read_partition_rows(counts, &partitions, span, skip, limit).await;
        }
        let mut wanted = limit;
        let mut items = Vec::with_capacity(limit);
        for (resource, rows) in &span.resources {
            let rows = usize::try_from(*rows).unwrap_or(usize::MAX);
            if wanted == 0 {
                break;
            }
            if skip >= rows {
                skip -= rows;
                continue;
            }
            let frame = self
                .partition_in_file_order(&span.dataset, resource)
                .await?;
            let batches = filtered(frame, &within)?
                .limit(skip, Some(wanted))?
                .collect()
                .await?;
            let read = issue_rows(&batches)?;
            wanted = wanted.saturating_sub(read.len());
            items.extend(read);
            skip = 0;
        }
        Ok(items)
    }

    /// A page of a frame read in file order (one stream).
    async fn page_in_file_order(
        &self,
        frame: DataFrame,
        skip: usize,
        limit: usize,
    ) -> crate::Result<Vec<IssueRow>> {
        let batches = in_file_order(frame)?
            .limit(skip, Some(limit))?
            .collect()
            .await?;
        issue_rows(&batches)
    }

    /// The frames an export reads one after the other, together in the order of a page.
    ///
    /// A dataset of a partitioned log is one stream of its files in path order, which is the
    /// order of its resources and, within each, of its rows: nothing is sorted, so memory holds
    /// a batch or two whatever the size. Other logs are sorted as a page is, whole.
    async fn export_frames(&self, filters: &IssueFilters) -> crate::Result<Vec<DataFrame>> {
        if let Some(frames) = self.export_by_partition(filters).await? {
            return Ok(frames);
        }
        let in_order = self.filtered_issues_in_file_order(filters).await?;
        Ok(vec![in_file_order(in_order)?])
    }

    async fn export_by_partition(
        &self,
        filters: &IssueFilters,
    ) -> crate::Result<Option<Vec<DataFrame>>> {
        let Some(counts) = self.partition_counts() else {
            return Ok(None);
        };
        let values_are_plain = filters
            .dataset
            .iter()
            .chain(&filters.resource)
            .all(|v| plain(v.as_str()));
        if filters.dataset.is_empty() || !values_are_plain {
            return Ok(None);
        }
        let mut datasets = filters.dataset.clone();
        datasets.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        let mut frames = Vec::new();
        for dataset in datasets {
            let Some(partitions) = counts.of(dataset.as_str()).await? else {
                return Ok(None);
            };
            let resources: Vec<&str> = partitions
                .iter()
                .map(|p| p.resource.as_str())
                .filter(|r| filters.admits(IssueColumn::Resource, Some(r)))
                .collect();
            let one_dataset = IssueFilters {
                dataset: vec![dataset.clone()],
                ..filters.clone()
            };
            // `resource=<r>/` sorts as `<r>` does, unless one resource's name continues
            // another's with a character that sorts before `/` (`a` and `a-b`): then each
            // partition is read on its own, in resource order.
            let mut by_path = resources.clone();
            by_path.sort_by_key(|r| format!("{r}/"));
            if by_path == resources {
                let frame = self.filtered_issues_in_file_order(&one_dataset).await?;
                frames.push(frame.select_columns(&ISSUE_COLUMNS)?);
                continue;
            }
            for resource in resources {
                // A partition's name is plain, so it is a filter value.
                let resource = FilterValue::parse("resource", resource.to_owned())
                    .map_err(|e| crate::Error::Shape(e.to_string()))?;
                let one_resource = IssueFilters {
                    resource: vec![resource],
                    ..one_dataset.clone()
                };
                let frame = self.filtered_issues_in_file_order(&one_resource).await?;
                frames.push(frame.select_columns(&ISSUE_COLUMNS)?);
            }
        }
        Ok(Some(frames))
    }
}

/// The rows `skip..skip + limit` of the partitions of `span`, unfiltered, read straight from
/// their files: each file's row count is known, so only the files the page falls in are opened,
/// and of those only the rows it holds are decoded. Nothing is planned: a page of a dataset of
/// any size costs what reading its few rows costs.
async fn read_partition_rows(
    counts: &PartitionCounts,
    partitions: &[Partition],
    span: &PageSpan,
    mut skip: usize,
    limit: usize,
) -> crate::Result<Vec<IssueRow>> {
    let mut wanted = limit;
    let mut items = Vec::with_capacity(limit);
    for (resource, _) in &span.resources {
        // Listed in resource order, as the span's resources come from the same listing.
        let Ok(found) = partitions.binary_search_by(|p| p.resource.as_str().cmp(resource)) else {
            continue;
        };
        for (file, rows) in &partitions[found].files {
            let rows = usize::try_from(*rows).unwrap_or(usize::MAX);
            if wanted == 0 {
                return Ok(items);
            }
            if skip >= rows {
                skip -= rows;
                continue;
            }
            let take = wanted.min(rows - skip);
            let batches = counts.read_rows(file, skip, take).await?;
            for batch in &batches {
                items.extend(rows_as_written(&span.dataset, resource, batch)?);
            }
            wanted -= take;
            skip = 0;
        }
    }
    Ok(items)
}

/// A batch read from a partition's file, as issues: its columns found by name, whatever their
/// widths, a missing one null.
fn rows_as_written(
    dataset: &str,
    resource: &str,
    batch: &RecordBatch,
) -> crate::Result<Vec<IssueRow>> {
    let column = |name: &str| batch.schema().index_of(name).ok();
    let text = |name: &str| -> crate::Result<Vec<Option<String>>> {
        column(name).map_or_else(|| Ok(vec![None; batch.num_rows()]), |i| strings(batch, i))
    };
    let number = |name: &str| -> crate::Result<Vec<Option<i64>>> {
        column(name).map_or_else(|| Ok(vec![None; batch.num_rows()]), |i| integers(batch, i))
    };
    let (line_number, entry_number) = (number("line-number")?, number("entry-number")?);
    let (field, issue_type) = (text("field")?, text("issue-type")?);
    let (value, message) = (text("value")?, text("message")?);
    Ok((0..batch.num_rows())
        .map(|row| IssueRow {
            dataset: dataset.to_owned(),
            resource: resource.to_owned(),
            line_number: line_number[row],
            entry_number: entry_number[row],
            field: field[row].clone(),
            issue_type: issue_type[row].clone(),
            value: value[row].clone(),
            message: message[row].clone(),
        })
        .collect())
}

/// A frame read in file order (one stream), sorted by dataset, resource, then each row's
/// position in that stream, which within a resource is its file's order.
fn in_file_order(frame: DataFrame) -> crate::Result<DataFrame> {
    // Files are read in path order, which is not the datasets' order ("a/…" after "a-b/…"):
    // the sort puts datasets and resources in order and keeps each one's rows as read.
    Ok(frame
        .select_columns(&ISSUE_COLUMNS)?
        .window(vec![row_number().alias(POSITION)])?
        .sort(vec![
            ascending("dataset"),
            ascending("resource"),
            ascending(POSITION),
        ])?
        .select_columns(&ISSUE_COLUMNS)?)
}

/// Issue counts added up from the partitions' summaries, in the query's order.
fn counts_from_summaries(summaries: &[Summary], query: &IssueCountQuery) -> Paged<IssueCount> {
    let columns = query.group_by();
    let mut totals: HashMap<Vec<Option<&str>>, u64> = HashMap::new();
    for summary in summaries {
        for group in summary.admitted(query.filters()) {
            let key = columns.iter().map(|c| summary.value(group, *c)).collect();
            *totals.entry(key).or_default() += group.rows;
        }
    }
    let mut groups: Vec<(Vec<Option<&str>>, u64)> = totals.into_iter().collect();
    // Ascending, unknown values last, as the engine sorts the same groups.
    let by_key = |a: &[Option<&str>], b: &[Option<&str>]| {
        a.iter()
            .zip(b)
            .map(|(a, b)| match (a, b) {
                (Some(a), Some(b)) => a.cmp(b),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    };
    groups.sort_by(|(a, n), (b, m)| match query.order() {
        CountOrder::LargestFirst => m.cmp(n).then_with(|| by_key(a, b)),
        CountOrder::SmallestFirst => n.cmp(m).then_with(|| by_key(a, b)),
        CountOrder::ByKey => by_key(a, b),
    });
    let groups = groups
        .into_iter()
        .map(|(key, count)| IssueCount {
            key: columns
                .iter()
                .zip(key)
                .map(|(column, value)| (*column, value.map(str::to_owned)))
                .collect(),
            count,
        })
        .collect();
    Paged::cut(groups, query.page())
}

fn issue_rows(batches: &[RecordBatch]) -> crate::Result<Vec<IssueRow>> {
    let mut items = Vec::new();
    for batch in batches {
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
    Ok(items)
}

#[async_trait]
impl IssueLog for ParquetArchive {
    async fn issues(&self, query: &IssueQuery) -> sluice_domain::Result<Paged<IssueRow>> {
        let (offset, limit) = query.page().window();
        if let Some(span) = self.page_span(query).await? {
            let items = self
                .page_of_partitions(&span, query.filters(), offset, limit)
                .await?;
            return Ok(Paged {
                items,
                total: span.total,
            });
        }
        let frame = self.filtered_issues(query.filters()).await?;
        // The count and the page are independent scans; run them side by side.
        let in_order = self.filtered_issues_in_file_order(query.filters()).await?;
        let (total, items) = tokio::try_join!(
            async { frame.clone().count().await.map_err(crate::Error::from) },
            self.page_in_file_order(in_order, offset, limit)
        )?;
        Ok(Paged {
            items,
            total: total as u64,
        })
    }

    async fn export(&self, query: &IssueQuery) -> sluice_domain::Result<IssueBatches> {
        let frames = self.export_frames(query.filters()).await?;
        let batches = futures::stream::iter(frames)
            .then(|frame| frame.execute_stream())
            .try_flatten()
            .map(|batch| {
                let batch = batch.map_err(crate::Error::from)?;
                Ok(issue_rows(std::slice::from_ref(&batch))?)
            });
        Ok(Box::pin(batches))
    }

    async fn version(&self, filters: &IssueFilters) -> sluice_domain::Result<Option<String>> {
        Ok(self.issue_version(filters).await?)
    }

    async fn issue_counts(
        &self,
        query: &IssueCountQuery,
    ) -> sluice_domain::Result<Paged<IssueCount>> {
        if let Some(summaries) = self.summaries(query.filters()).await? {
            return Ok(counts_from_summaries(&summaries, query));
        }
        let frame = self.filtered_issues(query.filters()).await?;
        let columns = query.group_by();
        let keys: Vec<&str> = columns.iter().map(|c| c.archive_name()).collect();
        let by_key = keys.iter().map(|k| ascending(k));
        let order: Vec<SortExpr> = match query.order() {
            CountOrder::LargestFirst => std::iter::once(ident(COUNT).sort(false, false))
                .chain(by_key)
                .collect(),
            CountOrder::SmallestFirst => std::iter::once(ident(COUNT).sort(true, false))
                .chain(by_key)
                .collect(),
            CountOrder::ByKey => by_key.collect(),
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ArchiveSettings;
    use crate::test_archive::{write_issue_file, write_issues};
    use sluice_domain::page::Page;

    #[tokio::test]
    async fn pages_across_partitions_hold_the_rows_of_each_file_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log/issue/dataset=d");
        let fields: Vec<String> = (0..7).map(|i| format!("f{i}")).collect();
        let first: Vec<&str> = fields.iter().map(String::as_str).collect();
        write_issues(&log.join("resource=r1"), &first);
        // A second file of r1, read after the first (path order).
        write_issue_file(&log.join("resource=r1"), "later.parquet", &first[..2]);
        write_issues(&log.join("resource=r2"), &first[..5]);
        let archive = ParquetArchive::open(ArchiveSettings::at(dir.path().to_string_lossy()))
            .await
            .unwrap();
        // Every row in the page order: r1's seven and two, then r2's five, each in its file's
        // order.
        let every: Vec<(String, i64, String)> = [("r1", 7), ("r1", 2), ("r2", 5)]
            .iter()
            .flat_map(|(r, n)| {
                (1..=*n).map(move |line| {
                    let kind = if line % 3 == 0 { "missing" } else { "invalid" };
                    ((*r).to_owned(), line, kind.to_owned())
                })
            })
            .collect();
        for issue_type in [None, Some("missing"), Some("invalid")] {
            let expected: Vec<_> = every
                .iter()
                .filter(|(_, _, kind)| issue_type.is_none_or(|t| t == kind))
                .collect();
            for (offset, limit) in [(0, 3), (2, 3), (5, 4), (6, 10), (8, 2), (11, 5), (30, 5)] {
                let filters = IssueFilters {
                    dataset: FilterValue::list("dataset", vec!["d".into()]).unwrap(),
                    issue_type: FilterValue::list(
                        "issue_type",
                        issue_type.map(str::to_owned).into_iter().collect(),
                    )
                    .unwrap(),
                    ..IssueFilters::default()
                };
                let page = Page::new(Some(limit), Some(offset)).unwrap();
                let answer = archive
                    .issues(&IssueQuery::new(filters, page).unwrap())
                    .await
                    .unwrap();
                let got: Vec<_> = answer
                    .items
                    .iter()
                    .map(|r| {
                        (
                            r.resource.clone(),
                            r.line_number.unwrap(),
                            r.issue_type.clone().unwrap(),
                        )
                    })
                    .collect();
                let want: Vec<_> = expected
                    .iter()
                    .skip(offset as usize)
                    .take(limit as usize)
                    .map(|row| (*row).clone())
                    .collect();
                assert_eq!(got, want, "{issue_type:?} {offset}+{limit}");
                assert_eq!(answer.total, expected.len() as u64);
            }
        }
    }
}
