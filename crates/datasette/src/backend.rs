//! The databases behind the adapter and which of them holds each table.

use async_trait::async_trait;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::http::DatasetteDatabase;
use crate::query::{Placeholders, Sql};
use crate::sqlite::SqliteFile;
use crate::{Error, Result};

/// One database, as a file or behind a Datasette.
#[async_trait]
pub(crate) trait Database: Send + Sync {
    fn placeholders(&self) -> Placeholders;

    /// The rows of a query, each a list of values in the order of its columns.
    async fn query(&self, sql: &Sql) -> Result<Vec<Vec<Json>>>;

    /// Every row of a table, the given columns of each.
    async fn scan(&self, table: &str, columns: &[&str]) -> Result<Vec<Vec<Json>>>;
}

/// How many table names are read at once while the databases are opened.
const TABLES_AT_ONCE: usize = 10;

/// Datasette-style databases, read as the metadata ports.
pub struct Datasette {
    databases: Vec<Arc<dyn Database>>,
    /// Which database holds each table; the first one listed wins when several do.
    tables: BTreeMap<String, usize>,
}

impl Datasette {
    /// Opens SQLite files read-only.
    ///
    /// # Errors
    /// `Open` naming a file that is missing or is not a SQLite database.
    pub async fn open_files(paths: &[PathBuf]) -> Result<Self> {
        let mut databases: Vec<Arc<dyn Database>> = Vec::new();
        for path in paths {
            databases.push(Arc::new(SqliteFile::open(path).await?));
        }
        Self::index(databases).await
    }

    /// Reads databases through a running Datasette's JSON API; each URL is a database's page
    /// (`http://host:8001/digital-land`).
    ///
    /// # Errors
    /// `Http` when a database does not answer.
    pub async fn open_http(urls: &[String]) -> Result<Self> {
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| Error::Open("datasette".into(), e.to_string()))?;
        let databases = urls
            .iter()
            .map(|url| Arc::new(DatasetteDatabase::new(url, client.clone())) as Arc<dyn Database>)
            .collect();
        Self::index(databases).await
    }

    async fn index(databases: Vec<Arc<dyn Database>>) -> Result<Self> {
        let mut tables = BTreeMap::new();
        for (index, database) in databases.iter().enumerate() {
            // A few names at a time, after the last one read: a Datasette cuts any answer at its
            // `max_returned_rows`, which may be fewer than a database has tables.
            let mut last = String::new();
            loop {
                let mut sql = Sql::new(database.placeholders());
                sql.push(
                    "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name > ",
                )
                .bind(last.as_str())
                .push(&format!(" ORDER BY name LIMIT {TABLES_AT_ONCE}"));
                let rows = database.query(&sql).await?;
                let read = rows.len();
                for row in rows {
                    if let Some(Json::String(name)) = row.into_iter().next() {
                        last.clone_from(&name);
                        tables.entry(name).or_insert(index);
                    }
                }
                if read < TABLES_AT_ONCE {
                    break;
                }
            }
        }
        tracing::info!(tables = ?tables.keys().collect::<Vec<_>>(), "datasette databases opened");
        Ok(Self { databases, tables })
    }

    /// Whether one database holds both tables, so one query can join them.
    pub(crate) fn holds_together(&self, a: &str, b: &str) -> bool {
        matches!((self.tables.get(a), self.tables.get(b)), (Some(x), Some(y)) if x == y)
    }

    /// The database holding `table`, shared, for work that outlives a call (an export).
    pub(crate) fn holding_shared(&self, table: &str) -> Option<Arc<dyn Database>> {
        self.tables
            .get(table)
            .map(|&index| self.databases[index].clone())
    }

    /// The database holding `table`, if any does.
    pub(crate) fn holding(&self, table: &str) -> Option<&dyn Database> {
        self.tables
            .get(table)
            .map(|&index| self.databases[index].as_ref())
    }
}
