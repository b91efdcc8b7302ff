//! Connectors: one folder per kind of store, each holding how Sluice reads it (its source),
//! writes it (its target), turns its values into Arrow's and back (its codecs) and, for a
//! database that can run a transform, its push-down dialect.
//!
//! [`connector_for`] is the one place a store's connection kind is matched: everything else asks
//! the [`Connector`] it returns. A new kind of store is a new folder implementing [`Connector`]
//! and one line there (docs/development.md, "Adding a connector").

mod columnar;
mod file;
mod identifiers;
mod leftovers;
mod mysql;
mod postgres;
mod server;
mod source;
mod sqlite;
mod target;

pub use file::FileSource;
pub use leftovers::staged_under;
pub use server::protect_state_database;
pub use source::SourceConnector;
pub use target::{FileWrite, StagedWrite, TableWrite};

use async_trait::async_trait;
use sluice_domain::data_store::{Connection, RelationalConnection, ServerKind};
use sluice_domain::flow::FlowId;
use sluice_domain::flow_input::SourceRead;

use crate::location::Locator;
use crate::pushdown::PushDownDatabase;
use crate::{Error, Result};

/// What Sluice does with one kind of store. Each method a kind has no use for keeps its default,
/// which refuses (validation refuses those flows before they start) or does nothing.
#[async_trait]
pub trait Connector: Send + Sync {
    /// The store's kind as the API names it (`postgres`, `file`), for error messages.
    fn kind(&self) -> &'static str;

    /// Reads `read` of this store, batch by batch, in the flow's process.
    ///
    /// # Errors
    /// `Location` for a path outside the data folder; `Unsupported` for a read the store cannot
    /// answer (a table of a file store).
    fn source(&self, read: &SourceRead, locator: &Locator) -> Result<Box<dyn SourceConnector>>;

    /// `read` as files a Ballista cluster's executors read themselves.
    ///
    /// # Errors
    /// `Unsupported` for a store that is not files; `Location` for a path outside the data
    /// folder.
    fn files(&self, _read: &SourceRead, _locator: &Locator) -> Result<FileSource> {
        Err(Error::Unsupported(format!(
            "Ballista reads file and columnar stores, not a {} store",
            self.kind()
        )))
    }

    /// Starts a write of named tables, out of sight until its commit.
    ///
    /// # Errors
    /// `Unsupported` for a store written whole (a file); `Location`, `Sqlite` or `Database`
    /// when the store cannot be opened.
    async fn begin_tables(&self, _locator: &Locator, _flow: FlowId) -> Result<Box<dyn TableWrite>> {
        Err(Error::Unsupported(format!(
            "a {} store is not written as tables",
            self.kind()
        )))
    }

    /// Starts a write of the store as one file, out of sight until its commit.
    ///
    /// # Errors
    /// `Unsupported` for a store of tables; `Location` for a path outside the data folder.
    async fn begin_file(&self, _locator: &Locator, _flow: FlowId) -> Result<Box<dyn FileWrite>> {
        Err(Error::Unsupported(format!(
            "a {} store is written as tables, not as one file",
            self.kind()
        )))
    }

    /// Removes what a run of `flow` left staged here because its process died before it could
    /// commit or roll back. Stores that stage inside a transaction have nothing to remove.
    ///
    /// # Errors
    /// `Database` when the store cannot be reached or refuses.
    async fn discard_leftovers(&self, _locator: &Locator, _flow: FlowId) -> Result<()> {
        Ok(())
    }

    /// The database a transform reading only this store's sources may run in, when it has one.
    fn push_down(&self) -> Option<&dyn PushDownDatabase> {
        None
    }
}

/// The connector of a store reached by `connection`.
pub fn connector_for(connection: &Connection) -> Box<dyn Connector> {
    match connection {
        Connection::File { path, format } => Box::new(file::File::new(path.clone(), *format)),
        Connection::Columnar { path } => Box::new(columnar::Columnar::new(path.clone())),
        Connection::Relational(RelationalConnection::Sqlite { path }) => {
            Box::new(sqlite::Sqlite::new(path.clone()))
        }
        Connection::Relational(RelationalConnection::Server(server)) => match server.engine {
            ServerKind::Postgres => Box::new(postgres::Postgres::new(server.clone())),
            ServerKind::Mysql => Box::new(mysql::Mysql::new(server.clone())),
        },
    }
}

#[cfg(test)]
pub use mysql::DIALECT as MYSQL;
#[cfg(test)]
pub use postgres::DIALECT as POSTGRES;
