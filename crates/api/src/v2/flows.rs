//! `/v2/flows`: flows started from a named flow input (its latest version or one given), each
//! recording the exact version it runs.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sluice_domain::flow::{FlowId, FlowState, FlowView, LogLine};
use sluice_domain::flow_input::{FlowInputId, FlowInputRef};
use sluice_domain::flow_list::{FlowFilter, FlowKey, FlowOrder, FlowPage};
use sluice_domain::step::StepResult;

use utoipa::{IntoParams, ToSchema};

use crate::openapi::words;
use crate::wire::cursor::{self, ListPage};
use crate::wire::extract::{from_json, from_repeated_query, no_body};
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
    /// When a runner first took it up; `null` until then.
    started_at: Option<DateTime<Utc>>,
    /// When it reached COMPLETED, FAILED or CANCELLED; `null` until then.
    finished_at: Option<DateTime<Utc>>,
    /// When its progress last moved.
    updated_at: DateTime<Utc>,
    /// The flow this one runs again, when it is a rerun.
    rerun_of: Option<i64>,
    /// The flows that run this one again, oldest first.
    reruns: Vec<i64>,
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
            started_at: view.output.started_utc,
            finished_at: view.output.finished_utc,
            updated_at: view.output.progress.updated_utc,
            rerun_of: view.flow.rerun_of.map(|id| id.0),
            reruns: view.reruns.iter().map(|id| id.0).collect(),
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
    let input = state.flow_inputs.version_to_start(&reference).await?;
    let view = state.flows.start(input).await?;
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
    /// Only flows in one of these states (repeat it: `state=READY&state=RUNNING`).
    #[param(schema_with = words::flow_state_list)]
    #[serde(default)]
    state: Vec<String>,
    /// Only flows of this flow input: every version (`orders-report`) or one (`orders-report:2`).
    flow_input: Option<String>,
    /// Only flows created at or after this time (RFC 3339, with its zone).
    #[param(value_type = Option<String>, format = DateTime)]
    created_after: Option<String>,
    /// Only flows created before this time (RFC 3339, with its zone).
    #[param(value_type = Option<String>, format = DateTime)]
    created_before: Option<String>,
    /// The order: `created_at` (the default), `started_at` or `finished_at`, `-` first for
    /// newest first. Flows that have not started (or ended) come last in either direction.
    #[param(schema_with = words::flow_orders)]
    order_by: Option<String>,
    /// `true` adds `total`, how many flows the filters admit, to the page.
    count: Option<bool>,
    /// How many flows, 1 to 1000 (50 when left out).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
    /// The `next_cursor` of the page before (taken in the same `order_by`).
    cursor: Option<String>,
}

/// The flows, in `order_by` (oldest first by default).
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
pub async fn list(req: HttpRequest, state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let limit_rule = "must be a whole number from 1 to 1000";
    let query: FlowListQuery = from_repeated_query(req.query_string(), limit_rule)?;
    let order = match &query.order_by {
        None => FlowOrder::OLDEST_FIRST,
        Some(raw) => FlowOrder::parse(raw)?,
    };
    let order_name = order.name();
    let after = cursor::ordered_after(query.cursor.as_deref(), &order_name)?.map(|key| FlowKey {
        time: key.time,
        id: FlowId(key.id),
    });
    let limit = cursor::page(query.limit, None)?.limit();
    let filter = FlowFilter {
        states: query
            .state
            .iter()
            .map(|raw| {
                FlowState::parse(raw).ok_or_else(|| {
                    let all: Vec<&str> = FlowState::ALL.iter().map(|s| s.as_str()).collect();
                    ApiError::invalid_field("/state", format!("must be one of {}", all.join(", ")))
                })
            })
            .collect::<Result<_, _>>()?,
        inputs: match &query.flow_input {
            None => None,
            Some(raw) => Some(versions_named(&state, raw).await?),
        },
        created_after: rfc3339("/created_after", query.created_after.as_deref())?,
        created_before: rfc3339("/created_before", query.created_before.as_deref())?,
    };
    let page = FlowPage {
        order,
        after,
        limit,
        offset: 0,
    };
    let views = state.flows.list(&filter, page).await?;
    let total = match query.count {
        Some(true) => Some(state.flows.count(&filter).await?),
        _ => None,
    };
    let list = ListPage::keyed(
        views,
        limit,
        |v| {
            let key = order.key_of(v);
            cursor::ordered_cursor(&order_name, key.id.0, key.time)
        },
        |v| FlowDto::from(v),
    );
    Ok(list.with_total(total).respond(&req))
}

/// A time as RFC 3339 gives it: a four-digit year, the seconds, the zone. (A looser parser
/// would take `+10000-01-01…`, which a database comparing text orders before `2026`.)
fn rfc3339(pointer: &str, raw: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    raw.map(|raw| {
        DateTime::parse_from_rfc3339(raw)
            .map(|time| time.with_timezone(&Utc))
            .map_err(|_| {
                ApiError::invalid_field(
                    pointer,
                    "must be an RFC 3339 time with its zone, as 2026-12-07T10:00:00Z",
                )
            })
    })
    .transpose()
}

/// The versions a `flow_input` filter names (none when there is no such input: the filter then
/// admits no flow).
async fn versions_named(state: &ApiState, raw: &str) -> Result<Vec<FlowInputId>, ApiError> {
    let reference =
        FlowInputRef::parse(raw).map_err(|m| ApiError::invalid_field("/flow_input", m))?;
    Ok(state.flow_inputs.versions_named(&reference).await?)
}

/// One line of a flow's log or of its errors.
#[derive(Serialize, ToSchema)]
#[schema(as = LogLine)]
pub(super) struct LogLineDto {
    /// The line's id: it orders a flow's lines, and is the `id` of the event that carried it on
    /// `/v2/flows/{id}/events`.
    id: i64,
    #[schema(schema_with = words::streams)]
    stream: &'static str,
    line: String,
    created_at: DateTime<Utc>,
}

impl From<&LogLine> for LogLineDto {
    fn from(line: &LogLine) -> Self {
        Self {
            id: line.id,
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
    Ok(list.respond(&req))
}

/// Runs a flow again.
///
/// Starts a new flow of the exact version the flow ran, linked to it both ways (`rerun_of` on the
/// new flow, `reruns` on the old). A flow is rerun once it has ended: 409 while it is READY,
/// RUNNING or CANCELLING. Send an `Idempotency-Key` to make a retried request start one flow.
#[utoipa::path(
    post,
    path = "/v2/flows/{id}/rerun",
    tag = "flows",
    operation_id = "rerunFlow",
    params(("id" = i64, Path, description = "The flow to run again", example = 1)),
    responses(
        (status = 201, description = "The new flow, READY", body = FlowDto,
         headers(("Location" = String, description = "The new flow's address"))),
        (status = 409, description = "The flow has not ended"),
    )
)]
pub async fn rerun(
    state: web::Data<ApiState>,
    id: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    no_body(&body)?;
    let view = state.flows.rerun(FlowId(id.into_inner())).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", location(&view)))
        .json(FlowDto::from(&view)))
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
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    no_body(&body)?;
    let view = state.flows.cancel(FlowId(id.into_inner())).await?;
    Ok(HttpResponse::Accepted().json(FlowDto::from(&view)))
}
