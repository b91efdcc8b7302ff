//! `GET /v2/flows/{id}/events`: a flow followed as Server-Sent Events until it ends.
//!
//! Events: `state` and `progress` (the flow, as `GET /v2/flows/{id}` shows it, when its state or
//! its progress changed), `step` (a step whose state or rows changed, as the flow shows it) and
//! `log` (each log and error line, as `/v2/flows/{id}/logs` shows it, oldest first): every
//! event's data is a schema of the document. The stream opens with the flow's state, progress
//! and steps, then every line so far, and ends after the terminal state and its last lines.
//!
//! Every event's id is the id of the newest line sent, so a client that reconnects with
//! `Last-Event-ID` gets the current state again and only the lines after it. The stream reads the
//! state database, not this process's memory, so it follows a flow whichever replica runs it,
//! within one poll interval of each change. A stream opened with an API key ends when the key is
//! revoked (within `auth.key_cache_secs` when revoked through another replica).

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::web::Bytes;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use secrecy::SecretString;
use serde::Serialize;
use sluice_domain::flow::{FlowId, FlowState, FlowView};
use sluice_domain::page::Page;
use sluice_domain::services::{ApiKeyService, FlowService};
use std::time::{Duration, Instant};

use super::flows::{FlowDto, LogLineDto, StepDto};
use crate::wire::auth::PresentedKey;
use crate::{ApiError, ApiState};

/// How often the state database is read for changes: events arrive within this of a change.
const POLL: Duration = Duration::from_millis(200);
/// A comment this often keeps the connection open through load balancers (the ALB's idle
/// timeout is 60 s).
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Lines read per poll; a flow with more lines sends them over the next polls.
const LINES_PER_POLL: u64 = 500;

