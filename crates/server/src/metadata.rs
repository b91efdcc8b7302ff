//! Which source answers the pipeline metadata endpoints: Datasette-style databases when they are
//! configured (the specification's tables and the pipeline configuration too, when they hold
//! them), the Parquet collection archive and the CSV folders otherwise.
//!
//! A location left at its built-in default (the sample folders under `data/samples`, relative to
//! the working folder) that is not there is not configured: its endpoints answer so
//! ([`Unconfigured`]) and the process starts, from whatever folder. A location the settings name
//! and that cannot be opened stops the start.

use sluice_api::MetadataSources;
use sluice_datasette::Datasette;
use sluice_domain::metadata::{CollectionLog, ConfigurationRepository, SpecificationCatalog};
use sluice_domain::services::{MetadataPorts, MetadataService};
use sluice_parquet::{CsvCollectionLog, CsvConfiguration, CsvSpecification, ParquetArchive};
use std::sync::Arc;

use crate::query_threads::QueryThreads;
use crate::unconfigured::Unconfigured;
use crate::{Settings, StartError};

/// The metadata service, and which sources it answers from.
///
/// # Errors
/// `StartError` when a source the settings name cannot be opened.
pub async fn service(
    settings: &Settings,
) -> Result<(MetadataService, MetadataSources), StartError> {
    let threads = QueryThreads::start().map_err(StartError::QueryThreads)?;
    let (ports, sources) = ports(settings).await?;
    Ok((MetadataService::new(threads.serve(ports)), sources))
}

const ARCHIVE: Unconfigured = Unconfigured {
    what: "collection archive",
    setting: "archive.url",
};
const CONFIGURATION: Unconfigured = Unconfigured {
    what: "pipeline configuration",
    setting: "configuration.url",
};
const SPECIFICATION: Unconfigured = Unconfigured {
    what: "specification tables",
    setting: "specification.url",
};
const COLLECTION_LOG: Unconfigured = Unconfigured {
    what: "collection log",
    setting: "collection_log.url",
};

/// Whether the location of `source` is its built-in sample folder and that folder is not there.
fn missing_sample(settings: &Settings, source: &Unconfigured, url: &str) -> bool {
    let missing = settings.is_default(source.setting) && !std::path::Path::new(url).exists();
    if missing {
        tracing::warn!(
            location = url,
            "no {} here: its endpoints answer that none is configured until {} is set",
            source.what,
            source.setting
        );
    }
    missing
}

async fn ports(settings: &Settings) -> Result<(MetadataPorts, MetadataSources), StartError> {
    // Every CSV folder on S3 is on the archive's server.
    let endpoint = settings
        .archive
        .endpoint
        .as_deref()
        .filter(|e| !e.is_empty());
    let has_configuration = !missing_sample(settings, &CONFIGURATION, &settings.configuration.url);
    let configuration: Arc<dyn ConfigurationRepository> = if has_configuration {
        Arc::new(
            CsvConfiguration::open(&settings.configuration.url, endpoint)
                .map_err(StartError::Configuration)?,
        )
    } else {
        Arc::new(CONFIGURATION)
    };
    let has_specification = !missing_sample(settings, &SPECIFICATION, &settings.specification.url);
    let catalog: Arc<dyn SpecificationCatalog> = if has_specification {
        Arc::new(
            CsvSpecification::open(&settings.specification.url, endpoint)
                .map_err(StartError::Specification)?,
        )
    } else {
        Arc::new(SPECIFICATION)
    };
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
        let sources = MetadataSources(vec![
            ("datasette", true),
            ("archive", false),
            ("configuration", has_configuration || configuration_tables),
            ("specification", has_specification || specification_tables),
            ("collection_log", false),
        ]);
        let ports = MetadataPorts {
            issues: datasette.clone(),
            performance: datasette.clone(),
            specification: datasette.clone(),
            collection_log: datasette,
            configuration,
            catalog,
        };
        return Ok((ports, sources));
    }
    let has_collection_log =
        !missing_sample(settings, &COLLECTION_LOG, &settings.collection_log.url);
    let collection_log: Arc<dyn CollectionLog> = if has_collection_log {
        Arc::new(
            CsvCollectionLog::open(&settings.collection_log.url, endpoint)
                .map_err(StartError::CollectionLog)?,
        )
    } else {
        Arc::new(COLLECTION_LOG)
    };
    let has_archive = !missing_sample(settings, &ARCHIVE, &settings.archive.url);
    let sources = MetadataSources(vec![
        ("datasette", false),
        ("archive", has_archive),
        ("configuration", has_configuration),
        ("specification", has_specification),
        ("collection_log", has_collection_log),
    ]);
    if !has_archive {
        let ports = MetadataPorts {
            issues: Arc::new(ARCHIVE),
            performance: Arc::new(ARCHIVE),
            specification: Arc::new(ARCHIVE),
            collection_log,
            configuration,
            catalog,
        };
        return Ok((ports, sources));
    }
    let archive = Arc::new(ParquetArchive::open(settings.archive.to_adapter()).await?);
    tracing::info!(archive = %settings.archive.url, "metadata from the collection archive");
    let ports = MetadataPorts {
        issues: archive.clone(),
        performance: archive.clone(),
        specification: archive,
        collection_log,
        configuration,
        catalog,
    };
    Ok((ports, sources))
}
