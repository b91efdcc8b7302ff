//! A folder of CSV tables, local or on S3, read a whole small file at a time: the pipeline
//! configuration and the specification's tables. Every value is text, as the CSV holds it.

use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use sluice_domain::metadata::{Record, Value};
use std::sync::Arc;

use crate::archive::s3_store;
use crate::{Error, Result};

pub(crate) struct CsvFolder {
    store: Arc<dyn ObjectStore>,
    root: Path,
}

impl CsvFolder {
    /// `url` is a folder or `s3://bucket/prefix`; `endpoint` an S3-compatible server.
    pub fn open(url: &str, endpoint: Option<&str>) -> Result<Self> {
        let location = |e: &dyn std::fmt::Display| Error::Location(url.to_owned(), e.to_string());
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let store = s3_store(bucket, endpoint).map_err(|e| location(&e))?;
            return Ok(Self {
                store: Arc::new(store),
                root: Path::from(prefix),
            });
        }
        let folder = std::fs::canonicalize(url).map_err(|e| location(&e))?;
        let store = LocalFileSystem::new_with_prefix(folder).map_err(|e| location(&e))?;
        Ok(Self {
            store: Arc::new(store),
            root: Path::default(),
        })
    }

    /// Every row of the file at `relative` (made of names Sluice checked, never a client's path),
    /// or `None` when there is no such file.
    pub async fn read(&self, relative: &str) -> Result<Option<Vec<Record>>> {
        let file: Path = self
            .root
            .parts()
            .chain(Path::from(relative).parts())
            .collect();
        let bytes = match self.store.get(&file).await {
            Ok(found) => found
                .bytes()
                .await
                .map_err(|e| Error::DataFusion(e.into()))?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(Error::DataFusion(e.into())),
        };
        records(&bytes).map(Some)
    }
}

/// Every row of a CSV document, keyed by its header.
fn records(bytes: &[u8]) -> Result<Vec<Record>> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| Error::Shape(e.to_string()))?
        .clone();
    reader
        .records()
        .map(|row| {
            let row = row.map_err(|e| Error::Shape(e.to_string()))?;
            Ok(Record(
                headers
                    .iter()
                    .enumerate()
                    .map(|(i, name)| {
                        (
                            name.to_owned(),
                            Value::Text(row.get(i).unwrap_or_default().to_owned()),
                        )
                    })
                    .collect(),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_keyed_by_the_header_and_short_rows_read_as_empty() {
        let rows =
            records(b"endpoint,endpoint-url,plugin\ne1,\"https://x/a,b\",wfs\ne2,https://y\n")
                .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0].get("endpoint-url"),
            Some(&Value::Text("https://x/a,b".into()))
        );
        assert_eq!(rows[1].get("plugin"), Some(&Value::Text(String::new())));
    }
}
