//! `/v1`: the contract of the original flow-runner design and of the metadata services Sluice
//! replaces. Its DTOs are its own, each beside its handlers, so `/v1` keeps its shape whatever
//! later versions do.

mod data_stores;
mod flow_inputs;
mod flows;
mod metadata;

use crate::openapi::{self, Version};
use crate::wire::endpoint::{Endpoint, Routes};
use actix_web::http::Method;
use chrono::{DateTime, SecondsFormat, Utc};
use sluice_domain::api_key::Scope;

/// An instant as `/v1` writes it: RFC 3339 in UTC, to the millisecond.
fn utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `/v1`'s name for a domain field, where it differs.
pub fn wire_name(domain: &str) -> Option<&'static str> {
    match domain {
        "alias" => Some("as"),
        _ => None,
    }
}

/// `/v1`'s OpenAPI document: every operation below, described beside its handler.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        openapi_document,
        data_stores::create,
        data_stores::list,
        data_stores::get,
        flow_inputs::create,
        flow_inputs::get,
        flows::start,
        flows::list,
        flows::cancel_by_original_path,
        flows::cancel,
        flows::get,
        flows::logs,
        metadata::issues::issue_page,
        metadata::collection::log_entries,
        metadata::collection::resources,
        metadata::issues::counts,
        metadata::performance::rows,
        metadata::specification::datasets,
        metadata::specification::dataset,
        metadata::specification::field,
        metadata::configuration::overview,
        metadata::configuration::origin,
        metadata::configuration::rules,
    ),
    tags(
        (name = "data stores", description = "Where data is read from and written to"),
        (name = "flow inputs", description = "What a flow does"),
        (name = "flows", description = "Runs of a flow input: start, follow, cancel"),
        (name = "metadata", description = "The pipeline metadata archive: logs, issues, performance, specification, configuration"),
        (name = "contract", description = "This document"),
    )
)]
pub struct Document;

/// This version's OpenAPI document.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "contract",
    operation_id = "getOpenApiDocument",
    responses((status = 200, description = "The OpenAPI 3.1 document of /v1", body = serde_json::Value))
)]
async fn openapi_document() -> actix_web::HttpResponse {
    openapi::serve(Version::V1)
}

pub fn routes(cfg: &mut Routes) {
    Endpoint::at("/openapi.json")
        .get(openapi_document)
        .open()
        .register(cfg);
    Endpoint::at("/data-stores")
        .post(data_stores::create)
        .get(data_stores::list)
        .register(cfg);
    Endpoint::at("/data-stores/{id}")
        .get(data_stores::get)
        .register(cfg);
    Endpoint::at("/flow-inputs")
        .post(flow_inputs::create)
        .register(cfg);
    Endpoint::at("/flow-inputs/{id}")
        .get(flow_inputs::get)
        .register(cfg);
    // Starting and cancelling flows needs `run` (which `write` includes).
    Endpoint::at("/flows")
        .post(flows::start)
        .get(flows::list)
        .needs_on(Method::POST, Scope::Run)
        .register(cfg);
    // The original design's path, and the resource-style one.
    Endpoint::at("/flows/cancel/{id}")
        .post(flows::cancel_by_original_path)
        .needs(Scope::Run)
        .register(cfg);
    Endpoint::at("/flows/{id}/cancel")
        .post(flows::cancel)
        .needs(Scope::Run)
        .register(cfg);
    Endpoint::at("/flows/{id}").get(flows::get).register(cfg);
    Endpoint::at("/flows/{id}/logs")
        .get(flows::logs)
        .register(cfg);
    metadata::routes(cfg);
}
