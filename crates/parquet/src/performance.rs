//! The performance aggregations over the archive: one Parquet file per aggregation.

use async_trait::async_trait;
use datafusion::prelude::{ParquetReadOptions, ident, lit};
use sluice_domain::Error;
use sluice_domain::metadata::{
    Paged, PerformanceQuery, PerformanceRepository, PerformanceTable, Record,
};

use crate::ParquetArchive;
use crate::arrow_values::records;

impl ParquetArchive {
    fn performance_file(&self, table: PerformanceTable) -> String {
        self.performance_url(&format!("{}.parquet", table.name()))
    }
}

#[async_trait]
impl PerformanceRepository for ParquetArchive {
    async fn rows(&self, query: &PerformanceQuery) -> sluice_domain::Result<Paged<Record>> {
        let url = self.performance_file(query.table);
        if !self.file_exists(&url).await? {
            return Err(Error::NotFound {
                entity: "performance table",
                key: query.table.name().to_owned(),
            });
        }
        let mut frame = self
            .context()
            .read_parquet(url, ParquetReadOptions::default())
            .await
            .map_err(crate::Error::from)?;
        for (column, value) in query.filters() {
            if frame.schema().field_with_unqualified_name(column).is_err() {
                return Err(Error::invalid(
                    sluice_domain::FieldPath::new(column.to_owned()),
                    format!("{} has no {column} column to filter on", query.table),
                ));
            }
            frame = frame
                .filter(ident(column).eq(lit(value.as_str())))
                .map_err(crate::Error::from)?;
        }
        // Every column that has an order takes part in it, so pages never overlap.
        let order = frame
            .schema()
            .fields()
            .iter()
            .filter(|f| !f.data_type().is_nested())
            .map(|f| ident(f.name()).sort(true, false))
            .collect();
        let (offset, limit) = query.page.window();
        let page = frame
            .clone()
            .sort(order)
            .and_then(|f| f.limit(offset, Some(limit)))
            .map_err(crate::Error::from)?;
        let (total, batches) =
            tokio::try_join!(frame.count(), page.collect()).map_err(crate::Error::from)?;
        Ok(Paged {
            items: records(&batches)?,
            total: total as u64,
        })
    }

    async fn tables(&self) -> sluice_domain::Result<Vec<PerformanceTable>> {
        let mut held = Vec::new();
        for table in PerformanceTable::ALL {
            if self.file_exists(&self.performance_file(table)).await? {
                held.push(table);
            }
        }
        Ok(held)
    }
}
