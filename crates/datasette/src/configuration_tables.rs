//! The pipeline configuration over the databases: one table per kind of configuration file, the
//! legacy copies of every collection's CSVs with underscore column names.
//!
//! ```text
//! endpoint, source                      collection/<c>/endpoint.csv, source.csv
//! column, default_value, lookup, …      pipeline/<c>/column.csv, default-value.csv, …
//! configuration_file (collection_folder, "table")   which of those files each collection has
//! ```
//!
//! Each table holds the rows of every collection, told apart by a `collection_folder` column (the
//! `<c>` of the file's folder; a source's own `collection` column may name another), which the
//! rows answered leave out. Rows are in the table's order (the CSV's), keyed by the CSV's
//! hyphenated names, all text, so that both sources answer alike. `configuration_file` lists the
//! files that exist, empty ones included: a table a collection has no file for is not found, as
//! with the CSV folders. One difference remains where collections' files of a kind have different
//! columns: a table has them all, so a row from it has every column of its table, empty where its
//! file had none.

use async_trait::async_trait;
use sluice_domain::Error as DomainError;
use sluice_domain::metadata::{
    ConfigurationQuery, ConfigurationRepository, ConfigurationTable, Paged, Record,
};

use crate::backend::{Database, Datasette};
use crate::collection_log::records;
use crate::ports::{columns_of, count, push_page};
use crate::query::{Sql, quoted};

/// Which configuration files each collection has.
const FILES_TABLE: &str = "configuration_file";

/// The column that tells the collections apart.
const COLLECTION: &str = "collection_folder";

/// The table holding `table`'s rows.
fn table_name(table: ConfigurationTable) -> String {
    match table {
        ConfigurationTable::Endpoints => "endpoint".to_owned(),
        ConfigurationTable::Sources => "source".to_owned(),
        ConfigurationTable::Rules(kind) => kind.name().replace('-', "_"),
    }
}

impl Datasette {
    /// Whether the databases hold the configuration (its list of files), so that they can
    /// answer for it.
    pub fn holds_the_configuration_tables(&self) -> bool {
        self.holding(FILES_TABLE).is_some()
    }
}

/// Whether the collection has the file `table` was copied from.
async fn has_file(database: &dyn Database, collection: &str, table: &str) -> crate::Result<bool> {
    let mut sql = Sql::new(database.placeholders());
    sql.push(&format!(
        "SELECT count(*) FROM {} WHERE {} = ",
        quoted(FILES_TABLE),
        quoted(COLLECTION)
    ))
    .bind(collection)
    .push(&format!(" AND {} = ", quoted("table")))
    .bind(table);
    Ok(count(database, &sql).await? > 0)
}

#[async_trait]
impl ConfigurationRepository for Datasette {
    async fn rows(&self, query: &ConfigurationQuery) -> sluice_domain::Result<Paged<Record>> {
        let table = table_name(query.table);
        let not_found = || DomainError::NotFound {
            entity: "configuration",
            key: format!("{} of {}", query.table, query.collection),
        };
        let files = self.holding(FILES_TABLE).ok_or_else(|| {
            DomainError::Unavailable("the Datasette databases hold no configuration".into())
        })?;
        if !has_file(files, query.collection.as_str(), &table).await? {
            return Err(not_found());
        }
        let database = self.holding(&table).ok_or_else(not_found)?;
        let columns = columns_of(database, &table).await?;
        if !columns.iter().any(|c| c == COLLECTION) {
            return Err(DomainError::Internal(format!(
                "the configuration table {table} has no {COLLECTION} column"
            )));
        }
        let answered: Vec<String> = columns.into_iter().filter(|c| c != COLLECTION).collect();
        let style = database.placeholders();
        let filter = format!(" FROM {} WHERE {} = ", quoted(&table), quoted(COLLECTION));
        let mut total = Sql::new(style);
        total
            .push(&format!("SELECT count(*){filter}"))
            .bind(query.collection.as_str());
        let list: Vec<String> = answered.iter().map(|c| quoted(c)).collect();
        let mut rows = Sql::new(style);
        rows.push(&format!("SELECT {}{filter}", list.join(", ")))
            .bind(query.collection.as_str())
            .push(" ORDER BY rowid");
        push_page(&mut rows, query.page);
        let (total, rows) = tokio::try_join!(count(database, &total), database.query(&rows))?;
        Ok(Paged {
            items: records(&answered, rows),
            total,
        })
    }
}
