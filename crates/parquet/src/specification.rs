//! The specification over the archive: `specification.parquet` holds one row per specification,
//! its `json` column the array of datasets it describes, each with its `fields`.

use async_trait::async_trait;
use datafusion::prelude::{ParquetReadOptions, ident};
use sluice_domain::metadata::{
    DatasetSpecification, Paged, SpecificationQuery, SpecificationRepository,
};

use crate::ParquetArchive;
use crate::arrow_values::strings;

const SPECIFICATION_FILE: &str = "specification.parquet";

impl ParquetArchive {
    /// Every dataset of every specification: by specification, then in each one's own order.
    async fn all_datasets(&self) -> sluice_domain::Result<Vec<DatasetSpecification>> {
        let url = self.specification_url(SPECIFICATION_FILE);
        if !self.file_exists(&url).await? {
            return Ok(Vec::new());
        }
        let batches = self
            .context()
            .read_parquet(url, ParquetReadOptions::default())
            .await
            .and_then(|f| f.select(vec![ident("specification"), ident("json")]))
            .map_err(crate::Error::from)?
            .collect()
            .await
            .map_err(crate::Error::from)?;
        let mut datasets = Vec::new();
        for batch in &batches {
            let names = strings(batch, 0)?;
            let documents = strings(batch, 1)?;
            for (specification, document) in names.into_iter().zip(documents) {
                let (Some(specification), Some(document)) = (specification, document) else {
                    continue;
                };
                datasets.extend(DatasetSpecification::from_document(
                    &specification,
                    &document,
                )?);
            }
        }
        DatasetSpecification::sort(&mut datasets);
        Ok(datasets)
    }
}

#[async_trait]
impl SpecificationRepository for ParquetArchive {
    async fn datasets(
        &self,
        query: &SpecificationQuery,
    ) -> sluice_domain::Result<Paged<DatasetSpecification>> {
        let mut datasets = self.all_datasets().await?;
        if let Some(wanted) = &query.dataset {
            datasets.retain(|d| d.dataset == wanted.as_str());
        }
        Ok(Paged::cut(datasets, query.page))
    }
}
