//! The specification's own tables, read from its CSV folder (local or on S3): `dataset.csv`,
//! `field.csv` and `dataset-field.csv`.

use async_trait::async_trait;
use sluice_domain::Error as DomainError;
use sluice_domain::metadata::{DatasetEntry, FieldEntry, Record, SpecificationCatalog, Value};

use crate::Result;
use crate::csv_folder::CsvFolder;

pub struct CsvSpecification {
    folder: CsvFolder,
}

impl CsvSpecification {
    /// `url` is a folder or `s3://bucket/prefix`; `endpoint` an S3-compatible server.
    ///
    /// # Errors
    /// `Location` when the folder does not exist or the bucket cannot be addressed.
    pub fn open(url: &str, endpoint: Option<&str>) -> Result<Self> {
        Ok(Self {
            folder: CsvFolder::open(url, endpoint)?,
        })
    }

    async fn table(&self, file: &str) -> sluice_domain::Result<Vec<Record>> {
        Ok(self.folder.read(file).await?.unwrap_or_default())
    }
}

fn is(record: &Record, column: &str, wanted: &str) -> bool {
    matches!(record.get(column), Some(Value::Text(v)) if v == wanted)
}

#[async_trait]
impl SpecificationCatalog for CsvSpecification {
    async fn dataset(&self, dataset: &str) -> sluice_domain::Result<DatasetEntry> {
        let found = self
            .table("dataset.csv")
            .await?
            .into_iter()
            .find(|row| is(row, "dataset", dataset))
            .ok_or_else(|| DomainError::NotFound {
                entity: "dataset",
                key: dataset.to_owned(),
            })?;
        let fields = self
            .table("dataset-field.csv")
            .await?
            .into_iter()
            .filter(|row| is(row, "dataset", dataset))
            .collect();
        Ok(DatasetEntry {
            dataset: found,
            fields,
        })
    }

    async fn field(&self, field: &str) -> sluice_domain::Result<FieldEntry> {
        let found = self
            .table("field.csv")
            .await?
            .into_iter()
            .find(|row| is(row, "field", field))
            .ok_or_else(|| DomainError::NotFound {
                entity: "field",
                key: field.to_owned(),
            })?;
        let datasets = self
            .table("dataset-field.csv")
            .await?
            .into_iter()
            .filter(|row| is(row, "field", field))
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
