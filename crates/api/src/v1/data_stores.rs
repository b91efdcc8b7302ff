use actix_web::{HttpResponse, web};
use sluice_domain::data_store::DataStoreId;

use super::dto::{CreateDataStore, DataStoreDto, PageQuery};
use crate::extract::from_json;
use crate::wire::strict_json::UniqueKeys;
use crate::{ApiError, ApiState};

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
