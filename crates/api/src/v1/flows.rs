use actix_web::{HttpResponse, web};
use sluice_domain::flow::FlowId;
use sluice_domain::flow_input::FlowInputId;
use sluice_domain::services::DEFAULT_LINES;

use super::dto::{FlowDto, FlowListQuery, LogPageDto, LogPageQuery, StartFlow, domain_states};
use crate::extract::from_json;
use crate::wire::strict_json::UniqueKeys;
use crate::{ApiError, ApiState};

pub async fn start(
    state: web::Data<ApiState>,
    body: web::Json<UniqueKeys>,
) -> Result<HttpResponse, ApiError> {
    let request = from_json::<StartFlow>(body.into_inner().0)?;
    let view = state
        .flows
        .start(FlowInputId(request.flow_input_id))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/flows/{}", view.flow.id)))
        .json(FlowDto::from(&view)))
}

pub async fn get(state: web::Data<ApiState>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let view = state.flows.get(FlowId(id.into_inner())).await?;
    Ok(HttpResponse::Ok().json(FlowDto::from(&view)))
}

/// A page of the flow's log and error lines, oldest first, after line `after`.
pub async fn logs(
    state: web::Data<ApiState>,
    id: web::Path<i64>,
    query: web::Query<LogPageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LINES);
    let lines = state
        .flows
        .lines(FlowId(id.into_inner()), query.after, limit)
        .await?;
    Ok(HttpResponse::Ok().json(LogPageDto::new(lines, limit)))
}

pub async fn list(
    state: web::Data<ApiState>,
    query: web::Query<FlowListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page()?;
    let states = match &query.state {
        None => Vec::new(),
        Some(raw) => domain_states(raw).ok_or_else(|| {
            ApiError::invalid_field(
                "/state",
                "must be one of READY, RUNNING, CANCELLED, FAILED, COMPLETED",
            )
        })?,
    };
    let views = state.flows.list(&states, None, page).await?;
    Ok(HttpResponse::Ok().json(views.iter().map(FlowDto::from).collect::<Vec<_>>()))
}

/// 202: the cancel is accepted; a running flow stops within moments and ends CANCELLED.
pub async fn cancel(
    state: web::Data<ApiState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let view = state.flows.cancel(FlowId(id.into_inner())).await?;
    Ok(HttpResponse::Accepted().json(FlowDto::from(&view)))
}
