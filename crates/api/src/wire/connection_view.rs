//! A data store's connection as both versions show it: field by field, so the password is
//! never among them, only whether there is one.

use serde::Serialize;
use sluice_domain::data_store::{Connection, RelationalConnection};
use utoipa::ToSchema;

/// A store's connection as it is shown: never its password, only whether it has one.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum ConnectionView {
    Server(ServerView),
    Sqlite(SqliteView),
    File(FileView),
    Folder(FolderView),
}

// Each shape refuses the others' fields, so that exactly one describes a given connection.

/// A PostgreSQL, MySQL or MariaDB server.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerView {
    engine: &'static str,
    host: String,
    port: u16,
    user: String,
    database: String,
    has_password: bool,
}

/// A SQLite file.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SqliteView {
    engine: &'static str,
    path: String,
}

/// A file store's file and its format.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileView {
    path: String,
    format: &'static str,
}

/// A columnar store's folder.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FolderView {
    path: String,
}

impl From<&Connection> for ConnectionView {
    fn from(connection: &Connection) -> Self {
        match connection {
            Connection::File { path, format } => Self::File(FileView {
                path: path.as_str().to_owned(),
                format: format.as_str(),
            }),
            Connection::Columnar { path } => Self::Folder(FolderView {
                path: path.as_str().to_owned(),
            }),
            Connection::Relational(RelationalConnection::Sqlite { path }) => {
                Self::Sqlite(SqliteView {
                    engine: "sqlite",
                    path: path.as_str().to_owned(),
                })
            }
            Connection::Relational(RelationalConnection::Server(server)) => {
                Self::Server(ServerView {
                    engine: server.engine.as_str(),
                    host: server.host.clone(),
                    port: server.port,
                    user: server.user.clone(),
                    database: server.database.clone(),
                    has_password: server.password.is_some() || server.password_unreadable.is_some(),
                })
            }
        }
    }
}
