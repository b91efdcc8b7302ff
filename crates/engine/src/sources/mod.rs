//! Source connectors: each reads one source of a flow into the engine's session as a DataFrame.
//! A new kind of store (PostgreSQL, MySQL, S3) is a new [`SourceConnector`].

mod file;
mod postgres;
mod sqlite;

use async_trait::async_trait;
use datafusion::dataframe::DataFrame;
use datafusion::prelude::SessionContext;
use sluice_domain::data_store::{Connection, RelationalConnection, ServerEngine};
use sluice_domain::flow_input::SourceRead;
use sluice_domain::ports::PlannedSource;

use crate::folder::DataFolder;
use crate::{Error, Result};

#[async_trait]
pub trait SourceConnector: Send + Sync {
    /// The source's rows. The engine materializes them once, so every transform reading the
    /// source sees the same snapshot.
    async fn read(&self, ctx: &SessionContext) -> Result<DataFrame>;
}

/// The connector that reads `source` from its store.
///
/// # Errors
/// `Location` for a path outside the data folder; `Unsupported` for a store and read that no
/// connector handles (validation refuses those before a flow starts).
pub fn connector_for(
    source: &PlannedSource,
    folder: &DataFolder,
) -> Result<Box<dyn SourceConnector>> {
    match (&source.store.connection, &source.read) {
        (Connection::File { path, format }, SourceRead::File) => Ok(Box::new(
            file::FileSource::file(folder.resolve(path)?, *format),
        )),
        (Connection::Columnar { path }, SourceRead::Table(table)) => Ok(Box::new(
            file::FileSource::table_folder(folder.resolve(path)?.join(table)),
        )),
        (Connection::Relational(RelationalConnection::Sqlite { path }), read) => Ok(Box::new(
            sqlite::SqliteSource::new(folder.resolve(path)?, relational_sql(read, "sqlite")?),
        )),
        (Connection::Relational(RelationalConnection::Server(server)), read)
            if server.engine == ServerEngine::Postgres =>
        {
            Ok(Box::new(postgres::PostgresSource::new(
                server.clone(),
                relational_sql(read, "postgres")?,
            )))
        }
        (connection, _) => Err(Error::Unsupported(format!(
            "reading this source from a {} store is not supported yet",
            connection.kind().as_str()
        ))),
    }
}

/// The query that reads a relational source: its table whole, or the query it was given.
fn relational_sql(read: &SourceRead, engine: &str) -> Result<String> {
    match read {
        SourceRead::Table(table) => Ok(format!(
            "SELECT * FROM {}",
            crate::sqlite_arrow::quote(table)
        )),
        SourceRead::Query(query) => Ok(query.clone()),
        SourceRead::File => Err(Error::Unsupported(format!(
            "a {engine} source needs a table or a query"
        ))),
    }
}
