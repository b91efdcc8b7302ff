//! The JSON the store keeps for a data store's connection (without its password) and for a flow
//! input's definition. Its own serde types, so the domain's types carry no serde.

use serde::{Deserialize, Serialize};
use sluice_domain::data_store::DataStoreId;
use sluice_domain::data_store::{
    Connection, DataPath, FileFormat, RelationalConnection, ServerConnection, ServerKind,
};
use sluice_domain::flow_input::{NewFlowInput, Output, Source, SourceRead, Transform, WriteMode};
use sluice_domain::names::TableName;

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StoredConnection {
    Sqlite {
        path: String,
    },
    Server {
        engine: String,
        host: String,
        port: u16,
        user: String,
        database: String,
    },
    Columnar {
        path: String,
    },
    File {
        path: String,
        format: String,
    },
}

impl StoredConnection {
    pub fn from_domain(connection: &Connection) -> Self {
        match connection {
            Connection::Relational(RelationalConnection::Sqlite { path }) => Self::Sqlite {
                path: path.as_str().into(),
            },
            Connection::Relational(RelationalConnection::Server(server)) => Self::Server {
                engine: server.engine.as_str().into(),
                host: server.host.clone(),
                port: server.port,
                user: server.user.clone(),
                database: server.database.clone(),
            },
            Connection::Columnar { path } => Self::Columnar {
                path: path.as_str().into(),
            },
            Connection::File { path, format } => Self::File {
                path: path.as_str().into(),
                format: format.as_str().into(),
            },
        }
    }

    /// `unreadable` says why a stored password could not be opened, when it could not.
    pub fn into_domain(
        self,
        password: Option<String>,
        unreadable: Option<String>,
    ) -> Result<Connection, String> {
        Ok(match self {
            Self::Sqlite { path } => Connection::Relational(RelationalConnection::Sqlite {
                path: DataPath::parse(&path)?,
            }),
            Self::Server {
                engine,
                host,
                port,
                user,
                database,
            } => {
                let engine = match engine.as_str() {
                    "postgres" => ServerKind::Postgres,
                    "mysql" => ServerKind::Mysql,
                    other => return Err(format!("unknown engine '{other}'")),
                };
                Connection::Relational(RelationalConnection::Server(ServerConnection {
                    engine,
                    host,
                    port,
                    user,
                    password: password.map(Into::into),
                    database,
                    password_unreadable: unreadable,
                }))
            }
            Self::Columnar { path } => Connection::Columnar {
                path: DataPath::parse(&path)?,
            },
            Self::File { path, format } => Connection::File {
                path: DataPath::parse(&path)?,
                format: FileFormat::parse(&format)
                    .ok_or_else(|| format!("unknown format '{format}'"))?,
            },
        })
    }
}

#[derive(Serialize, Deserialize)]
/// A flow input's definition column. Definitions written before the stores were read off the
/// sources also hold `source_data_store_ids`, which reading ignores.
pub struct StoredDefinition {
    sources: Vec<StoredSource>,
    transforms: Vec<StoredTransform>,
    outputs: Vec<StoredOutput>,
}

#[derive(Serialize, Deserialize)]
struct StoredSource {
    data_store_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    table: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    query: Option<String>,
    alias: String,
}

#[derive(Serialize, Deserialize)]
struct StoredTransform {
    name: String,
    sql: String,
}

#[derive(Serialize, Deserialize)]
struct StoredOutput {
    transform: String,
    table: Option<String>,
    mode: String,
}

/// The parts of a flow input that live in its definition column.
pub struct DefinitionParts {
    pub sources: Vec<Source>,
    pub transforms: Vec<Transform>,
    pub outputs: Vec<Output>,
}

impl StoredDefinition {
    pub fn from_domain(new: &NewFlowInput) -> Self {
        Self {
            sources: new
                .sources
                .iter()
                .map(|s| {
                    let (table, query) = s.read.table_and_query();
                    StoredSource {
                        data_store_id: s.data_store_id.0,
                        table,
                        query,
                        alias: s.alias.to_string(),
                    }
                })
                .collect(),
            transforms: new
                .transforms
                .iter()
                .map(|t| StoredTransform {
                    name: t.name.to_string(),
                    sql: t.sql.clone(),
                })
                .collect(),
            outputs: new
                .outputs
                .iter()
                .map(|o| StoredOutput {
                    transform: o.transform.to_string(),
                    table: o.table.as_ref().map(ToString::to_string),
                    mode: o.mode.as_str().into(),
                })
                .collect(),
        }
    }

    pub fn into_domain(self) -> Result<DefinitionParts, String> {
        let sources = self
            .sources
            .into_iter()
            .map(|s| {
                let read = match (s.table, s.query) {
                    (Some(table), _) => SourceRead::Table(table),
                    (None, Some(query)) => SourceRead::Query(query),
                    (None, None) => SourceRead::File,
                };
                Ok(Source {
                    data_store_id: DataStoreId(s.data_store_id),
                    read,
                    alias: TableName::parse(&s.alias)?,
                })
            })
            .collect::<Result<_, String>>()?;
        let transforms = self
            .transforms
            .into_iter()
            .map(|t| {
                Ok(Transform {
                    name: TableName::parse(&t.name)?,
                    sql: t.sql,
                })
            })
            .collect::<Result<_, String>>()?;
        let outputs = self
            .outputs
            .into_iter()
            .map(|o| {
                Ok(Output {
                    transform: TableName::parse(&o.transform)?,
                    table: o.table.as_deref().map(TableName::parse).transpose()?,
                    mode: WriteMode::parse(&o.mode)
                        .ok_or_else(|| format!("unknown mode '{}'", o.mode))?,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(DefinitionParts {
            sources,
            transforms,
            outputs,
        })
    }
}
