//! `/v2/data-stores`: stores by name. A store's connection may be replaced (a new password); a
//! store stays while any flow input version uses it.

use actix_web::http::header::{ETAG, IF_MATCH};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sluice_domain::data_store::{DataStore, DataStoreKind, NewDataStore};
use sluice_domain::described_store::{ConnectionPatch, DescribedConnection, FieldPatch};
use sluice_domain::names::DataStoreName;

use utoipa::{IntoParams, ToSchema};

use super::data_store_schemas as schemas;
use crate::openapi::words;
use crate::wire::conditional::{body_tag, tag_matches};
use crate::wire::connection_view::ConnectionView;
use crate::wire::cursor::{CreatedPage, ListPage};
use crate::wire::extract::from_json;
use crate::wire::problems;
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

/// A store to register, as it is read: the document describes it shape by shape
/// ([`schemas::CreateDataStore`]), and the domain's rules refuse what a shape does not take.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateDataStore {
    name: String,
    #[serde(rename = "type")]
    kind: KindDto,
    connection: ConnectionDto,
}

/// Where the store is, every field of every shape; the domain checks which the store's type takes.
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

/// A merge patch of a store ([`schemas::ConnectionPatch`]): only its connection changes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchRequest {
    connection: PatchDto,
}

/// Each field absent (kept), a value (set) or `null` (removed).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchDto {
    #[serde(default, deserialize_with = "field_patch")]
    path: FieldPatch<String>,
    #[serde(default, deserialize_with = "field_patch")]
    format: FieldPatch<String>,
    #[serde(default, deserialize_with = "field_patch")]
    engine: FieldPatch<String>,
    #[serde(default, deserialize_with = "field_patch")]
    host: FieldPatch<String>,
    #[serde(default, deserialize_with = "field_patch")]
    port: FieldPatch<u16>,
    #[serde(default, deserialize_with = "field_patch")]
    user: FieldPatch<String>,
    #[serde(default, deserialize_with = "field_patch")]
    password: FieldPatch<String>,
    #[serde(default, deserialize_with = "field_patch")]
    database: FieldPatch<String>,
}

/// A field that is there: `null` removes, a value sets (an absent one stays `Keep`, the default).
fn field_patch<'de, D, T>(deserializer: D) -> Result<FieldPatch<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.map_or(FieldPatch::Remove, FieldPatch::Set))
}

impl From<PatchDto> for ConnectionPatch {
    fn from(p: PatchDto) -> Self {
        let password = match p.password {
            FieldPatch::Keep => FieldPatch::Keep,
            FieldPatch::Set(password) => FieldPatch::Set(SecretString::from(password)),
            FieldPatch::Remove => FieldPatch::Remove,
        };
        Self {
            path: p.path,
            format: p.format,
            engine: p.engine,
            host: p.host,
            port: p.port,
            user: p.user,
            password,
            database: p.database,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = DataStore)]
pub struct DataStoreDto {
    name: String,
    #[serde(rename = "type")]
    kind: KindDto,
    connection: ConnectionView,
    created_at: DateTime<Utc>,
    /// How many times its connection was changed (a password change too, which shows nowhere
    /// else): the store's `ETag` changes with it.
    revision: u64,
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
            revision: store.revision,
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
    request_body = schemas::CreateDataStore,
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
    /// `created_at` (the default) or `-created_at` (the newest first).
    #[param(schema_with = words::created_orders)]
    order_by: Option<String>,
    /// `true` adds `total`, how many stores there are, to the page.
    count: Option<bool>,
    /// How many items, 1 to 1000 (50 when left out).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
    /// The `next_cursor` of the page before (taken in the same `order_by`).
    cursor: Option<String>,
}

/// The data stores, in `order_by` (oldest first by default).
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
    let page = CreatedPage::parse(
        query.limit,
        query.cursor.as_deref(),
        query.order_by.as_deref(),
    )?;
    let stores = state.data_stores.list(page.page).await?;
    let total = match query.count {
        Some(true) => Some(state.data_stores.count().await?),
        _ => None,
    };
    let list = page.list(stores, |s| s.id.0, |s| DataStoreDto::from(s));
    Ok(list.with_total(total).respond(&req))
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

/// Changes a store's connection.
///
/// An RFC 7396 merge patch: `{"connection": {"password": "…"}}` changes the password alone,
/// `{"connection": {"host": "…"}}` the host alone; a `null` removes a field. Its type stays. Flow
/// inputs that use the store use the new connection from their next flow. With `If-Match` (the
/// store's `ETag`), a store changed since it was read is left as it is: 412.
#[utoipa::path(
    patch,
    path = "/v2/data-stores/{name}",
    tag = "data stores",
    operation_id = "updateDataStore",
    params(
        ("name" = String, Path, description = "The store's name", example = "orders"),
        ("If-Match" = Option<String>, Header, nullable = false,
         description = "The `ETag` of the store as last read: the change is made only if it is still that"),
    ),
    request_body(content = schemas::ConnectionPatch, content_type = "application/merge-patch+json"),
    responses(
        (status = 200, description = "The store", body = DataStoreDto),
        (status = 412, description = "The store changed since the `ETag` given"),
    )
)]
pub async fn update(
    req: HttpRequest,
    state: web::Data<ApiState>,
    name: web::Path<String>,
    body: web::Json<UniqueKeys>,
) -> Result<HttpResponse, ApiError> {
    let name = store_name(&name)?;
    let patch = from_json::<PatchRequest>(body.into_inner().0)?
        .connection
        .into();
    // Several `If-Match` headers are one list (RFC 9110).
    let wanted: Vec<&str> = req
        .headers()
        .get_all(IF_MATCH)
        .filter_map(|value| value.to_str().ok())
        .collect();
    let store = if wanted.is_empty() {
        state.data_stores.patch_connection(&name, patch).await?
    } else {
        let store = state.data_stores.get_by_name(&name).await?;
        if !tag_matches(&wanted.join(","), &tag_of(&store)) {
            return Err(ApiError::new(
                problems::PRECONDITION_FAILED,
                format!("data store {name} changed since it was read: read it again"),
            ));
        }
        // Made from the revision just checked: a change that comes in between is a 412 too.
        state.data_stores.patch(store, patch).await?
    };
    Ok(HttpResponse::Ok()
        .insert_header((ETAG, tag_of(&store)))
        .json(DataStoreDto::from(&store)))
}

/// The store's `ETag`, as a `GET` of it carries it.
fn tag_of(store: &DataStore) -> String {
    body_tag(&serde_json::to_vec(&DataStoreDto::from(store)).unwrap_or_default())
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
