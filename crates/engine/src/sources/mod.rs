//! Source connectors: each reads one source of a flow into the engine's session as a DataFrame.
//! A new kind of store (PostgreSQL, MySQL, S3) is a new [`SourceConnector`].

mod file;
mod mysql;
mod postgres;
mod sqlite;

pub use file::FileSource;
pub use mysql::MysqlSource;
pub use postgres::PostgresSource;

use async_trait::async_trait;
use datafusion::prelude::SessionContext;
use sluice_domain::data_store::{Connection, RelationalConnection, ServerKind};
use sluice_domain::flow_input::SourceRead;
use sluice_domain::ports::PlannedSource;

use crate::identifiers::{quote, quote_mysql};
use crate::location::Locator;
use crate::rows::RowSink;
use crate::{Error, Result};

#[async_trait]
pub trait SourceConnector: Send + Sync {
    /// Reads the source's rows into `rows` batch by batch as they arrive, so that memory stays
    /// bounded by a batch, and stops early when they are no longer wanted. The engine reads each
    /// source once: every transform reading it sees the same snapshot.
    async fn read(&self, ctx: &SessionContext, rows: &mut dyn RowSink) -> Result<()>;
}

/// The connector that reads `source` from its store.
///
/// # Errors
/// `Location` for a path outside the data folder; `Unsupported` for a store and read that no
/// connector handles (validation refuses those before a flow starts).
/// `source` as files a Ballista cluster's executors read themselves.
///
/// # Errors
/// `Unsupported` for a source of a database (validation refuses those for Ballista); `Location`
/// for a path outside the data folder.
pub fn files_of(source: &PlannedSource, locator: &Locator) -> Result<FileSource> {
    match (&source.store.connection, &source.read) {
        (Connection::File { path, format }, SourceRead::File) => {
            Ok(FileSource::file(locator.locate(path)?, *format))
        }
        (Connection::Columnar { path }, SourceRead::Table(table)) => {
            Ok(FileSource::table_folder(locator.locate(path)?, table))
        }
        (connection, _) => Err(Error::Unsupported(format!(
            "Ballista reads file and columnar stores, not a {} store",
            connection.kind().as_str()
        ))),
    }
}

pub fn connector_for(
    source: &PlannedSource,
    locator: &Locator,
) -> Result<Box<dyn SourceConnector>> {
    match (&source.store.connection, &source.read) {
        (Connection::File { .. }, SourceRead::File)
        | (Connection::Columnar { .. }, SourceRead::Table(_)) => {
            Ok(Box::new(files_of(source, locator)?))
        }
        (Connection::Relational(RelationalConnection::Sqlite { path }), read) => {
            Ok(Box::new(sqlite::SqliteSource::new(
                locator.local(path)?,
                path.as_str(),
                relational_sql(read, "sqlite", quote)?,
            )))
        }
        (Connection::Relational(RelationalConnection::Server(server)), read) => {
            let engine = server.engine.as_str();
            let source: Box<dyn SourceConnector> = match server.engine {
                ServerKind::Postgres => {
                    let table = match read {
                        SourceRead::Table(table) => Some(quote(table)),
                        _ => None,
                    };
                    let sql = relational_sql(read, engine, quote)?;
                    Box::new(postgres::PostgresSource::new(server.clone(), sql, table))
                }
                ServerKind::Mysql => {
                    let sql = relational_sql(read, engine, quote_mysql)?;
                    Box::new(mysql::MysqlSource::new(server.clone(), sql))
                }
            };
            Ok(source)
        }
        (connection, _) => Err(Error::Unsupported(format!(
            "reading this source from a {} store is not supported yet",
            connection.kind().as_str()
        ))),
    }
}

/// The query that reads a relational source: its table whole, or the query it was given.
pub fn relational_sql(
    read: &SourceRead,
    engine: &str,
    quote: fn(&str) -> String,
) -> Result<String> {
    match read {
        SourceRead::Table(table) => Ok(format!("SELECT * FROM {}", quote(table))),
        SourceRead::Query(query) => Ok(query.clone()),
        SourceRead::File => Err(Error::Unsupported(format!(
            "a {engine} source needs a table or a query"
        ))),
    }
}
