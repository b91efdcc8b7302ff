//! Which source answers the pipeline metadata endpoints: Datasette-style databases when they are
//! configured (the specification's tables and the pipeline configuration too, when they hold
//! them), the Parquet collection archive and the CSV folders otherwise.

use sluice_datasette::Datasette;
use sluice_domain::metadata::{ConfigurationRepository, SpecificationCatalog};
use sluice_domain::services::{MetadataPorts, MetadataService};
use sluice_parquet::{CsvCollectionLog, CsvConfiguration, CsvSpecification, ParquetArchive};
use std::sync::Arc;

use crate::query_threads::QueryThreads;
use crate::{Settings, StartError};

/// # Errors
/// `StartError` when the chosen source cannot be opened.
pub async fn service(settings: &Settings) -> Result<MetadataService, StartError> {
    let threads = QueryThreads::start().map_err(StartError::QueryThreads)?;
    Ok(MetadataService::new(threads.serve(ports(settings).await?)))
}

async fn ports(settings: &Settings) -> Result<MetadataPorts, StartError> {
    // Every CSV folder on S3 is on the archive's server.
    let endpoint = settings
        .archive
        .endpoint
        .as_deref()
        .filter(|e| !e.is_empty());
    let configuration: Arc<dyn ConfigurationRepository> = Arc::new(
        CsvConfiguration::open(&settings.configuration.url, endpoint)
            .map_err(StartError::Configuration)?,
    );
    let catalog: Arc<dyn SpecificationCatalog> = Arc::new(
        CsvSpecification::open(&settings.specification.url, endpoint)
            .map_err(StartError::Specification)?,
    );
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
        let specification_tables = datasette.holds_the_specification_tables();
        let catalog: Arc<dyn SpecificationCatalog> = if specification_tables {
            datasette.clone()
        } else {
            catalog
        };
        let configuration_tables = datasette.holds_the_configuration_tables();
        let configuration: Arc<dyn ConfigurationRepository> = if configuration_tables {
            datasette.clone()
        } else {
            configuration
        };
        tracing::info!(
            files = paths.len(),
            urls = urls.len(),
            specification_tables,
            configuration_tables,
            "metadata from Datasette"
        );
        return Ok(MetadataPorts {
            issues: datasette.clone(),
            performance: datasette.clone(),
            specification: datasette.clone(),
            collection_log: datasette,
            configuration,
            catalog,
        });
    }
    let collection_log = Arc::new(
        CsvCollectionLog::open(&settings.collection_log.url, endpoint)
            .map_err(StartError::CollectionLog)?,
    );
    let archive = Arc::new(ParquetArchive::open(settings.archive.to_adapter()).await?);
    tracing::info!(archive = %settings.archive.url, "metadata from the collection archive");
    Ok(MetadataPorts {
        issues: archive.clone(),
        performance: archive.clone(),
        specification: archive,
        collection_log,
        configuration,
        catalog,
    })
}
