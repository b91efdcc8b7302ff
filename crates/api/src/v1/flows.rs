use actix_web::{HttpResponse, web};
use sluice_domain::flow::FlowId;
use sluice_domain::flow_input::FlowInputId;
use sluice_domain::flow_list::{FlowFilter, FlowOrder, FlowPage};
use sluice_domain::services::DEFAULT_LINES;

use super::dto::{FlowDto, FlowListQuery, LogPageDto, LogPageQuery, StartFlow, domain_states};
use crate::extract::from_json;
use crate::wire::strict_json::UniqueKeys;
use crate::{ApiError, ApiState};

/// Starts a flow of a flow input; it runs in the background.
#[utoipa::path(
    post,
    path = "/v1/flows",
    tag = "flows",
    operation_id = "startFlow",
    request_body = StartFlow,
    responses(
        (status = 201, description = "The flow, READY", body = FlowDto,
         headers(("Location" = String, description = "The flow's address"))),
    )
)]
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

/// One flow: its state, progress, newest log and error lines, and steps.
#[utoipa::path(
    get,
    path = "/v1/flows/{id}",
    tag = "flows",
    operation_id = "getFlow",
    params(("id" = i64, Path, description = "The flow's id", example = 1)),
    responses((status = 200, description = "The flow", body = FlowDto))
)]
pub async fn get(state: web::Data<ApiState>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let view = state.flows.get(FlowId(id.into_inner())).await?;
    Ok(HttpResponse::Ok().json(FlowDto::from(&view)))
}

/// A page of the flow's log and error lines, oldest first, after line `after`.
#[utoipa::path(
    get,
    path = "/v1/flows/{id}/logs",
    tag = "flows",
    operation_id = "listFlowLogLines",
    params(("id" = i64, Path, description = "The flow's id", example = 1), LogPageQuery),
    responses((status = 200, description = "A page of lines", body = LogPageDto))
)]
pub async fn logs(
    state: web::Data<ApiState>,
    id: web::Path<i64>,
    query: web::Query<LogPageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LINES);
    // A line's id: a negative one is refused as the query is read, one past i64 here.
    let after = query
        .after
        .map(i64::try_from)
        .transpose()
        .map_err(|_| ApiError::invalid_field("/after", "must be a log line's id"))?;
    let lines = state
        .flows
        .lines(FlowId(id.into_inner()), after, limit)
        .await?;
    Ok(HttpResponse::Ok().json(LogPageDto::new(lines, limit)))
}

/// The flows, oldest first.
#[utoipa::path(
    get,
    path = "/v1/flows",
    tag = "flows",
    operation_id = "listFlows",
    params(FlowListQuery),
    responses((status = 200, description = "A page of flows", body = Vec<FlowDto>))
)]
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
    let filter = FlowFilter {
        states,
        ..FlowFilter::default()
    };
    let page = FlowPage {
        order: FlowOrder::OLDEST_FIRST,
        after: None,
        limit: page.limit(),
        offset: page.offset(),
    };
    let views = state.flows.list(&filter, page).await?;
    Ok(HttpResponse::Ok().json(views.iter().map(FlowDto::from).collect::<Vec<_>>()))
}

/// Cancels a flow.
///
/// A READY flow ends CANCELLED at once; a RUNNING one stops within moments and then reads
/// CANCELLED; nothing it was writing is kept.
#[utoipa::path(
    post,
    path = "/v1/flows/{id}/cancel",
    tag = "flows",
    operation_id = "cancelFlow",
    params(("id" = i64, Path, description = "The flow's id", example = 1)),
    responses(
        (status = 202, description = "The cancel is accepted", body = FlowDto),
        (status = 409, description = "The flow has already ended"),
    )
)]
pub async fn cancel(
    state: web::Data<ApiState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    cancel_flow(state, id).await
}

/// The original design's path for a cancel: the same as `POST /v1/flows/{id}/cancel`.
#[utoipa::path(
    post,
    path = "/v1/flows/cancel/{id}",
    tag = "flows",
    operation_id = "cancelFlowByOriginalPath",
    params(("id" = i64, Path, description = "The flow's id", example = 1)),
    responses(
        (status = 202, description = "The cancel is accepted", body = FlowDto),
        (status = 409, description = "The flow has already ended"),
    )
)]
pub async fn cancel_by_original_path(
    state: web::Data<ApiState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    cancel_flow(state, id).await
}

async fn cancel_flow(
    state: web::Data<ApiState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let view = state.flows.cancel(FlowId(id.into_inner())).await?;
    Ok(HttpResponse::Accepted().json(FlowDto::from(&view)))
}
