//! The specification's own tables over the databases: `dataset`, `field` and `dataset_field`,
//! the legacy copies of `dataset.csv`, `field.csv` and `dataset-field.csv` with underscore column
//! names. Rows come back keyed by the CSV's hyphenated names, every value text as the CSV holds
//! it, so that both sources answer alike.

use async_trait::async_trait;
use sluice_domain::Error as DomainError;
use sluice_domain::metadata::{DatasetEntry, FieldEntry, Record, SpecificationCatalog, Value};

use crate::Result;
use crate::backend::{Database, Datasette};
use crate::collection_log::records;
use crate::ports::columns_of;
use crate::query::{Sql, quoted};

const DATASET_TABLE: &str = "dataset";
const FIELD_TABLE: &str = "field";
const DATASET_FIELD_TABLE: &str = "dataset_field";

impl Datasette {
    /// Whether the databases hold the specification's tables, so that they can answer for it.
    pub fn holds_the_specification_tables(&self) -> bool {
        [DATASET_TABLE, FIELD_TABLE, DATASET_FIELD_TABLE]
            .iter()
            .all(|table| self.holding(table).is_some())
    }

    fn specification_table(&self, table: &str) -> sluice_domain::Result<&dyn Database> {
        self.holding(table).ok_or_else(|| {
            DomainError::Unavailable(format!(
                "the Datasette databases hold no {table} table of the specification"
            ))
        })
    }
}

/// The rows of `table` whose `column` is `value`, in the table's order.
async fn rows_where(
    database: &dyn Database,
    table: &str,
    column: &str,
    value: &str,
) -> Result<Vec<Record>> {
    let columns = columns_of(database, table).await?;
    let mut sql = Sql::new(database.placeholders());
    let selected: Vec<String> = columns.iter().map(|c| quoted(c)).collect();
    sql.push(&format!(
        "SELECT {} FROM {} WHERE {} = ",
        selected.join(", "),
        quoted(table),
        quoted(column)
    ))
    .bind(value)
    .push(" ORDER BY rowid");
    Ok(records(&columns, database.query(&sql).await?))
}

#[async_trait]
impl SpecificationCatalog for Datasette {
    async fn dataset(&self, dataset: &str) -> sluice_domain::Result<DatasetEntry> {
        let found = rows_where(
            self.specification_table(DATASET_TABLE)?,
            DATASET_TABLE,
            "dataset",
            dataset,
        )
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| DomainError::NotFound {
            entity: "dataset",
            key: dataset.to_owned(),
        })?;
        let fields = rows_where(
            self.specification_table(DATASET_FIELD_TABLE)?,
            DATASET_FIELD_TABLE,
            "dataset",
            dataset,
        )
        .await?;
        Ok(DatasetEntry {
            dataset: found,
            fields,
        })
    }

    async fn field(&self, field: &str) -> sluice_domain::Result<FieldEntry> {
        let found = rows_where(
            self.specification_table(FIELD_TABLE)?,
            FIELD_TABLE,
            "field",
            field,
        )
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| DomainError::NotFound {
            entity: "field",
            key: field.to_owned(),
        })?;
        let datasets = rows_where(
            self.specification_table(DATASET_FIELD_TABLE)?,
            DATASET_FIELD_TABLE,
            "field",
            field,
        )
        .await?
        .into_iter()
        .filter_map(|row| match row.get("dataset") {
            Some(Value::Text(d)) => Some(d.clone()),
            _ => None,
        })
        .collect();
        Ok(FieldEntry {
            field: found,
            datasets,
        })
    }
}
