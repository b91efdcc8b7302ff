//! `/v2/flows`: flows started from a named flow input (its latest version or one given), each
//! recording the exact version it runs.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sluice_domain::flow::{FlowId, FlowState, FlowView, LogLine};
use sluice_domain::flow_input::{FlowInputId, FlowInputName, FlowInputRef};
use sluice_domain::step::StepResult;

use utoipa::{IntoParams, ToSchema};

use crate::contract::words;
use crate::extract::from_json;
use crate::wire::cursor::{self, ListPage};
use crate::wire::strict_json::UniqueKeys;
use crate::{ApiError, ApiState};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct StartFlow {
    /// `orders-report` (its latest version) or `orders-report:2`.
    flow_input: String,
}

/// One step of a flow: reading a source, running a transform or writing an output.
#[derive(Serialize, ToSchema)]
#[schema(as = Step)]
pub(super) struct StepDto {
    pub(super) name: String,
    #[schema(schema_with = words::step_kinds)]
    pub(super) kind: &'static str,
    #[schema(schema_with = words::step_states)]
    state: &'static str,
    /// Rows read or written, once known.
    rows: Option<u64>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    error: Option<String>,
    /// Where it ran, once it started: `in Sluice`; `pushed down to postgres store "dwh"` for
    /// a transform the database holding its sources ran (and for a source only such transforms
    /// read: its rows never reached Sluice, so it has none); `on the Ballista cluster` for every
    /// source and transform of a flow on Ballista (those planned into others have no rows).
    #[schema(example = "in Sluice")]
    ran_in: Option<String>,
}

impl From<&StepResult> for StepDto {
    fn from(result: &StepResult) -> Self {
        Self {
            name: result.step.name.clone(),
            kind: result.step.kind.as_str(),
            state: result.state.as_str(),
            rows: result.rows,
            started_at: result.started_utc,
            finished_at: result.finished_utc,
            error: result.error.clone(),
            ran_in: result.ran_in.clone(),
        }
    }
}

/// A flow: one run of a flow input version.
#[derive(Serialize, ToSchema)]
#[schema(as = Flow)]
pub struct FlowDto {
    id: i64,
    /// The exact version it runs: `orders-report:2`.
    flow_input: String,
    #[schema(schema_with = words::flow_states)]
    state: &'static str,
    /// Percent done, 0 to 100.
    #[schema(maximum = 100)]
    progress: u8,
    /// Which attempt this is, from 1; a failed attempt is run again while the flow input's
    /// `max_attempts` allows.
    #[schema(minimum = 1)]
    attempt: u32,
    steps: Vec<StepDto>,
    /// The newest error lines; every line is on `/v2/flows/{id}/logs`.
    errors: Vec<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<&FlowView> for FlowDto {
    fn from(view: &FlowView) -> Self {
        Self {
            id: view.flow.id.0,
            flow_input: view.flow_input.to_string(),
            state: view.output.state.as_str(),
            progress: view.output.progress.percent,
            attempt: view.output.attempt,
            steps: view.output.steps.iter().map(StepDto::from).collect(),
            errors: view.output.errors.lines.clone(),
            created_at: view.flow.created_utc,
            updated_at: view.output.progress.updated_utc,
        }
    }
}

fn location(view: &FlowView) -> String {
    format!("/v2/flows/{}", view.flow.id)
}

/// Starts a flow of a flow input version.
///
/// `flow_input` names its latest version (`orders-report`) or one version
/// (`orders-report:2`). The flow runs in the background; follow it on `/v2/flows/{id}/events`.
#[utoipa::path(
    post,
    path = "/v2/flows",
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
    let reference = FlowInputRef::parse(&request.flow_input)
        .map_err(|m| ApiError::invalid_field("/flow_input", m))?;
    let input = state
        .flow_inputs
        .find(&reference)
        .await
        .map_err(|err| match err {
            sluice_domain::Error::NotFound { .. } => ApiError::invalid_field(
                "/flow_input",
                format!("flow input {reference} does not exist"),
            ),
            other => other.into(),
        })?;
    let view = state.flows.start(input.id).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", location(&view)))
        .json(FlowDto::from(&view)))
}

