use actix_web::{HttpResponse, web};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::wire::problems;
use crate::{ApiError, ApiState};

/// Whether this process is stopping. From then on `/readyz` answers 503, so the load balancer
/// sends new requests elsewhere while those in flight and the running flows finish.
#[derive(Clone, Default)]
pub struct Stopping(Arc<AtomicBool>);

impl Stopping {
    pub fn begin(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_stopping(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Which pipeline metadata sources this server answers from, by settings section (`archive`,
/// `configuration`, `specification`, `collection_log`, `datasette`), for `/readyz`: a source
/// that is not there makes its endpoints answer `/problems/not-configured`.
#[derive(Clone, Debug, Default)]
pub struct MetadataSources(pub Vec<(&'static str, bool)>);

/// The process is alive.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The process can do its work: it is not stopping and the state database answers. The answer
/// also says which pipeline metadata sources are configured.
pub async fn readyz(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    if state.stopping.is_stopping() {
        return Err(ApiError::new(
            problems::UNAVAILABLE,
            "this process is stopping: send requests to another",
        ));
    }
    state.readiness.check().await?;
    let sources: serde_json::Map<String, serde_json::Value> = (state.metadata_sources.0.iter())
        .map(|(name, configured)| ((*name).to_owned(), json!(configured)))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"status": "ready", "metadata_sources": sources})))
}
