use actix_web::{HttpResponse, web};
use sluice_domain::data_store::DataStoreId;

use super::dto::{CreateDataStore, DataStoreDto, PageQuery};
use crate::extract::from_json;
use crate::wire::strict_json::UniqueKeys;
use crate::{ApiError, ApiState};

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

pub async fn get(state: web::Data<ApiState>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let store = state.data_stores.get(DataStoreId(id.into_inner())).await?;
    Ok(HttpResponse::Ok().json(DataStoreDto::from(&store)))
}

pub async fn list(
    state: web::Data<ApiState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let stores = state.data_stores.list(query.page()?).await?;
    Ok(HttpResponse::Ok().json(stores.iter().map(DataStoreDto::from).collect::<Vec<_>>()))
}
