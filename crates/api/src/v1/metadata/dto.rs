//! Wire shapes of the metadata endpoints and the pagination headers every list carries.

use actix_web::HttpResponse;
use serde::Deserialize;
use serde_json::{Map, Value as Json};
use sluice_domain::metadata::{FilterValue, IssueFilters, Paged, Record, Value};
use sluice_domain::page::Page;
use utoipa::IntoParams;

use crate::ApiError;

/// A 200 with a JSON array body and the `X-Pagination-*` headers.
pub fn paged_response<T>(paged: Paged<T>, page: Page, row: impl Fn(T) -> Json) -> HttpResponse {
    let body: Vec<Json> = paged.items.into_iter().map(row).collect();
    HttpResponse::Ok()
        .insert_header(("X-Pagination-Total-Results", paged.total.to_string()))
        .insert_header(("X-Pagination-Offset", page.offset().to_string()))
        .insert_header(("X-Pagination-Limit", page.limit().to_string()))
        .json(body)
}

/// `offset` and `limit` as every list takes them.
pub fn page(limit: Option<u64>, offset: Option<u64>) -> Result<Page, ApiError> {
    Ok(Page::new(limit, offset)?)
}

/// The issue log's filters as query parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IssueParams {
    /// The dataset whose issues are read.
    #[param(required = true, example = "conservation-area")]
    pub dataset: Option<String>,
    pub resource: Option<String>,
    pub field: Option<String>,
    pub issue_type: Option<String>,
    /// How many rows to skip.
    #[param(minimum = 0)]
    pub offset: Option<u64>,
    /// How many rows, 1 to 100 (50 when left out).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
}

/// `GET /v1/performance/issues`: the issue log's filters and the columns to group on.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IssueCountParams {
    /// Comma-separated columns to group on, of `dataset`, `resource`, `field`, `issue-type`
    /// (`issue-type` when left out).
    pub group_by: Option<String>,
    pub dataset: Option<String>,
    pub resource: Option<String>,
    pub field: Option<String>,
    pub issue_type: Option<String>,
    /// How many rows to skip.
    #[param(minimum = 0)]
    pub offset: Option<u64>,
    /// How many rows, 1 to 100 (50 when left out).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
}

pub fn issue_filters(
    dataset: Option<String>,
    resource: Option<String>,
    field: Option<String>,
    issue_type: Option<String>,
) -> Result<IssueFilters, ApiError> {
    let list = |parameter: &str, raw: Option<String>| {
        FilterValue::list(parameter, raw.into_iter().collect())
    };
    Ok(IssueFilters {
        dataset: list("dataset", dataset)?,
        resource: list("resource", resource)?,
        field: list("field", field)?,
        issue_type: list("issue_type", issue_type)?,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PerformanceParams {
    pub dataset: Option<String>,
    pub organisation: Option<String>,
    /// How many rows to skip.
    #[param(minimum = 0)]
    pub offset: Option<u64>,
    /// How many rows, 1 to 100 (50 when left out).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
}

/// `GET /v1/log/collection` and `GET /v1/resource`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CollectionParams {
    pub dataset: Option<String>,
    pub organisation: Option<String>,
    pub endpoint: Option<String>,
    pub resource: Option<String>,
    /// How many rows to skip.
    #[param(minimum = 0)]
    pub offset: Option<u64>,
    /// How many rows, 1 to 100 (50 when left out).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
}

/// `offset` and `limit` alone.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// How many rows to skip.
    #[param(minimum = 0)]
    pub offset: Option<u64>,
    /// How many rows, 1 to 100 (50 when left out).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SpecificationParams {
    pub dataset: Option<String>,
    /// How many rows to skip.
    #[param(minimum = 0)]
    pub offset: Option<u64>,
    /// How many rows, 1 to 100 (50 when left out).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
}

pub fn json_of(value: Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(b),
        Value::Int(i) => Json::from(i),
        Value::Float(f) => serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number),
        Value::Text(s) => Json::String(s),
        Value::List(items) => Json::Array(items.into_iter().map(json_of).collect()),
        Value::Object(record) => Json::Object(object_of(record)),
    }
}

pub fn object_of(record: Record) -> Map<String, Json> {
    record
        .0
        .into_iter()
        .map(|(name, value)| (name, json_of(value)))
        .collect()
}
