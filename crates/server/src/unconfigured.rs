//! A pipeline metadata source the settings leave out: the built-in sample folders are relative to
//! the working folder, so a binary started elsewhere (an installed one, the image) has none of
//! them. Its endpoints then answer that nothing is configured, and name the setting to set.

use async_trait::async_trait;
use sluice_domain::metadata::{
    CollectionLog, CollectionLogQuery, ConfigurationQuery, ConfigurationRepository, DatasetEntry,
    DatasetSpecification, FieldEntry, IssueBatches, IssueCount, IssueCountQuery, IssueLog,
    IssueQuery, IssueRow, Paged, PerformanceQuery, PerformanceRepository, PerformanceTable, Record,
    ResourceQuery, SpecificationCatalog, SpecificationQuery, SpecificationRepository,
};
use sluice_domain::{Error, Result};

/// One source that is not configured: what it is and the setting that would name it.
pub struct Unconfigured {
    pub what: &'static str,
    pub setting: &'static str,
}

impl Unconfigured {
    fn error(&self) -> Error {
        let variable = format!("SLUICE__{}", self.setting.replace('.', "__").to_uppercase());
        Error::NotConfigured(format!(
            "this server has no {} configured: set {} ({variable})",
            self.what, self.setting
        ))
    }
}

#[async_trait]
impl IssueLog for Unconfigured {
    async fn issues(&self, _: &IssueQuery) -> Result<Paged<IssueRow>> {
        Err(self.error())
    }

    async fn issue_counts(&self, _: &IssueCountQuery) -> Result<Paged<IssueCount>> {
        Err(self.error())
    }

    async fn export(&self, _: &IssueQuery) -> Result<IssueBatches> {
        Err(self.error())
    }
}

#[async_trait]
impl PerformanceRepository for Unconfigured {
    async fn rows(&self, _: &PerformanceQuery) -> Result<Paged<Record>> {
        Err(self.error())
    }

    async fn tables(&self) -> Result<Vec<PerformanceTable>> {
        Err(self.error())
    }
}

#[async_trait]
impl SpecificationRepository for Unconfigured {
    async fn datasets(&self, _: &SpecificationQuery) -> Result<Paged<DatasetSpecification>> {
        Err(self.error())
    }
}

#[async_trait]
impl ConfigurationRepository for Unconfigured {
    async fn rows(&self, _: &ConfigurationQuery) -> Result<Paged<Record>> {
        Err(self.error())
    }
}

#[async_trait]
impl SpecificationCatalog for Unconfigured {
    async fn dataset(&self, _: &str) -> Result<DatasetEntry> {
        Err(self.error())
    }

    async fn field(&self, _: &str) -> Result<FieldEntry> {
        Err(self.error())
    }
}

#[async_trait]
impl CollectionLog for Unconfigured {
    async fn log_entries(&self, _: &CollectionLogQuery) -> Result<Paged<Record>> {
        Err(self.error())
    }

    async fn resources(&self, _: &ResourceQuery) -> Result<Paged<Record>> {
        Err(self.error())
    }
}
