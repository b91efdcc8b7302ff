//! The metadata ports over the databases, in the same order and with the same answers as the
//! Parquet archive.

use async_trait::async_trait;
use serde_json::Value as Json;
use sluice_domain::Error as DomainError;
use sluice_domain::metadata::{
    CountOrder, DatasetSpecification, IssueBatches, IssueColumn, IssueCount, IssueCountQuery,
    IssueFilters, IssueLog, IssueQuery, IssueRow, Paged, PerformanceQuery, PerformanceRepository,
    PerformanceTable, Record, SpecificationQuery, SpecificationRepository, Value,
};
use sluice_domain::page::Page;

use crate::backend::{Database, Datasette};
use crate::query::{Placeholders, Sql, quoted};
use crate::{Error, Result};

const ISSUE_TABLE: &str = "issue";

/// The issue table's columns, as a page lists them.
const ISSUE_COLUMNS: [&str; 8] = [
    "dataset",
    "resource",
    "line_number",
    "entry_number",
    "field",
    "issue_type",
    "value",
    "message",
];

/// A column's legacy name: the archive's with underscores.
fn legacy(column: IssueColumn) -> String {
    column.archive_name().replace('-', "_")
}

fn ascending(columns: impl IntoIterator<Item = String>) -> String {
    columns
        .into_iter()
        .map(|c| format!("{} ASC NULLS LAST", quoted(&c)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn push_filters(sql: &mut Sql, filters: &IssueFilters) {
    for (n, (column, values)) in filters.iter().enumerate() {
        sql.push(if n == 0 { " WHERE " } else { " AND " })
            .push(&quoted(&legacy(column)))
            .push(" IN (");
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(value.as_str());
        }
        sql.push(")");
    }
}

/// ` LIMIT … OFFSET …` from a validated page: numbers Sluice made, not client text.
pub(crate) fn push_page(sql: &mut Sql, page: Page) {
    sql.push(&format!(" LIMIT {} OFFSET {}", page.limit(), page.offset()));
}

pub(crate) fn text(value: &Json) -> Option<String> {
    match value {
        Json::Null => None,
        Json::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn integer(value: &Json) -> Result<Option<i64>> {
    match value {
        Json::Null => Ok(None),
        Json::Number(n) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| Error::Shape(format!("{n} is not an integer"))),
        Json::String(s) if s.is_empty() => Ok(None),
        Json::String(s) => s
            .parse()
            .map(Some)
            .map_err(|_| Error::Shape(format!("'{s}' is not an integer"))),
        other => Err(Error::Shape(format!("{other} is not an integer"))),
    }
}

pub(crate) async fn count(database: &dyn Database, sql: &Sql) -> Result<u64> {
    let rows = database.query(sql).await?;
    let value = rows
        .first()
        .and_then(|r| r.first())
        .cloned()
        .unwrap_or(Json::Null);
    Ok(integer(&value)?.unwrap_or(0).max(0) as u64)
}

/// A table's columns, in the table's order.
pub(crate) async fn columns_of(database: &dyn Database, table: &str) -> Result<Vec<String>> {
    let mut describe = Sql::new(database.placeholders());
    describe
        .push("SELECT name FROM pragma_table_info(")
        .bind(table)
        .push(") ORDER BY cid");
    Ok(database
        .query(&describe)
        .await?
        .iter()
        .filter_map(|row| row.first().and_then(text))
        .collect())
}

impl Datasette {
    fn issue_table(&self) -> Option<&dyn Database> {
        self.holding(ISSUE_TABLE)
    }
}

/// A row of the issue table as a page lists its columns.
fn issue_row(row: &[Json]) -> Result<IssueRow> {
    Ok(IssueRow {
        dataset: text(&row[0]).unwrap_or_default(),
        resource: text(&row[1]).unwrap_or_default(),
        line_number: integer(&row[2])?,
        entry_number: integer(&row[3])?,
        field: text(&row[4]),
        issue_type: text(&row[5]),
        value: text(&row[6]),
        message: text(&row[7]),
    })
}

/// The rows an export reads at once: Datasette's default `max_returned_rows`, the most one of
/// its answers holds.
const EXPORT_CHUNK: usize = 1000;

/// The last row an export has read, in the page order (dataset, resource, rowid).
struct ExportMark {
    dataset: String,
    resource: Option<String>,
    rowid: i64,
}

/// The next chunk of an export: the rows after `after` in the page order, found by their keys
/// rather than an offset, so each chunk costs the same however far the export has gone.
fn export_chunk(style: Placeholders, filters: &IssueFilters, after: Option<&ExportMark>) -> Sql {
    let mut sql = Sql::new(style);
    let columns: Vec<String> = ISSUE_COLUMNS.iter().map(|c| quoted(c)).collect();
    sql.push(&format!("SELECT rowid, {} FROM issue", columns.join(", ")));
    push_filters(&mut sql, filters);
    if let Some(mark) = after {
        sql.push(if filters.iter().next().is_some() {
            " AND "
        } else {
            " WHERE "
        });
        // Unknown resources sort last, as on a page.
        sql.push("(dataset > ").bind(mark.dataset.as_str());
        sql.push(" OR (dataset = ").bind(mark.dataset.as_str());
        match &mark.resource {
            Some(resource) => {
                sql.push(" AND (resource > ")
                    .bind(resource.as_str())
                    .push(" OR resource IS NULL OR (resource = ")
                    .bind(resource.as_str())
                    .push(&format!(" AND rowid > {}))))", mark.rowid));
            }
            None => {
                sql.push(&format!(
                    " AND resource IS NULL AND rowid > {}))",
                    mark.rowid
                ));
            }
        }
    }
    sql.push(" ORDER BY ")
        .push(&ascending(["dataset".to_owned(), "resource".to_owned()]))
        .push(&format!(", rowid LIMIT {EXPORT_CHUNK}"));
    sql
}

#[async_trait]
impl IssueLog for Datasette {
    async fn issues(&self, query: &IssueQuery) -> sluice_domain::Result<Paged<IssueRow>> {
        let Some(database) = self.issue_table() else {
            return Ok(Paged {
                items: Vec::new(),
                total: 0,
            });
        };
        let style = database.placeholders();
        let mut total = Sql::new(style);
        total.push("SELECT count(*) FROM issue");
        push_filters(&mut total, query.filters());

        let mut page = Sql::new(style);
        let columns: Vec<String> = ISSUE_COLUMNS.iter().map(|c| quoted(c)).collect();
        page.push(&format!("SELECT {} FROM issue", columns.join(", ")));
        push_filters(&mut page, query.filters());
        // A resource's rows in the order the pipeline inserted them, as they stand in its file:
        // the table's rowid order.
        page.push(" ORDER BY ")
            .push(&ascending(["dataset".to_owned(), "resource".to_owned()]))
            .push(", rowid");
        push_page(&mut page, query.page());

        let (total, rows) = tokio::try_join!(count(database, &total), database.query(&page))?;
        let items = rows
            .iter()
            .map(|row| issue_row(row))
            .collect::<Result<_>>()?;
        Ok(Paged { items, total })
    }

    async fn export(&self, query: &IssueQuery) -> sluice_domain::Result<IssueBatches> {
        let Some(database) = self.holding_shared(ISSUE_TABLE) else {
            return Ok(Box::pin(futures::stream::empty()));
        };
        let filters = query.filters().clone();
        let batches = futures::stream::try_unfold(Some(None::<ExportMark>), move |mark| {
            let database = database.clone();
            let filters = filters.clone();
            async move {
                let Some(after) = mark else {
                    return Ok(None);
                };
                let rows = database
                    .query(&export_chunk(
                        database.placeholders(),
                        &filters,
                        after.as_ref(),
                    ))
                    .await?;
                let Some(last) = rows.last() else {
                    return Ok(None);
                };
                let next = (rows.len() == EXPORT_CHUNK).then(|| {
                    Some(ExportMark {
                        dataset: text(&last[1]).unwrap_or_default(),
                        resource: text(&last[2]),
                        rowid: integer(&last[0]).ok().flatten().unwrap_or(i64::MAX),
                    })
                });
                let batch = rows
                    .iter()
                    .map(|row| issue_row(&row[1..]))
                    .collect::<Result<Vec<_>>>()?;
                Ok::<_, sluice_domain::Error>(Some((batch, next)))
            }
        });
        Ok(Box::pin(batches))
    }

    async fn issue_counts(
        &self,
        query: &IssueCountQuery,
    ) -> sluice_domain::Result<Paged<IssueCount>> {
        let Some(database) = self.issue_table() else {
            return Ok(Paged {
                items: Vec::new(),
                total: 0,
            });
        };
        let style = database.placeholders();
        let keys: Vec<String> = query.group_by().iter().map(|c| legacy(*c)).collect();
        let key_list = keys
            .iter()
            .map(|k| quoted(k))
            .collect::<Vec<_>>()
            .join(", ");

        let mut total = Sql::new(style);
        total.push("SELECT count(*) FROM (SELECT 1 FROM issue");
        push_filters(&mut total, query.filters());
        total.push(&format!(" GROUP BY {key_list})"));

        let mut page = Sql::new(style);
        page.push(&format!("SELECT {key_list}, count(*) AS n FROM issue"));
        push_filters(&mut page, query.filters());
        let by_key = ascending(keys.iter().cloned());
        page.push(&format!(
            " GROUP BY {key_list} ORDER BY {}",
            match query.order() {
                CountOrder::LargestFirst => format!("n DESC, {by_key}"),
                CountOrder::SmallestFirst => format!("n ASC, {by_key}"),
                CountOrder::ByKey => by_key,
            }
        ));
        push_page(&mut page, query.page());

        let (total, rows) = tokio::try_join!(count(database, &total), database.query(&page))?;
        let width = keys.len();
        let items = rows
            .iter()
            .map(|row| {
                Ok(IssueCount {
                    key: query
                        .group_by()
                        .iter()
                        .zip(row)
                        .map(|(column, value)| (*column, text(value)))
                        .collect(),
                    count: integer(&row[width])?.unwrap_or(0).max(0) as u64,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Paged { items, total })
    }
}

#[async_trait]
impl PerformanceRepository for Datasette {
    async fn rows(&self, query: &PerformanceQuery) -> sluice_domain::Result<Paged<Record>> {
        let table = query.table.name();
        let database = self.holding(table).ok_or_else(|| DomainError::NotFound {
            entity: "performance table",
            key: table.to_owned(),
        })?;
        let style = database.placeholders();
        let columns = columns_of(database, table).await?;

        let mut filter = Sql::new(style);
        for (n, (column, value)) in query.filters().enumerate() {
            if !columns.iter().any(|c| c == column) {
                return Err(DomainError::invalid(
                    sluice_domain::FieldPath::new(column.to_owned()),
                    format!("{table} has no {column} column to filter on"),
                ));
            }
            filter
                .push(if n == 0 { " WHERE " } else { " AND " })
                .push(&quoted(column))
                .push(" = ")
                .bind(value.as_str());
        }
        let mut total = Sql::new(style);
        total.push(&format!("SELECT count(*) FROM {}", quoted(table)));
        total.push(&filter.text);
        total.params = filter.params.clone();

        let list = columns
            .iter()
            .map(|c| quoted(c))
            .collect::<Vec<_>>()
            .join(", ");
        let mut page = Sql::new(style);
        page.push(&format!("SELECT {list} FROM {}", quoted(table)));
        page.push(&filter.text);
        page.params = filter.params.clone();
        page.push(" ORDER BY ")
            .push(&ascending(columns.iter().cloned()));
        push_page(&mut page, query.page);

        let (total, rows) = tokio::try_join!(count(database, &total), database.query(&page))?;
        let items = rows
            .into_iter()
            .map(|row| {
                Record(
                    columns
                        .iter()
                        .cloned()
                        .zip(row.into_iter().map(Value::from))
                        .collect(),
                )
            })
            .collect();
        Ok(Paged { items, total })
    }

    async fn tables(&self) -> sluice_domain::Result<Vec<PerformanceTable>> {
        Ok(PerformanceTable::ALL
            .into_iter()
            .filter(|t| self.holding(t.name()).is_some())
            .collect())
    }
}

#[async_trait]
impl SpecificationRepository for Datasette {
    async fn datasets(
        &self,
        query: &SpecificationQuery,
    ) -> sluice_domain::Result<Paged<DatasetSpecification>> {
        let Some(database) = self.holding("specification") else {
            return Ok(Paged {
                items: Vec::new(),
                total: 0,
            });
        };
        let mut datasets = Vec::new();
        for row in database
            .scan("specification", &["specification", "json"])
            .await?
        {
            if let (Some(specification), Some(document)) = (text(&row[0]), text(&row[1])) {
                datasets.extend(DatasetSpecification::from_document(
                    &specification,
                    &document,
                )?);
            }
        }
        if let Some(wanted) = &query.dataset {
            datasets.retain(|d| d.dataset == wanted.as_str());
        }
        DatasetSpecification::sort(&mut datasets);
        Ok(Paged::cut(datasets, query.page))
    }
}
