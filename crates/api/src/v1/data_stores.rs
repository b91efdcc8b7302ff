//! `/v1` data stores: the handlers, then what goes over the wire.

use actix_web::{HttpResponse, web};
use sluice_domain::data_store::DataStoreId;

use super::utc;
use crate::wire::extract::from_json;
use crate::wire::strict_json::UniqueKeys;
use crate::{ApiError, ApiState};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sluice_domain::data_store::{DataStore, DataStoreKind, NewDataStore};
use sluice_domain::described_store::DescribedConnection;
use sluice_domain::page::Page;

use utoipa::{IntoParams, ToSchema};

use crate::openapi::words;
use crate::wire::connection_view::ConnectionView;

/// Registers a data store.
#[utoipa::path(
    post,
    path = "/v1/data-stores",
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
    let new = from_json::<CreateDataStore>(body.into_inner().0)?.into_domain()?;
    let store = state.data_stores.create(new).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/data-stores/{}", store.id)))
        .json(DataStoreDto::from(&store)))
}

/// One data store.
#[utoipa::path(
    get,
    path = "/v1/data-stores/{id}",
    tag = "data stores",
    operation_id = "getDataStore",
    params(("id" = i64, Path, description = "The store's id", example = 1)),
    responses((status = 200, description = "The store", body = DataStoreDto))
)]
pub async fn get(state: web::Data<ApiState>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let store = state.data_stores.get(DataStoreId(id.into_inner())).await?;
    Ok(HttpResponse::Ok().json(DataStoreDto::from(&store)))
}

/// The data stores, oldest first.
#[utoipa::path(
    get,
    path = "/v1/data-stores",
    tag = "data stores",
    operation_id = "listDataStores",
    params(PageQuery),
    responses((status = 200, description = "A page of stores", body = Vec<DataStoreDto>))
)]
pub async fn list(
    state: web::Data<ApiState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let stores = state.data_stores.list(query.page()?).await?;
    Ok(HttpResponse::Ok().json(stores.iter().map(DataStoreDto::from).collect::<Vec<_>>()))
}

// ---- the wire format of data stores

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDataStore {
    /// Letters, digits, `_`, `-` and `.`, starting with a letter or a digit, unique among stores.
    #[schema(schema_with = words::new_store_name)]
    name: String,
    #[serde(rename = "type")]
    kind: KindDto,
    /// The fields of the store's `type`.
    #[schema(schema_with = connection_by_type)]
    connection: serde_json::Value,
}

/// A `connection` is one of three shapes, by the store's `type`.
fn connection_by_type() -> utoipa::openapi::schema::Schema {
    use utoipa::PartialSchema;
    utoipa::openapi::schema::Schema::OneOf(
        utoipa::openapi::schema::OneOfBuilder::new()
            .item(RelationalConnectionDto::schema())
            .item(PathConnection::schema())
            .item(FileConnection::schema())
            .build(),
    )
}

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

/// A `columnar_db`'s folder: local (inside the data folder) or `s3://bucket/prefix`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(title = "columnar_db")]
struct PathConnection {
    path: String,
}

/// A `file`: its path and `format` (`csv` or `parquet`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(title = "file")]
struct FileConnection {
    path: String,
    format: String,
}

/// A `relational_db`: `engine` (`sqlite`, `postgres`, or `mysql` for MySQL and MariaDB) and, for SQLite,
/// `path`, for the others `host`, `port` (the engine's default when left out), `user`,
/// `password` and `database`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(title = "relational_db")]
struct RelationalConnectionDto {
    engine: String,
    path: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    password: Option<String>,
    database: Option<String>,
}

/// Parses the `connection` object of the data store's type, pointing errors into it.
fn connection<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    from_json::<T>(value).map_err(|err| err.under("/connection"))
}

impl CreateDataStore {
    /// Reads the `connection` object of the data store's type (unknown fields refused there), and
    /// leaves the rules to the domain.
    pub fn into_domain(self) -> Result<NewDataStore, ApiError> {
        let (kind, described) = match self.kind {
            KindDto::File => {
                let c: FileConnection = connection(self.connection)?;
                let described = DescribedConnection {
                    path: Some(c.path),
                    format: Some(c.format),
                    ..Default::default()
                };
                (DataStoreKind::File, described)
            }
            KindDto::ColumnarDb => {
                let c: PathConnection = connection(self.connection)?;
                let described = DescribedConnection {
                    path: Some(c.path),
                    ..Default::default()
                };
                (DataStoreKind::ColumnarDb, described)
            }
            KindDto::RelationalDb => {
                let c: RelationalConnectionDto = connection(self.connection)?;
                let described = DescribedConnection {
                    path: c.path,
                    format: None,
                    engine: Some(c.engine),
                    host: c.host,
                    port: c.port,
                    user: c.user,
                    password: c.password.map(SecretString::from),
                    database: c.database,
                };
                (DataStoreKind::RelationalDb, described)
            }
        };
        NewDataStore::describe(&self.name, kind, described).map_err(ApiError::invalid)
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = DataStore)]
pub struct DataStoreDto {
    id: i64,
    name: String,
    #[serde(rename = "type")]
    kind: KindDto,
    connection: ConnectionView,
    /// RFC 3339, UTC, milliseconds.
    #[schema(format = DateTime)]
    created_utc: String,
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
        Self {
            id: store.id.0,
            name: store.name.to_string(),
            kind: store.connection.kind().into(),
            connection: ConnectionView::from(&store.connection),
            created_utc: utc(store.created_utc),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// How many items, 1 to 100 (50 when left out).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u64>,
    /// How many items to skip.
    #[param(minimum = 0)]
    offset: Option<u64>,
}

impl PageQuery {
    pub fn page(&self) -> Result<Page, ApiError> {
        Ok(Page::new(self.limit, self.offset)?)
    }
}
