//! `/v2`: snake_case fields and resources addressed by names a person can read: data stores by
//! name, flow inputs by name and version (`orders-report:2`). Its DTOs are its own, as `/v1`'s
//! are, and call the same domain services.

mod data_store_schemas;
mod data_stores;
mod events;
mod flow_inputs;
mod flows;
mod keys;
mod metadata;

use crate::openapi::{self, Version};
use crate::wire::endpoint::{Endpoint, Routes};
use actix_web::http::Method;
use sluice_domain::api_key::Scope;

/// `/v2`'s name for a domain field, where it differs: stores and inputs are named, not numbered.
pub fn wire_name(domain: &str) -> Option<&'static str> {
    match domain {
        "data_store_id" => Some("data_store"),
        "target_data_store_id" => Some("target"),
        "source_data_store_ids" => Some("sources"),
        "flow_input_id" => Some("flow_input"),
        _ => None,
    }
}

/// `/v2`'s OpenAPI document: every operation below, described beside its handler.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        openapi_document,
        data_stores::create,
        data_stores::list,
        data_stores::get,
        data_stores::update,
        data_stores::delete,
        flow_inputs::create,
        flow_inputs::list,
        flow_inputs::get,
        flow_inputs::add_version,
        flow_inputs::list_versions,
        flow_inputs::get_version,
        flows::start,
        flows::list,
        flows::get,
        flows::logs,
        events::follow,
        flows::cancel,
        flows::rerun,
        keys::create,
        keys::list,
        keys::current,
        keys::revoke,
        metadata::issues::list,
        metadata::issues::counts,
        metadata::collection::log_entries,
        metadata::collection::resources,
        metadata::performance::rows,
        metadata::specification::datasets,
        metadata::specification::dataset,
        metadata::specification::field,
        metadata::configuration::overview,
        metadata::configuration::origin,
        metadata::configuration::rules,
    ),
    // Named by a parameter only, which does not bring its schema along.
    components(schemas(metadata::issues::IssueGroupColumn)),
    tags(
        (name = "data stores", description = "Where data is read from and written to, by name"),
        (name = "flow inputs", description = "What a flow does, in named versions that never change"),
        (name = "flows", description = "Runs of a flow input version: start, follow, cancel"),
        (name = "keys", description = "API keys, for holders of the admin scope; any key may read its own"),
        (name = "metadata", description = "What the pipelines recorded: issues, fetches, resources, performance"),
        (name = "contract", description = "This document"),
    )
)]
pub struct Document;

/// This version's OpenAPI document.
#[utoipa::path(
    get,
    path = "/v2/openapi.json",
    tag = "contract",
    operation_id = "getOpenApiDocument",
    responses((status = 200, description = "The OpenAPI 3.1 document of /v2", body = Object))
)]
async fn openapi_document() -> actix_web::HttpResponse {
    openapi::serve(Version::V2)
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
    Endpoint::at("/data-stores/{name}")
        .get(data_stores::get)
        .patch(data_stores::update)
        .delete(data_stores::delete)
        .register(cfg);
    Endpoint::at("/flow-inputs")
        .post(flow_inputs::create)
        .get(flow_inputs::list)
        .register(cfg);
    Endpoint::at("/flow-inputs/{name}")
        .get(flow_inputs::get)
        .register(cfg);
    Endpoint::at("/flow-inputs/{name}/versions")
        .post(flow_inputs::add_version)
        .get(flow_inputs::list_versions)
        .register(cfg);
    Endpoint::at("/flow-inputs/{name}/versions/{version}")
        .get(flow_inputs::get_version)
        .register(cfg);
    // Starting, cancelling and rerunning flows needs `run` (which `write` includes).
    Endpoint::at("/flows")
        .post(flows::start)
        .get(flows::list)
        .needs_on(Method::POST, Scope::Run)
        .register(cfg);
    Endpoint::at("/flows/{id}").get(flows::get).register(cfg);
    Endpoint::at("/flows/{id}/logs")
        .get(flows::logs)
        .register(cfg);
    Endpoint::at("/flows/{id}/events")
        .get(events::follow)
        .register(cfg);
    Endpoint::at("/flows/{id}/cancel")
        .post(flows::cancel)
        .needs(Scope::Run)
        .register(cfg);
    Endpoint::at("/flows/{id}/rerun")
        .post(flows::rerun)
        .needs(Scope::Run)
        .register(cfg);
    // Credentials are managed with the admin scope only, reads of them included.
    Endpoint::at("/keys")
        .post(keys::create)
        .get(keys::list)
        .needs(Scope::Admin)
        .register(cfg);
    // Any valid key may ask who it is (every scope grants read). Before `/keys/{name}`, which
    // would otherwise take the path and answer 405.
    Endpoint::at("/keys/current")
        .get(keys::current)
        .register(cfg);
    Endpoint::at("/keys/{name}")
        .delete(keys::revoke)
        .needs(Scope::Admin)
        .register(cfg);
    Endpoint::at("/issues")
        .get(metadata::issues::list)
        .register(cfg);
    Endpoint::at("/issues/counts")
        .get(metadata::issues::counts)
        .register(cfg);
    Endpoint::at("/collection-log")
        .get(metadata::collection::log_entries)
        .register(cfg);
    Endpoint::at("/resources")
        .get(metadata::collection::resources)
        .register(cfg);
    Endpoint::at("/performance/{table}")
        .get(metadata::performance::rows)
        .register(cfg);
    Endpoint::at("/specification/datasets")
        .get(metadata::specification::datasets)
        .register(cfg);
    Endpoint::at("/specification/datasets/{dataset}")
        .get(metadata::specification::dataset)
        .register(cfg);
    Endpoint::at("/specification/fields/{field}")
        .get(metadata::specification::field)
        .register(cfg);
    Endpoint::at("/configuration/{collection}")
        .get(metadata::configuration::overview)
        .register(cfg);
    Endpoint::at("/configuration/{collection}/{table}")
        .get(metadata::configuration::origin)
        .register(cfg);
    Endpoint::at("/configuration/{collection}/rules/{kind}")
        .get(metadata::configuration::rules)
        .register(cfg);
}
