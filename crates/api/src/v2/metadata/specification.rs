//! `/v2/specification/…`: the datasets each specification describes, and the specification's
//! own dataset and field tables, with snake_case keys and empty cells `null`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value as Json, json};
use sluice_domain::metadata::{DatasetSpecification, FilterValue, SpecificationQuery};
use utoipa::IntoParams;

use super::schemas::{SpecificationDataset, SpecificationEntry, SpecificationField};
use super::typed::object;
use super::{LIMIT_RULE, respond};
use crate::wire::cursor::{ListPage, offset_page};
use crate::wire::extract::from_repeated_query;
use crate::{ApiError, ApiState};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SpecificationParams {
    /// Only this dataset's entries.
    dataset: Option<String>,
    /// How many entries, 1 to 1000 (50 when left out).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

/// Each dataset of each specification: `specification`, `dataset`, and `entry`, the dataset as
/// the specification describes it (its keys in snake_case, in the stored order).
#[utoipa::path(
    get,
    path = "/v2/specification/datasets",
    tag = "metadata",
    operation_id = "listSpecificationDatasets",
    params(SpecificationParams),
    responses(
        (status = 200, description = "A page of datasets, by specification, then in each specification's order",
         body = ListPage<SpecificationEntry>,
         headers(("Link" = String, description = "`<…>; rel=\"next\"`: the next page, when there is one"))),
    )
)]
pub async fn datasets(
    req: HttpRequest,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let params: SpecificationParams = from_repeated_query(req.query_string(), LIMIT_RULE)?;
    let query = SpecificationQuery {
        dataset: FilterValue::optional("dataset", params.dataset)?,
        page: offset_page(params.limit, params.cursor.as_deref())?,
    };
    let datasets = state.metadata.specifications(&query).await?;
    let items = datasets.items.into_iter().map(entry_json).collect();
    Ok(respond(
        &req,
        ListPage::at_offset(items, query.page, datasets.total),
    ))
}

fn entry_json(dataset: DatasetSpecification) -> Json {
    json!({
        "specification": dataset.specification,
        "dataset": dataset.dataset,
        "entry": Json::Object(object(dataset.item, &[])),
    })
}

/// The dataset's row of the specification, with `fields`: its rows of `dataset-field`.
#[utoipa::path(
    get,
    path = "/v2/specification/datasets/{dataset}",
    tag = "metadata",
    operation_id = "getSpecificationDataset",
    params(("dataset" = String, Path, description = "The dataset", example = "conservation-area")),
    responses((status = 200, description = "The dataset's row, with `fields`", body = SpecificationDataset))
)]
pub async fn dataset(
    state: web::Data<ApiState>,
    dataset: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let entry = state.metadata.specification_dataset(&dataset).await?;
    let mut body = object(entry.dataset, &[]);
    let fields = entry
        .fields
        .into_iter()
        .map(|f| Json::Object(object(f, &[])))
        .collect();
    body.insert("fields".into(), Json::Array(fields));
    Ok(HttpResponse::Ok().json(body))
}

/// The field's row of the specification, with `datasets`: the datasets that have it.
#[utoipa::path(
    get,
    path = "/v2/specification/fields/{field}",
    tag = "metadata",
    operation_id = "getSpecificationField",
    params(("field" = String, Path, description = "The field", example = "reference")),
    responses((status = 200, description = "The field's row, with `datasets`", body = SpecificationField))
)]
pub async fn field(
    state: web::Data<ApiState>,
    field: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let entry = state.metadata.specification_field(&field).await?;
    let mut body = object(entry.field, &[]);
    body.insert("datasets".into(), json!(entry.datasets));
    Ok(HttpResponse::Ok().json(body))
}