/// Follows a flow as Server-Sent Events until it ends.
///
/// Events: `state` and `progress` (the `Flow`, when its state or progress changed), `step` (a
/// `Step` whose state or rows changed) and `log` (each `LogLine`, oldest first). Each event's `id`
/// is the newest line's id; a client that reconnects with `Last-Event-ID` gets the current state
/// and only the later lines.
#[utoipa::path(
    get,
    path = "/v2/flows/{id}/events",
    tag = "flows",
    operation_id = "followFlow",
    params(
        ("id" = i64, Path, description = "The flow's id", example = 1),
        ("Last-Event-ID" = Option<String>, Header, nullable = false,
         description = "The `id` of the last event received; the stream goes on after it. One that is not an id this stream gave is ignored: the stream starts from the first line"),
    ),
    responses(
        (status = 200, description = "The event stream; it ends after the flow's terminal state",
         content_type = "text/event-stream", body = FlowEvent),
    )
)]
pub async fn follow(
    req: HttpRequest,
    state: web::Data<ApiState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = FlowId(id.into_inner());
    let view = state.flows.get(id).await?;
    let after = req
        .headers()
        .get("Last-Event-ID")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let key = req
        .extensions()
        .get::<PresentedKey>()
        .map(|presented| KeyCheck {
            keys: state.api_keys.clone(),
            presented: presented.0.clone(),
        });
    let follower = Follower {
        key,
        flows: state.flows.clone(),
        id,
        last_line: after,
        sent_state: None,
        sent_progress: None,
        sent_steps: Vec::new(),
        first: Some(view),
        last_write: Instant::now(),
        ended: false,
    };
    let stream = futures::stream::unfold(follower, |mut follower| async move {
        let chunk = follower.next_chunk().await?;
        Some((Ok::<_, actix_web::Error>(chunk), follower))
    });
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/event-stream"))
        .insert_header((CACHE_CONTROL, "no-cache"))
        // Proxies that buffer answers would hold the events back.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}

/// The key a stream was opened with, checked again on every poll (from the key service's
/// memory, so at most one state-database read per `auth.key_cache_secs`).
struct KeyCheck {
    keys: ApiKeyService,
    presented: SecretString,
}

struct Follower {
    /// `None` when the stream was opened without a key (keys are not required).
    key: Option<KeyCheck>,
    flows: FlowService,
    id: FlowId,
    last_line: Option<i64>,
    sent_state: Option<FlowState>,
    sent_progress: Option<u8>,
    /// Each step (kind, name) as last sent, in JSON.
    sent_steps: Vec<((&'static str, String), String)>,
    /// The view read when the request came, sent first.
    first: Option<FlowView>,
    last_write: Instant,
    ended: bool,
}

impl Follower {
    /// The next events to send, waiting for a change; `None` once the stream has ended.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if self.ended {
            return None;
        }
        loop {
            let view = match self.first.take() {
                Some(view) => view,
                None => {
                    tokio::time::sleep(POLL).await;
                    if !self.key_still_valid().await {
                        // A revoked key follows nothing more; reconnecting with it gets 401.
                        self.ended = true;
                        return Some(Bytes::from_static(b": the API key is no longer valid\n\n"));
                    }
                    match self.flows.get(self.id).await {
                        Ok(view) => view,
                        Err(err) => {
                            tracing::warn!(error = %err, flow = %self.id, "a flow's event stream could not read it");
                            continue;
                        }
                    }
                }
            };
            let mut out = String::new();
            // Lines first, then the state they lead to: a client that sees COMPLETED has seen
            // every line before it.
            let more_lines = match self.lines(&mut out).await {
                Ok(more) => more,
                Err(err) => {
                    tracing::warn!(error = %err, flow = %self.id, "a flow's event stream could not read its lines");
                    continue;
                }
            };
            self.changes(&view, &mut out);
            if view.output.state.is_finished() && !more_lines {
                self.ended = true;
            }
            if !out.is_empty() {
                self.last_write = Instant::now();
                return Some(Bytes::from(out));
            }
            if self.last_write.elapsed() >= KEEP_ALIVE {
                self.last_write = Instant::now();
                return Some(Bytes::from_static(b": keep-alive\n\n"));
            }
        }
    }

    /// Whether the key the stream was opened with is still a key. A state database that does
    /// not answer ends nothing: the stream waits, as it does for the flow's changes.
    async fn key_still_valid(&self) -> bool {
        let Some(check) = &self.key else {
            return true;
        };
        match check.keys.authenticate(&check.presented).await {
            Ok(key) => key.is_some(),
            Err(err) => {
                tracing::warn!(error = %err, flow = %self.id, "a flow's event stream could not check its key");
                true
            }
        }
    }

    /// Writes the lines after the last one sent; whether more are waiting.
    async fn lines(&mut self, out: &mut String) -> sluice_domain::Result<bool> {
        let page = Page::keyset(Some(LINES_PER_POLL), self.last_line)?;
        let lines = self.flows.lines_page(self.id, page).await?;
        let more = lines.len() as u64 == LINES_PER_POLL;
        for line in &lines {
            self.last_line = Some(line.id);
            write_event(out, "log", self.last_line, &LogLineDto::from(line));
        }
        Ok(more)
    }

    fn changes(&mut self, view: &FlowView, out: &mut String) {
        let state = view.output.state;
        let percent = view.output.progress.percent;
        for step in &view.output.steps {
            let dto = StepDto::from(step);
            let json = serde_json::to_string(&dto).unwrap_or_default();
            let key = (dto.kind, dto.name.clone());
            match self.sent_steps.iter_mut().find(|(sent, _)| *sent == key) {
                Some((_, sent)) if *sent == json => {}
                Some((_, sent)) => {
                    write_event(out, "step", self.last_line, &dto);
                    *sent = json;
                }
                None => {
                    write_event(out, "step", self.last_line, &dto);
                    self.sent_steps.push((key, json));
                }
            }
        }
        if self.sent_progress != Some(percent) {
            write_event(out, "progress", self.last_line, &FlowDto::from(view));
            self.sent_progress = Some(percent);
        }
        if self.sent_state != Some(state) {
            write_event(out, "state", self.last_line, &FlowDto::from(view));
            self.sent_state = Some(state);
        }
    }
}

/// One event of the stream, as its `event:`, `id:` and `data:` lines give it ([`write_event`]
/// writes them); the document describes each event with it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct FlowEvent {
    #[schema(schema_with = event_names)]
    event: String,
    /// The id of the newest line sent so far; absent before the first line.
    id: Option<String>,
    /// The event's JSON, on one line: a `Flow` (`state`, `progress`), a `Step` (`step`) or a
    /// `LogLine` (`log`).
    #[schema(content_media_type = "application/json")]
    data: String,
}

fn event_names() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["state", "progress", "step", "log"]))
        .build()
}

fn write_event(out: &mut String, event: &str, id: Option<i64>, data: &impl Serialize) {
    out.push_str("event: ");
    out.push_str(event);
    out.push('\n');
    if let Some(id) = id {
        out.push_str(&format!("id: {id}\n"));
    }
    // JSON has no raw newlines, so the data is one line.
    out.push_str("data: ");
    out.push_str(&serde_json::to_string(data).unwrap_or_default());
    out.push_str("\n\n");
}
