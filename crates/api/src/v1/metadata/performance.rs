//! `GET /v1/performance/{table}`: the aggregations the archive holds.

use actix_web::{HttpResponse, web};
use serde_json::Value as Json;
use sluice_domain::metadata::{FilterValue, PerformanceQuery, PerformanceTable};

use super::dto::{PerformanceParams, object_of, page, paged_response};
use crate::openapi::words;
use crate::{ApiError, ApiState};

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PerformancePath {
    /// The aggregation.
    #[param(schema_with = words::performance_tables)]
    table: String,
}

/// One of the archive's performance aggregations.
#[utoipa::path(
    get,
    path = "/v1/performance/{table}",
    tag = "metadata",
    operation_id = "listPerformance",
    params(PerformancePath, PerformanceParams),
    responses(
        (status = 200, description = "Rows keyed by the archive's column names",
         body = Vec<serde_json::Value>),
    )
)]
pub async fn rows(
    state: web::Data<ApiState>,
    path: web::Path<PerformancePath>,
    params: web::Query<PerformanceParams>,
) -> Result<HttpResponse, ApiError> {
    let table = &path.table;
    let table = PerformanceTable::parse(table).ok_or_else(|| {
        ApiError::not_found(format!("there is no performance table called {table}"))
    })?;
    let params = params.into_inner();
    let query = PerformanceQuery {
        table,
        dataset: FilterValue::optional("dataset", params.dataset)?,
        organisation: FilterValue::optional("organisation", params.organisation)?,
        page: page(params.limit, params.offset)?,
    };
    let rows = state.metadata.performance(&query).await?;
    Ok(paged_response(rows, query.page, |row| {
        Json::Object(object_of(row))
    }))
}
