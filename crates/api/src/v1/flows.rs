//! `/v1` flows: the handlers, then what goes over the wire.

use actix_web::{HttpResponse, web};
use sluice_domain::flow::FlowId;
use sluice_domain::flow_input::FlowInputId;
use sluice_domain::flow_list::{FlowFilter, FlowOrder, FlowPage};
use sluice_domain::services::DEFAULT_LINES;

use super::utc;
use crate::wire::extract::from_json;
use crate::wire::strict_json::UniqueKeys;
use crate::{ApiError, ApiState};
use serde::{Deserialize, Serialize};
use sluice_domain::flow::{FlowState, FlowView, Lines, LogLine};
use sluice_domain::page::Page;
use sluice_domain::step::StepResult;

use utoipa::{IntoParams, ToSchema};

use crate::openapi::words;

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

// ---- the wire format of flows

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartFlow {
    pub flow_input_id: i64,
}

/// `/v1` knows five states: a cancel in progress is still RUNNING.
pub fn v1_state(state: FlowState) -> &'static str {
    match state {
        FlowState::Cancelling => FlowState::Running.as_str(),
        other => other.as_str(),
    }
}

/// The domain states a `/v1` state filter stands for.
pub fn domain_states(v1: &str) -> Option<Vec<FlowState>> {
    match FlowState::parse(v1)? {
        FlowState::Cancelling => None,
        FlowState::Running => Some(vec![FlowState::Running, FlowState::Cancelling]),
        other => Some(vec![other]),
    }
}

/// A stream's newest lines; `has_earlier` says older ones exist (`GET /v1/flows/{id}/logs`).
#[derive(Serialize, ToSchema)]
#[schema(as = Lines)]
struct LinesDto {
    lines: Vec<String>,
    #[schema(format = DateTime)]
    updated_utc: Option<String>,
    has_earlier: bool,
}

impl From<&Lines> for LinesDto {
    fn from(lines: &Lines) -> Self {
        Self {
            lines: lines.lines.clone(),
            updated_utc: lines.updated_utc.map(utc),
            has_earlier: lines.earlier,
        }
    }
}

/// One step of a flow: reading a source, running a transform or writing an output.
#[derive(Serialize, ToSchema)]
#[schema(as = Step)]
struct StepDto {
    name: String,
    #[schema(schema_with = words::step_kinds)]
    kind: &'static str,
    #[schema(schema_with = words::step_states)]
    state: &'static str,
    /// Rows read or written, once known.
    rows: Option<u64>,
    #[schema(format = DateTime)]
    started_utc: Option<String>,
    #[schema(format = DateTime)]
    finished_utc: Option<String>,
    error: Option<String>,
}

impl From<&StepResult> for StepDto {
    fn from(result: &StepResult) -> Self {
        Self {
            name: result.step.name.clone(),
            kind: result.step.kind.as_str(),
            state: result.state.as_str(),
            rows: result.rows,
            started_utc: result.started_utc.map(utc),
            finished_utc: result.finished_utc.map(utc),
            error: result.error.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = LogLine)]
struct LogLineDto {
    id: i64,
    #[schema(schema_with = words::streams)]
    stream: &'static str,
    line: String,
    #[schema(format = DateTime)]
    created_utc: String,
}

/// A page of a flow's lines; `next_after` is what to pass as `after` for the next page, null
/// when this page reached the end.
#[derive(Serialize, ToSchema)]
#[schema(as = LogPage)]
pub struct LogPageDto {
    lines: Vec<LogLineDto>,
    next_after: Option<i64>,
}

impl LogPageDto {
    pub fn new(lines: Vec<LogLine>, limit: u64) -> Self {
        let full = lines.len() as u64 >= limit;
        let next_after = if full {
            lines.last().map(|l| l.id)
        } else {
            None
        };
        Self {
            lines: lines
                .into_iter()
                .map(|l| LogLineDto {
                    id: l.id,
                    stream: l.stream.as_str(),
                    line: l.line,
                    created_utc: utc(l.created_utc),
                })
                .collect(),
            next_after,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogPageQuery {
    /// The `next_after` of the page before: lines after this id.
    #[param(minimum = 0)]
    pub after: Option<u64>,
    /// How many lines, 1 to 1000 (100 when left out).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Progress)]
struct ProgressDto {
    #[schema(maximum = 100)]
    percent: u8,
    #[schema(format = DateTime)]
    updated_utc: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = FlowOutput)]
struct OutputViewDto {
    #[schema(schema_with = words::v1_flow_states)]
    state: &'static str,
    progress: ProgressDto,
    logs: LinesDto,
    errors: LinesDto,
    steps: Vec<StepDto>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Flow)]
pub struct FlowDto {
    id: i64,
    flow_input_id: i64,
    flow_output_id: i64,
    #[schema(format = DateTime)]
    created_utc: String,
    output: OutputViewDto,
}

impl From<&FlowView> for FlowDto {
    fn from(view: &FlowView) -> Self {
        Self {
            id: view.flow.id.0,
            flow_input_id: view.flow.flow_input_id.0,
            flow_output_id: view.flow.flow_output_id.0,
            created_utc: utc(view.flow.created_utc),
            output: OutputViewDto {
                state: v1_state(view.output.state),
                progress: ProgressDto {
                    percent: view.output.progress.percent,
                    updated_utc: utc(view.output.progress.updated_utc),
                },
                logs: (&view.output.logs).into(),
                errors: (&view.output.errors).into(),
                steps: view.output.steps.iter().map(StepDto::from).collect(),
            },
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FlowListQuery {
    /// Only flows in this state.
    #[param(schema_with = words::v1_flow_states)]
    pub state: Option<String>,
    /// How many flows, 1 to 100 (50 when left out).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u64>,
    /// How many flows to skip.
    #[param(minimum = 0)]
    offset: Option<u64>,
}

impl FlowListQuery {
    pub fn page(&self) -> Result<Page, ApiError> {
        Ok(Page::new(self.limit, self.offset)?)
    }
}
