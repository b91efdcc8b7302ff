//! The collection log port over the tables `log` and `resource`, by the rules of
//! [`sluice_domain::metadata::collection`] written as SQL: a list cell holds a value when
//! `instr(';' || cell || ';', ';' || value || ';')` finds it, and an empty cell reads as `''`.

use async_trait::async_trait;
use serde_json::Value as Json;
use sluice_domain::metadata::collection::{LIST_SEPARATOR, LOG_ORDER, RESOURCE_ORDER};
use sluice_domain::metadata::{
    CollectionFilters, CollectionLog, CollectionLogQuery, FilterValue, Paged, Record,
    ResourceQuery, Value,
};
use sluice_domain::page::Page;

use crate::Result;
use crate::backend::{Database, Datasette};
use crate::ports::{columns_of, count, push_page, text};
use crate::query::{Sql, quoted};

const LOG_TABLE: &str = "log";
const RESOURCE_TABLE: &str = "resource";

/// A legacy (underscore) column name for one of the log's hyphenated names.
fn legacy(column: &str) -> String {
    column.replace('-', "_")
}

/// `AND (<list column> holds <value> OR …)` for any of `values`, the column qualified by
/// `table`; nothing when there are no values.
fn push_holds(sql: &mut Sql, table: &str, column: &str, values: &[FilterValue]) {
    let sep = LIST_SEPARATOR;
    for (n, value) in values.iter().enumerate() {
        sql.push(if n == 0 { " AND (" } else { " OR " })
            .push(&format!(
                "instr('{sep}' || {table}.{} || '{sep}', '{sep}' || ",
                quoted(column)
            ))
            .bind(value.as_str())
            .push(&format!(" || '{sep}') > 0"));
    }
    if !values.is_empty() {
        sql.push(")");
    }
}

/// `AND <column> IN (<values>)`, the column qualified by `table`; nothing when there are none.
fn push_equals(sql: &mut Sql, table: &str, column: &str, values: &[FilterValue]) {
    for (n, value) in values.iter().enumerate() {
        if n == 0 {
            sql.push(&format!(" AND {table}.{} IN (", quoted(column)));
        } else {
            sql.push(", ");
        }
        sql.bind(value.as_str());
    }
    if !values.is_empty() {
        sql.push(")");
    }
}

/// The dataset and organisation filters on the lists of the resource table named `table`.
fn push_lists(sql: &mut Sql, table: &str, filters: &CollectionFilters) {
    push_holds(sql, table, "datasets", &filters.dataset);
    push_holds(sql, table, "organisations", &filters.organisation);
}

/// `ORDER BY` on the given columns, an empty cell as `''` and the row's place as the last tie
/// breaker, which is the file order the CSV adapter keeps on ties.
fn order_by(columns: &[&str]) -> String {
    let keys: Vec<String> = columns
        .iter()
        .map(|c| format!("coalesce({}, '')", quoted(&legacy(c))))
        .collect();
    format!(" ORDER BY {}, rowid", keys.join(", "))
}

/// Rows keyed by the CSV's hyphenated names, every value text as the CSV would hold it.
pub(crate) fn records(columns: &[String], rows: Vec<Vec<Json>>) -> Vec<Record> {
    rows.into_iter()
        .map(|row| {
            Record(
                columns
                    .iter()
                    .zip(row)
                    .map(|(c, v)| {
                        (
                            c.replace('_', "-"),
                            Value::Text(text(&v).unwrap_or_default()),
                        )
                    })
                    .collect(),
            )
        })
        .collect()
}

/// The page and the count of one filtered table.
async fn page_of(
    database: &dyn Database,
    table: &str,
    filter: &Sql,
    order: &str,
    page: Page,
) -> Result<Paged<Record>> {
    let columns = columns_of(database, table).await?;
    let style = database.placeholders();
    let mut total = Sql::new(style);
    total.push(&format!(
        "SELECT count(*) FROM {} WHERE 1 = 1",
        quoted(table)
    ));
    total.push(&filter.text);
    total.params = filter.params.clone();

    let list: Vec<String> = columns.iter().map(|c| quoted(c)).collect();
    let mut rows = Sql::new(style);
    rows.push(&format!(
        "SELECT {} FROM {} WHERE 1 = 1",
        list.join(", "),
        quoted(table)
    ));
    rows.push(&filter.text).push(order);
    rows.params = filter.params.clone();
    push_page(&mut rows, page);

    let (total, rows) = tokio::try_join!(count(database, &total), database.query(&rows))?;
    Ok(Paged {
        items: records(&columns, rows),
        total,
    })
}

fn empty() -> Paged<Record> {
    Paged {
        items: Vec::new(),
        total: 0,
    }
}

#[async_trait]
impl CollectionLog for Datasette {
    async fn log_entries(
        &self,
        query: &CollectionLogQuery,
    ) -> sluice_domain::Result<Paged<Record>> {
        let Some(database) = self.holding(LOG_TABLE) else {
            return Ok(empty());
        };
        let filters = &query.filters;
        let mut filter = Sql::new(database.placeholders());
        let log = quoted(LOG_TABLE);
        push_equals(&mut filter, &log, "endpoint", &filters.endpoint);
        push_equals(&mut filter, &log, "resource", &filters.resource);
        if !filters.dataset.is_empty() || !filters.organisation.is_empty() {
            // The resource table must sit beside the log for SQL to join them; without it no
            // endpoint is known to feed any dataset.
            if !self.holds_together(LOG_TABLE, RESOURCE_TABLE) {
                return Ok(empty());
            }
            let sep = LIST_SEPARATOR;
            filter.push(&format!(
                " AND EXISTS (SELECT 1 FROM {} AS r WHERE instr('{sep}' || r.\"endpoints\" || '{sep}', '{sep}' || {log}.\"endpoint\" || '{sep}') > 0",
                quoted(RESOURCE_TABLE)
            ));
            push_lists(&mut filter, "r", filters);
            filter.push(")");
        }
        Ok(page_of(
            database,
            LOG_TABLE,
            &filter,
            &order_by(&LOG_ORDER),
            query.page,
        )
        .await?)
    }

    async fn resources(&self, query: &ResourceQuery) -> sluice_domain::Result<Paged<Record>> {
        let Some(database) = self.holding(RESOURCE_TABLE) else {
            return Ok(empty());
        };
        let filters = &query.filters;
        let mut filter = Sql::new(database.placeholders());
        let table = quoted(RESOURCE_TABLE);
        push_holds(&mut filter, &table, "endpoints", &filters.endpoint);
        push_equals(&mut filter, &table, "resource", &filters.resource);
        push_lists(&mut filter, &table, filters);
        Ok(page_of(
            database,
            RESOURCE_TABLE,
            &filter,
            &order_by(&RESOURCE_ORDER),
            query.page,
        )
        .await?)
    }
}
