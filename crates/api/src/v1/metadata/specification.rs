//! `GET /v1/specification/specification` (one item per dataset of each specification), and one
//! dataset or field of the specification's tables.

use actix_web::{HttpResponse, web};
use serde_json::{Value as Json, json};
use sluice_domain::metadata::{DatasetSpecification, FilterValue, SpecificationQuery};

use super::dto::{SpecificationParams, object_of, page, paged_response};
use crate::{ApiError, ApiState};

/// One item per dataset of each specification: its entry as the specification stores it.
#[utoipa::path(
    get,
    path = "/v1/specification/specification",
    tag = "metadata",
    operation_id = "listSpecificationDatasets",
    params(SpecificationParams),
    responses(
        (status = 200, description = "Each dataset's entry as its specification stores it (`dataset`, `name`, `fields`, … with their keys in the stored order), by specification, then in each specification's order",
         body = Vec<serde_json::Value>),
    )
)]
pub async fn datasets(
    state: web::Data<ApiState>,
    params: web::Query<SpecificationParams>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let query = SpecificationQuery {
        dataset: FilterValue::optional("dataset", params.dataset)?,
        page: page(params.limit, params.offset)?,
    };
    let datasets = state.metadata.specifications(&query).await?;
    Ok(paged_response(datasets, query.page, dataset_json))
}

/// The dataset's entry as the specification stores it: its keys, in its order, nothing added.
fn dataset_json(dataset: DatasetSpecification) -> Json {
    Json::Object(object_of(dataset.item))
}

/// The dataset's row of the specification, with `fields`: its rows of `dataset-field`.
#[utoipa::path(
    get,
    path = "/v1/specification/datasets/{dataset}",
    tag = "metadata",
    operation_id = "getSpecificationDataset",
    params(("dataset" = String, Path, description = "The dataset", example = "conservation-area")),
    responses((status = 200, description = "The dataset's row, with `fields`", body = serde_json::Value))
)]
pub async fn dataset(
    state: web::Data<ApiState>,
    dataset: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let entry = state.metadata.specification_dataset(&dataset).await?;
    let mut body = object_of(entry.dataset);
    body.insert(
        "fields".into(),
        Json::Array(
            entry
                .fields
                .into_iter()
                .map(|f| Json::Object(object_of(f)))
                .collect(),
        ),
    );
    Ok(HttpResponse::Ok().json(body))
}

/// The field's row of the specification, with `datasets`: the datasets that have it.
#[utoipa::path(
    get,
    path = "/v1/specification/fields/{field}",
    tag = "metadata",
    operation_id = "getSpecificationField",
    params(("field" = String, Path, description = "The field", example = "reference")),
    responses((status = 200, description = "The field's row, with `datasets`", body = serde_json::Value))
)]
pub async fn field(
    state: web::Data<ApiState>,
    field: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let entry = state.metadata.specification_field(&field).await?;
    let mut body = object_of(entry.field);
    body.insert("datasets".into(), json!(entry.datasets));
    Ok(HttpResponse::Ok().json(body))
}
