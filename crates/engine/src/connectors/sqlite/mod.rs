//! SQLite database files in the data folder: sources read in a sandbox ([`sandbox`]) and turned
//! into Arrow by declared type ([`arrow`]), targets written inside one transaction. SQLite is
//! not pushed down to: it is read in-process, so there is no network to save.

mod arrow;
mod sandbox;
mod source;
mod target;

use async_trait::async_trait;
use sluice_domain::data_store::DataPath;
use sluice_domain::flow::FlowId;
use sluice_domain::flow_input::SourceRead;

use super::identifiers::quote;
use super::source::relational_sql;
use super::{Connector, SourceConnector, TableWrite};
use crate::Result;
use crate::location::Locator;

/// A SQLite database file at `path`.
pub struct Sqlite {
    path: DataPath,
}

impl Sqlite {
    pub fn new(path: DataPath) -> Self {
        Self { path }
    }
}

#[async_trait]
impl Connector for Sqlite {
    fn kind(&self) -> &'static str {
        "SQLite"
    }

    fn source(&self, read: &SourceRead, locator: &Locator) -> Result<Box<dyn SourceConnector>> {
        Ok(Box::new(source::SqliteSource::new(
            locator.local(&self.path)?,
            self.path.as_str(),
            relational_sql(read, "sqlite", quote)?,
        )))
    }

    async fn begin_tables(&self, locator: &Locator, _flow: FlowId) -> Result<Box<dyn TableWrite>> {
        Ok(Box::new(
            target::SqliteWrite::begin(locator.local(&self.path)?).await?,
        ))
    }
}
