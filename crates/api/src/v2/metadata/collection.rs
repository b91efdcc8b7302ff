//! `/v2/collection-log` and `/v2/resources`: the collection's fetches and the resources they
//! produced, typed: sizes and statuses are numbers, a resource's organisations, datasets and
//! endpoints are arrays.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::Value as Json;
use sluice_domain::metadata::collection::LIST_SEPARATOR;
use sluice_domain::metadata::{
    CollectionFilters, CollectionLogQuery, FilterValue, Record, ResourceQuery,
};
use utoipa::IntoParams;

use super::schemas::MetadataRecord;
use super::typed::{Numeric, object};
use super::{LIMIT_RULE, respond};
use crate::wire::cursor::{ListPage, offset_page};
use crate::wire::extract::from_repeated_query;
use crate::{ApiError, ApiState};

/// The log's columns that its CSV file holds numbers in.
const LOG_NUMBERS: [(&str, Numeric); 3] = [
    ("bytes", Numeric::Integer),
    ("status", Numeric::Integer),
    ("elapsed", Numeric::Decimal),
];

const RESOURCE_NUMBERS: [(&str, Numeric); 1] = [("bytes", Numeric::Integer)];

/// The resource table's list cells, answered as arrays.
const RESOURCE_LISTS: [&str; 3] = ["organisations", "datasets", "endpoints"];

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CollectionParams {
    /// Only rows of these datasets (a fetch belongs to the datasets its endpoint feeds); repeat
    /// a filter to accept any of several values.
    #[serde(default)]
    dataset: Vec<String>,
    /// Only rows of these organisations (`local-authority-eng:SWK`).
    #[serde(default)]
    organisation: Vec<String>,
    #[serde(default)]
    endpoint: Vec<String>,
    #[serde(default)]
    resource: Vec<String>,
    /// How many rows, 1 to 1000 (50 when left out).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

impl CollectionParams {
    fn filters(&mut self) -> Result<CollectionFilters, ApiError> {
        Ok(CollectionFilters {
            dataset: FilterValue::list("dataset", std::mem::take(&mut self.dataset))?,
            organisation: FilterValue::list(
                "organisation",
                std::mem::take(&mut self.organisation),
            )?,
            endpoint: FilterValue::list("endpoint", std::mem::take(&mut self.endpoint))?,
            resource: FilterValue::list("resource", std::mem::take(&mut self.resource))?,
        })
    }
}

/// The fetches of the collection, oldest first (by `entry_date`, `endpoint`, `resource`).
#[utoipa::path(
    get,
    path = "/v2/collection-log",
    tag = "metadata",
    operation_id = "listCollectionLog",
    params(CollectionParams),
    responses(
        (status = 200, description = "A page of fetches: `bytes`, `status` and `elapsed` are numbers, empty cells `null`",
         body = ListPage<MetadataRecord>,
         headers(("Link" = String, description = "`<…>; rel=\"next\"`: the next page, when there is one"))),
    )
)]
pub async fn log_entries(
    req: HttpRequest,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let mut params: CollectionParams = from_repeated_query(req.query_string(), LIMIT_RULE)?;
    let query = CollectionLogQuery {
        filters: params.filters()?,
        page: offset_page(params.limit, params.cursor.as_deref())?,
    };
    let entries = state.metadata.collection_log(&query).await?;
    let items = entries
        .items
        .into_iter()
        .map(|row| Json::Object(object(row, &LOG_NUMBERS)))
        .collect();
    Ok(respond(
        &req,
        ListPage::at_offset(items, query.page, entries.total),
    ))
}

/// The resources (processed files) the collection produced, by `start_date`, then `resource`.
#[utoipa::path(
    get,
    path = "/v2/resources",
    tag = "metadata",
    operation_id = "listResources",
    params(CollectionParams),
    responses(
        (status = 200, description = "A page of resources: `organisations`, `datasets` and `endpoints` are arrays, `bytes` a number",
         body = ListPage<MetadataRecord>,
         headers(("Link" = String, description = "`<…>; rel=\"next\"`: the next page, when there is one"))),
    )
)]
pub async fn resources(
    req: HttpRequest,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let mut params: CollectionParams = from_repeated_query(req.query_string(), LIMIT_RULE)?;
    let query = ResourceQuery {
        filters: params.filters()?,
        page: offset_page(params.limit, params.cursor.as_deref())?,
    };
    let resources = state.metadata.resources(&query).await?;
    let items = resources.items.into_iter().map(resource_json).collect();
    Ok(respond(
        &req,
        ListPage::at_offset(items, query.page, resources.total),
    ))
}

fn resource_json(row: Record) -> Json {
    let lists: Vec<(String, Json)> = RESOURCE_LISTS
        .iter()
        .map(|column| {
            let cell = match row.get(column) {
                Some(sluice_domain::metadata::Value::Text(cell)) => cell.as_str(),
                _ => "",
            };
            let values = cell
                .split(LIST_SEPARATOR)
                .filter(|v| !v.is_empty())
                .map(|v| Json::String(v.to_owned()))
                .collect();
            ((*column).to_owned(), Json::Array(values))
        })
        .collect();
    let mut object = object(row, &RESOURCE_NUMBERS);
    for (column, list) in lists {
        object.insert(column, list);
    }
    Json::Object(object)
}
