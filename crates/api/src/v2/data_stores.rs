//! `/v2/data-stores`: stores by name. A store's connection may be replaced (a new password); a
//! store stays while any flow input version uses it.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sluice_domain::data_store::{DataStore, DataStoreKind, NewDataStore};
use sluice_domain::described_store::DescribedConnection;
use sluice_domain::names::DataStoreName;

use utoipa::{IntoParams, ToSchema};

use crate::contract::words;
use crate::extract::from_json;
use crate::wire::connection_view::ConnectionView;
use crate::wire::cursor::{self, ListPage};
use crate::wire::strict_json::UniqueKeys;
use crate::{ApiError, ApiState};

/// What a store is: a relational database (SQLite, PostgreSQL, MySQL or MariaDB), a folder of
/// Parquet tables, or one file.
#[derive(Deserialize, Serialize, Clone, Copy, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = DataStoreType)]
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateDataStore)]
struct CreateDataStore {
    /// Letters, digits, `_`, `-` and `.`; the store's address is `/v2/data-stores/{name}`.
    #[schema(schema_with = words::resource_name)]
    name: String,
    #[serde(rename = "type")]
    kind: KindDto,
    connection: ConnectionDto,
}

/// Where the store is. A `file` takes `path` and `format` (`csv`, `parquet` or `json`); a
/// `columnar_db` takes `path` (a folder); a `relational_db` takes `engine` (`sqlite`,
/// `postgres`, `mysql`, `mariadb`) and, for SQLite, `path`, for the others `host`, `port`
/// (the engine's default when left out), `user`, `password` and `database`. Paths are local
/// (inside the data folder) or `s3://bucket/prefix`.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Connection)]
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ReplaceConnection)]
struct ReplaceConnection {
    connection: ConnectionDto,
}

#[derive(Serialize, ToSchema)]
#[schema(as = DataStore)]
pub struct DataStoreDto {
    name: String,
    #[serde(rename = "type")]
    kind: KindDto,
    connection: ConnectionView,
    created_at: DateTime<Utc>,
}

impl From<DataStoreKind> for KindDto {
    fn from(kind: DataStoreKind) -> Self {
        match kind {
            DataStoreKind::RelationalDb => Self::RelationalDb,
            DataStoreKind::ColumnarDb => Self::ColumnarDb,
            DataStoreKind::File => Self::File,
        }
    }
}

impl From<&DataStore> for DataStoreDto {
    fn from(store: &DataStore) -> Self {
        // Built field by field: the password is never among them.
        Self {
            name: store.name.to_string(),
            kind: store.connection.kind().into(),
            connection: ConnectionView::from(&store.connection),
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

/// Registers a data store.
#[utoipa::path(
    post,
    path = "/v2/data-stores",
    tag = "data stores",
    operation_id = "createDataStore",
    request_body = CreateDataStore,
    responses(
        (status = 201, description = "The store", body = DataStoreDto,
         headers(("Location" = String, description = "The store's address"))),
        (status = 409, description = "A store already has this name"),
    )
)]
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

/// A page of a list: at most `limit` items after `cursor`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// How many items, 1 to 1000 (50 when left out).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

/// The data stores, oldest first.
#[utoipa::path(
    get,
    path = "/v2/data-stores",
    tag = "data stores",
    operation_id = "listDataStores",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of stores", body = ListPage<DataStoreDto>,
         headers(("Link" = String, description = "`<…>; rel=\"next\"`: the next page, when there is one"))),
    )
)]
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

/// One data store.
#[utoipa::path(
    get,
    path = "/v2/data-stores/{name}",
    tag = "data stores",
    operation_id = "getDataStore",
    params(("name" = String, Path, description = "The store's name", example = "orders")),
    responses((status = 200, description = "The store", body = DataStoreDto))
)]
pub async fn get(
    state: web::Data<ApiState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let store = state.data_stores.get_by_name(&store_name(&name)?).await?;
    Ok(HttpResponse::Ok().json(DataStoreDto::from(&store)))
}

/// Replaces a store's connection.
///
/// A new password or a moved database: flow inputs that use the store use the new connection
/// from their next flow.
#[utoipa::path(
    patch,
    path = "/v2/data-stores/{name}",
    tag = "data stores",
    operation_id = "replaceDataStoreConnection",
    params(("name" = String, Path, description = "The store's name", example = "orders")),
    request_body = ReplaceConnection,
    responses((status = 200, description = "The store", body = DataStoreDto))
)]
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

/// Deletes a store that no flow input version uses.
#[utoipa::path(
    delete,
    path = "/v2/data-stores/{name}",
    tag = "data stores",
    operation_id = "deleteDataStore",
    params(("name" = String, Path, description = "The store's name", example = "orders")),
    responses(
        (status = 204, description = "The store is gone"),
        (status = 409, description = "A flow input version uses the store"),
    )
)]
pub async fn delete(
    state: web::Data<ApiState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.data_stores.delete(&store_name(&name)?).await?;
    Ok(HttpResponse::NoContent().finish())
}
