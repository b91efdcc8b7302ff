//! `/v1`: the contract of the original flow-runner design and of the metadata services Sluice
//! replaces. Its DTOs are its own, so `/v1` keeps its shape whatever later versions do.

mod data_stores;
mod dto;
mod flow_inputs;
mod flows;
mod metadata;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/data-stores")
            .route(web::post().to(data_stores::create))
            .route(web::get().to(data_stores::list)),
    )
    .route("/data-stores/{id}", web::get().to(data_stores::get))
    .route("/flow-inputs", web::post().to(flow_inputs::create))
    .route("/flow-inputs/{id}", web::get().to(flow_inputs::get))
    .service(
        web::resource("/flows")
            .route(web::post().to(flows::start))
            .route(web::get().to(flows::list)),
    )
    // The original design's path, and the resource-style one.
    .route("/flows/cancel/{id}", web::post().to(flows::cancel))
    .route("/flows/{id}/cancel", web::post().to(flows::cancel))
    .route("/flows/{id}", web::get().to(flows::get))
    .route("/flows/{id}/logs", web::get().to(flows::logs))
    .configure(metadata::routes);
}