/// One flow, with its steps.
#[utoipa::path(
    get,
    path = "/v2/flows/{id}",
    tag = "flows",
    operation_id = "getFlow",
    params(("id" = i64, Path, description = "The flow's id", example = 1)),
    responses((status = 200, description = "The flow", body = FlowDto))
)]
pub async fn get(state: web::Data<ApiState>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let view = state.flows.get(FlowId(id.into_inner())).await?;
    Ok(HttpResponse::Ok().json(FlowDto::from(&view)))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FlowListQuery {
    /// Only flows in this state.
    #[param(schema_with = words::flow_states)]
    state: Option<String>,
    /// Only flows of this flow input: every version (`orders-report`) or one (`orders-report:2`).
    flow_input: Option<String>,
    /// How many flows, 1 to 1000 (50 when left out).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

/// The flows, oldest first.
#[utoipa::path(
    get,
    path = "/v2/flows",
    tag = "flows",
    operation_id = "listFlows",
    params(FlowListQuery),
    responses(
        (status = 200, description = "A page of flows", body = ListPage<FlowDto>,
         headers(("Link" = String, description = "`<…>; rel=\"next\"`: the next page, when there is one"))),
    )
)]
pub async fn list(
    req: HttpRequest,
    state: web::Data<ApiState>,
    query: web::Query<FlowListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = cursor::page(query.limit, query.cursor.as_deref())?;
    let states = match &query.state {
        None => Vec::new(),
        Some(raw) => vec![FlowState::parse(raw).ok_or_else(|| {
            let all: Vec<&str> = FlowState::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::invalid_field("/state", format!("must be one of {}", all.join(", ")))
        })?],
    };
    // The versions the filter names: one, or every version of a name.
    let inputs: Option<Vec<FlowInputId>> = match &query.flow_input {
        None => None,
        Some(raw) => {
            let reference =
                FlowInputRef::parse(raw).map_err(|m| ApiError::invalid_field("/flow_input", m))?;
            Some(match reference.version {
                Some(_) => match state.flow_inputs.find(&reference).await {
                    Ok(input) => vec![input.id],
                    Err(sluice_domain::Error::NotFound { .. }) => Vec::new(),
                    Err(other) => return Err(other.into()),
                },
                None => versions_of(&state, &reference.name).await?,
            })
        }
    };
    let views = state.flows.list(&states, inputs.as_deref(), page).await?;
    let list = ListPage::new(views, page, |v| v.flow.id.0, |v| FlowDto::from(v));
    let mut response = HttpResponse::Ok();
    if let Some(link) = list.link(&req) {
        response.insert_header(("Link", link));
    }
    Ok(response.json(list))
}

async fn versions_of(state: &ApiState, name: &FlowInputName) -> Result<Vec<FlowInputId>, ApiError> {
    match state.flow_inputs.versions(name).await {
        Ok(versions) => Ok(versions.iter().map(|v| v.id).collect()),
        Err(sluice_domain::Error::NotFound { .. }) => Ok(Vec::new()),
        Err(other) => Err(other.into()),
    }
}

/// One line of a flow's log or of its errors.
#[derive(Serialize, ToSchema)]
#[schema(as = LogLine)]
pub(super) struct LogLineDto {
    #[schema(schema_with = words::streams)]
    stream: &'static str,
    line: String,
    created_at: DateTime<Utc>,
}

impl From<&LogLine> for LogLineDto {
    fn from(line: &LogLine) -> Self {
        Self {
            stream: line.stream.as_str(),
            line: line.line.clone(),
            created_at: line.created_utc,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// How many lines, 1 to 1000 (50 when left out).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

/// The flow's log and error lines, oldest first, a page at a time.
#[utoipa::path(
    get,
    path = "/v2/flows/{id}/logs",
    tag = "flows",
    operation_id = "listFlowLogLines",
    params(("id" = i64, Path, description = "The flow's id", example = 1), LogQuery),
    responses(
        (status = 200, description = "A page of lines", body = ListPage<LogLineDto>,
         headers(("Link" = String, description = "`<…>; rel=\"next\"`: the next page, when there is one"))),
    )
)]
pub async fn logs(
    req: HttpRequest,
    state: web::Data<ApiState>,
    id: web::Path<i64>,
    query: web::Query<LogQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = cursor::page(query.limit, query.cursor.as_deref())?;
    let lines = state
        .flows
        .lines_page(FlowId(id.into_inner()), page)
        .await?;
    let list = ListPage::new(lines, page, |l| l.id, |l| LogLineDto::from(l));
    let mut response = HttpResponse::Ok();
    if let Some(link) = list.link(&req) {
        response.insert_header(("Link", link));
    }
    Ok(response.json(list))
}

/// Cancels a flow.
///
/// A READY flow ends CANCELLED at once; a RUNNING one is CANCELLING until its work has stopped (within moments) and then CANCELLED; nothing it was writing is kept.
#[utoipa::path(
    post,
    path = "/v2/flows/{id}/cancel",
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
    let view = state.flows.cancel(FlowId(id.into_inner())).await?;
    Ok(HttpResponse::Accepted().json(FlowDto::from(&view)))
}
