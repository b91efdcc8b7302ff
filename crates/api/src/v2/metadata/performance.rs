//! `/v2/performance/{table}`: the archive's aggregations with their own types.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::Value as Json;
use sluice_domain::metadata::{FilterValue, PerformanceQuery, PerformanceTable};
use utoipa::IntoParams;

use super::schemas::MetadataRecord;
use super::typed::object;
use super::{LIMIT_RULE, respond};
use crate::openapi::words;
use crate::wire::cursor::{ListPage, offset_page};
use crate::wire::extract::from_repeated_query;
use crate::{ApiError, ApiState};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PerformancePath {
    /// The aggregation.
    #[param(schema_with = words::performance_tables)]
    table: String,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PerformanceParams {
    dataset: Option<String>,
    organisation: Option<String>,
    /// How many rows, 1 to 1000 (50 when left out).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

/// One of the archive's performance aggregations, keys in snake_case, values typed as the
/// archive types them.
#[utoipa::path(
    get,
    path = "/v2/performance/{table}",
    tag = "metadata",
    operation_id = "listPerformance",
    params(PerformancePath, PerformanceParams),
    responses(
        (status = 200, description = "A page of the aggregation's rows", body = ListPage<MetadataRecord>,
         headers(("Link" = String, description = "`<…>; rel=\"next\"`: the next page, when there is one"))),
    )
)]
pub async fn rows(
    req: HttpRequest,
    state: web::Data<ApiState>,
    path: web::Path<PerformancePath>,
) -> Result<HttpResponse, ApiError> {
    let table = &path.table;
    let table = PerformanceTable::parse(table).ok_or_else(|| {
        ApiError::not_found(format!("there is no performance table called {table}"))
    })?;
    let params: PerformanceParams = from_repeated_query(req.query_string(), LIMIT_RULE)?;
    let query = PerformanceQuery {
        table,
        dataset: FilterValue::optional("dataset", params.dataset)?,
        organisation: FilterValue::optional("organisation", params.organisation)?,
        page: offset_page(params.limit, params.cursor.as_deref())?,
    };
    let rows = state.metadata.performance(&query).await?;
    let items = rows
        .items
        .into_iter()
        .map(|row| Json::Object(object(row, &[])))
        .collect();
    Ok(respond(
        &req,
        ListPage::at_offset(items, query.page, rows.total),
    ))
}
