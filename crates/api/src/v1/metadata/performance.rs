//! `GET /v1/performance/{table}`: the aggregations the archive holds.

use actix_web::{HttpResponse, web};
use serde_json::Value as Json;
use sluice_domain::metadata::{FilterValue, PerformanceQuery, PerformanceTable};

use super::dto::{PerformanceParams, object_of, page, paged_response};
use crate::{ApiError, ApiState};

pub async fn rows(
    state: web::Data<ApiState>,
    table: web::Path<String>,
    params: web::Query<PerformanceParams>,
) -> Result<HttpResponse, ApiError> {
    let table = PerformanceTable::parse(&table).ok_or_else(|| {
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
