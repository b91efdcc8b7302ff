//! `/v1`: the contract of the original flow-runner design and of the metadata services Sluice
//! replaces. Its DTOs are its own, so `/v1` keeps its shape whatever later versions do.

mod data_stores;
mod dto;
mod flow_inputs;
mod flows;
mod metadata;

use actix_web::web;

use crate::wire::endpoint::Endpoint;

/// `/v1`'s name for a domain field, where it differs.
pub fn wire_name(domain: &str) -> Option<&'static str> {
    match domain {
        "alias" => Some("as"),
        _ => None,
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
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
    Endpoint::at("/flows")
        .post(flows::start)
        .get(flows::list)
        .register(cfg);
    // The original design's path, and the resource-style one.
    Endpoint::at("/flows/cancel/{id}")
        .post(flows::cancel)
        .register(cfg);
    Endpoint::at("/flows/{id}/cancel")
        .post(flows::cancel)
        .register(cfg);
    Endpoint::at("/flows/{id}").get(flows::get).register(cfg);
    Endpoint::at("/flows/{id}/logs")
        .get(flows::logs)
        .register(cfg);
    metadata::routes(cfg);
}
