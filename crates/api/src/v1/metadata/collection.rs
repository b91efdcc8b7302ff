//! `GET /v1/log/collection` and `GET /v1/resource`: the collection log's fetches and the
//! resources (processed files) they produced.

use actix_web::{HttpResponse, web};
use serde_json::Value as Json;
use sluice_domain::metadata::{
    CollectionFilters, CollectionLogQuery, FilterValue, Record, ResourceQuery,
};

use super::dto::{CollectionParams, object_of, page, paged_response};
use crate::{ApiError, ApiState};

fn filters(params: &mut CollectionParams) -> Result<CollectionFilters, ApiError> {
    let list = |parameter: &str, raw: Option<String>| {
        FilterValue::list(parameter, raw.into_iter().collect())
    };
    Ok(CollectionFilters {
        dataset: list("dataset", params.dataset.take())?,
        organisation: list("organisation", params.organisation.take())?,
        endpoint: list("endpoint", params.endpoint.take())?,
        resource: list("resource", params.resource.take())?,
    })
}

fn row(record: Record) -> Json {
    Json::Object(object_of(record))
}

/// One page of fetches, oldest first.
#[utoipa::path(
    get,
    path = "/v1/log/collection",
    tag = "metadata",
    operation_id = "listCollectionLog",
    params(CollectionParams),
    responses(
        (status = 200, description = "Rows of the collection log, keyed by the archive's column names",
         body = Vec<serde_json::Value>),
    )
)]
pub async fn log_entries(
    state: web::Data<ApiState>,
    params: web::Query<CollectionParams>,
) -> Result<HttpResponse, ApiError> {
    let mut params = params.into_inner();
    let query = CollectionLogQuery {
        filters: filters(&mut params)?,
        page: page(params.limit, params.offset)?,
    };
    let entries = state.metadata.collection_log(&query).await?;
    Ok(paged_response(entries, query.page, row))
}

/// One page of resources, by start date.
#[utoipa::path(
    get,
    path = "/v1/resource",
    tag = "metadata",
    operation_id = "listResources",
    params(CollectionParams),
    responses(
        (status = 200, description = "Resources (processed files), keyed by the archive's column names",
         body = Vec<serde_json::Value>),
    )
)]
pub async fn resources(
    state: web::Data<ApiState>,
    params: web::Query<CollectionParams>,
) -> Result<HttpResponse, ApiError> {
    let mut params = params.into_inner();
    let query = ResourceQuery {
        filters: filters(&mut params)?,
        page: page(params.limit, params.offset)?,
    };
    let resources = state.metadata.resources(&query).await?;
    Ok(paged_response(resources, query.page, row))
}
