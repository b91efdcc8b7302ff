//! Which source answers the pipeline metadata endpoints: Datasette-style databases when they are
//! configured, the Parquet collection archive otherwise.

use sluice_datasette::Datasette;
use sluice_domain::services::MetadataService;
use sluice_parquet::ParquetArchive;
use std::sync::Arc;

use crate::{Settings, StartError};

/// # Errors
/// `StartError` when the chosen source cannot be opened.
pub async fn service(settings: &Settings) -> Result<MetadataService, StartError> {
    let paths = settings.datasette.paths();
    let urls = settings.datasette.urls();
    if !paths.is_empty() && !urls.is_empty() {
        return Err(StartError::Settings(
            "set datasette.paths or datasette.url, not both".into(),
        ));
    }
    if !paths.is_empty() || !urls.is_empty() {
        let datasette = Arc::new(if paths.is_empty() {
            Datasette::open_http(&urls).await?
        } else {
            Datasette::open_files(&paths).await?
        });
        tracing::info!(
            files = paths.len(),
            urls = urls.len(),
            "metadata from Datasette"
        );
        return Ok(MetadataService::new(
            datasette.clone(),
            datasette.clone(),
            datasette,
        ));
    }
    let archive = Arc::new(ParquetArchive::open(settings.archive.to_adapter()).await?);
    tracing::info!(archive = %settings.archive.url, "metadata from the collection archive");
    Ok(MetadataService::new(
        archive.clone(),
        archive.clone(),
        archive,
    ))
}
