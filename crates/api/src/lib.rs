//! Sluice's HTTP API: versioned routes and DTOs over the domain services, RFC 9457 problems for
//! every error. Handlers only translate: the rules live in the domain.

mod health;
pub mod openapi;
mod problem_pages;
pub mod v1;
pub mod v2;
pub mod wire;

use actix_web::middleware::from_fn;
use actix_web::web;
use sluice_domain::ports::Readiness;
use sluice_domain::services::{
    ApiKeyService, DataStoreService, FlowInputService, FlowService, IdempotencyService,
    MetadataService,
};
use std::sync::Arc;

pub use health::MetadataSources;
pub use health::Stopping;
pub use wire::auth::AuthPolicy;
pub use wire::error::ApiError;
pub use wire::limits::{Limiter, RequestLimits};
pub use wire::rate_limit::{RateLimiterMiddleware, RateLimits};

use wire::conditional::conditional_get;
pub use wire::deprecation::Deprecation;
use wire::deprecation::announce_v1_end;
use wire::endpoint::{Endpoint, Routes};
use wire::naming::rename_fields;

/// The services the handlers call.
#[derive(Clone)]
pub struct ApiState {
    pub api_keys: ApiKeyService,
    /// When a request without a key is let through (`wire::auth`).
    pub auth_policy: AuthPolicy,
    pub idempotency: IdempotencyService,
    /// The dates that announce `/v1`'s end, when the operator has set them.
    pub v1_deprecation: Deprecation,
    pub rate_limits: RateLimits,
    pub data_stores: DataStoreService,
    pub flow_inputs: FlowInputService,
    pub flows: FlowService,
    pub metadata: MetadataService,
    /// Which metadata sources are configured, for `/readyz`.
    pub metadata_sources: health::MetadataSources,
    pub readiness: Arc<dyn Readiness>,
    /// Set when the process begins to stop: `/readyz` then answers 503.
    pub stopping: Stopping,
    pub metrics: MetricsEndpoint,
}

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Mounts every route, the extractor settings that turn bad requests into problems, and the
/// fallback for unknown paths.
pub fn configure(state: ApiState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        let idempotency = state.idempotency.clone();
        let v1_deprecation = state.v1_deprecation;
        // One limiter for both versions: a client's requests count together.
        let limiter = RateLimiterMiddleware::new(state.rate_limits);
        let limiter_v2 = limiter.clone();
        cfg.app_data(web::Data::new(state))
            .app_data(wire::extract::json_config())
            .app_data(wire::extract::query_config())
            .app_data(wire::extract::path_config())
            .configure(|cfg| {
                let routes = &mut Routes::new(cfg);
                // Outside the versions, with rules of their own: `/metrics` checks its bearer
                // token itself.
                Endpoint::at("/healthz")
                    .get(health::healthz)
                    .open()
                    .register(routes);
                Endpoint::at("/readyz")
                    .get(health::readyz)
                    .open()
                    .register(routes);
                Endpoint::at("/metrics")
                    .get(wire::metrics::scrape)
                    .open()
                    .register(routes);
                // Every problem answer's `type` resolves to one of these pages.
                Endpoint::at("/problems")
                    .get(problem_pages::index)
                    .open()
                    .register(routes);
                Endpoint::at("/problems/{slug}")
                    .get(problem_pages::page)
                    .open()
                    .register(routes);
                Endpoint::at("/docs")
                    .get(openapi::docs_root)
                    .open()
                    .register(routes);
                Endpoint::at("/docs/{file:.*}")
                    .get(openapi::docs_page)
                    .open()
                    .register(routes);
            })
            .service(
                web::scope("/v1")
                    .wrap(from_fn(|req, next| rename_fields(v1::wire_name, req, next)))
                    .wrap(from_fn(move |req, next| {
                        announce_v1_end(v1_deprecation, req, next)
                    }))
                    .wrap(from_fn(conditional_get))
                    .wrap(from_fn(move |req, next| limiter.clone().apply(req, next)))
                    .wrap(from_fn(wire::auth::identify))
                    .configure(|cfg| v1::routes(&mut Routes::new(cfg))),
            )
            .service(
                web::scope("/v2")
                    .wrap(from_fn(|req, next| rename_fields(v2::wire_name, req, next)))
                    // Outside the renaming, so that a replay answers what the client first saw.
                    .wrap(from_fn(move |req, next| {
                        wire::idempotency::apply(idempotency.clone(), req, next)
                    }))
                    .wrap(from_fn(conditional_get))
                    .wrap(from_fn(move |req, next| {
                        limiter_v2.clone().apply(req, next)
                    }))
                    // Outermost: rate limits and idempotency belong to the key it identifies.
                    .wrap(from_fn(wire::auth::identify))
                    .configure(|cfg| v2::routes(&mut Routes::new(cfg))),
            )
            .default_service(web::to(wire::error::not_found));
    }
}

pub use wire::metrics::{MetricsEndpoint, Scrape, count_request};
pub use wire::problem_instance::add_problem_instance;
pub use wire::request_id::tag_request;
