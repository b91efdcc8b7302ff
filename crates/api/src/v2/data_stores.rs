//! `/v2/data-stores`: stores by name. A store's connection may be replaced (a new password); a
//! store stays while any flow input version uses it.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sluice_domain::data_store::{
    Connection, DataStore, DataStoreKind, NewDataStore, RelationalConnection,
};
use sluice_domain::described_store::DescribedConnection;
use sluice_domain::names::DataStoreName;

use crate::extract::from_json;
use crate::wire::cursor::{self, ListPage};
use crate::wire::strict_json::UniqueKeys;
use crate::{ApiError, ApiState};

#[derive(Deserialize, Serialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum KindDto {
    RelationalDb,
    ColumnarDb,
    File,
}

impl From<KindDto> for DataStoreKind {
    fn from(kind: KindDto) -> Self {
        match kind {
            KindDto::RelationalDb => Self::RelationalDb,
            KindDto::ColumnarDb => Self::ColumnarDb,
            KindDto::File => Self::File,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateDataStore {
    name: String,
    #[serde(rename = "type")]
    kind: KindDto,
    connection: ConnectionDto,
}

/// Every field any type of store takes; the domain says which ones a type may have.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConnectionDto {
    path: Option<String>,
    format: Option<String>,
    engine: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    password: Option<String>,
    database: Option<String>,
}

impl From<ConnectionDto> for DescribedConnection {
    fn from(c: ConnectionDto) -> Self {
        Self {
            path: c.path,
            format: c.format,
            engine: c.engine,
            host: c.host,
            port: c.port,
            user: c.user,
            password: c.password.map(SecretString::from),
            database: c.database,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplaceConnection {
    connection: ConnectionDto,
}

#[derive(Serialize)]
pub struct DataStoreDto {
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    connection: serde_json::Value,
    created_at: DateTime<Utc>,
}

impl From<&DataStore> for DataStoreDto {
    fn from(store: &DataStore) -> Self {
        // Built field by field: the password is never among them.
        let connection = match &store.connection {
            Connection::File { path, format } => {
                serde_json::json!({"path": path.as_str(), "format": format.as_str()})
            }
            Connection::Columnar { path } => serde_json::json!({"path": path.as_str()}),
            Connection::Relational(RelationalConnection::Sqlite { path }) => {
                serde_json::json!({"engine": "sqlite", "path": path.as_str()})
            }
            Connection::Relational(RelationalConnection::Server(server)) => serde_json::json!({
                "engine": server.engine.as_str(),
                "host": server.host,
                "port": server.port,
                "user": server.user,
                "database": server.database,
                "has_password": server.password.is_some(),
            }),
        };
        Self {
            name: store.name.to_string(),
            kind: store.connection.kind().as_str(),
            connection,
            created_at: store.created_utc,
        }
    }
}

fn location(store: &DataStore) -> String {
    format!("/v2/data-stores/{}", store.name)
}

/// A name in a path: a name that cannot be valid names no store.
fn store_name(raw: &str) -> Result<DataStoreName, ApiError> {
    DataStoreName::parse(raw)
        .map_err(|_| ApiError::not_found(format!("data store {raw} does not exist")))
}

pub async fn create(
    state: web::Data<ApiState>,
    body: web::Json<UniqueKeys>,
) -> Result<HttpResponse, ApiError> {
    let request = from_json::<CreateDataStore>(body.into_inner().0)?;
    let new = NewDataStore::describe(
        &request.name,
        request.kind.into(),
        request.connection.into(),
    )
    .map_err(ApiError::invalid)?;
    let store = state.data_stores.create(new).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", location(&store)))
        .json(DataStoreDto::from(&store)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<u64>,
    cursor: Option<String>,
}

pub async fn list(
    req: HttpRequest,
    state: web::Data<ApiState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = cursor::page(query.limit, query.cursor.as_deref())?;
    let stores = state.data_stores.list(page).await?;
    let list = ListPage::new(stores, page, |s| s.id.0, |s| DataStoreDto::from(s));
    let mut response = HttpResponse::Ok();
    if let Some(link) = list.link(&req) {
        response.insert_header(("Link", link));
    }
    Ok(response.json(list))
}

pub async fn get(
    state: web::Data<ApiState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let store = state.data_stores.get_by_name(&store_name(&name)?).await?;
    Ok(HttpResponse::Ok().json(DataStoreDto::from(&store)))
}

pub async fn replace_connection(
    state: web::Data<ApiState>,
    name: web::Path<String>,
    body: web::Json<UniqueKeys>,
) -> Result<HttpResponse, ApiError> {
    let name = store_name(&name)?;
    let request = from_json::<ReplaceConnection>(body.into_inner().0)?;
    let store = state
        .data_stores
        .replace_connection(&name, request.connection.into())
        .await?;
    Ok(HttpResponse::Ok().json(DataStoreDto::from(&store)))
}

pub async fn delete(
    state: web::Data<ApiState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.data_stores.delete(&store_name(&name)?).await?;
    Ok(HttpResponse::NoContent().finish())
}
