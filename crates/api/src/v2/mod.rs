//! `/v2`: snake_case fields and resources addressed by names a person can read: data stores by
//! name, flow inputs by name and version (`orders-report:2`). Its DTOs are its own, as `/v1`'s
//! are, and call the same domain services.

mod data_stores;
mod events;
mod flow_inputs;
mod flows;
mod keys;

use actix_web::web;

use crate::wire::endpoint::Endpoint;

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

pub fn routes(cfg: &mut web::ServiceConfig) {
    Endpoint::at("/data-stores")
        .post(data_stores::create)
        .get(data_stores::list)
        .register(cfg);
    Endpoint::at("/data-stores/{name}")
        .get(data_stores::get)
        .patch(data_stores::replace_connection)
        .delete(data_stores::delete)
        .register(cfg);
    Endpoint::at("/flow-inputs")
        .post(flow_inputs::create)
        .register(cfg);
    Endpoint::at("/flow-inputs/{name}")
        .get(flow_inputs::get)
        .register(cfg);
    Endpoint::at("/flow-inputs/{name}/versions")
        .post(flow_inputs::add_version)
        .register(cfg);
    Endpoint::at("/flow-inputs/{name}/versions/{version}")
        .get(flow_inputs::get_version)
        .register(cfg);
    Endpoint::at("/flows")
        .post(flows::start)
        .get(flows::list)
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
        .register(cfg);
    Endpoint::at("/keys")
        .post(keys::create)
        .get(keys::list)
        .register(cfg);
    Endpoint::at("/keys/{name}")
        .delete(keys::revoke)
        .register(cfg);
}
