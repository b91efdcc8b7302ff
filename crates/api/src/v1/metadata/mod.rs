//! `/v1` pipeline metadata: the paths and parameters existing consumers of the Datasette and
//! DuckDB services call, so that moving to Sluice changes only a base URL. Rows are keyed by the
//! archive's own column names (`line-number`, `issue-type`).

mod collection;
mod configuration;
mod dto;
mod issues;
mod performance;
mod specification;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/log/issue", web::get().to(issues::issue_page))
        .route("/log/collection", web::get().to(collection::log_entries))
        .route("/resource", web::get().to(collection::resources))
        // Before `/performance/{table}`, which would otherwise take it.
        .route("/performance/issues", web::get().to(issues::counts))
        .route("/performance/{table}", web::get().to(performance::rows))
        .route(
            "/specification/specification",
            web::get().to(specification::datasets),
        )
        .route(
            "/specification/datasets/{dataset}",
            web::get().to(specification::dataset),
        )
        .route(
            "/specification/fields/{field}",
            web::get().to(specification::field),
        )
        .route(
            "/configuration/{collection}",
            web::get().to(configuration::overview),
        )
        .route(
            "/configuration/{collection}/{table}",
            web::get().to(configuration::origin),
        )
        .route(
            "/configuration/{collection}/rules/{kind}",
            web::get().to(configuration::rules),
        );
}
