use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::{ApiError, ApiState};

/// The process is alive.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The process can do its work: the metadata store answers.
pub async fn readyz(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    state.readiness.check().await?;
    Ok(HttpResponse::Ok().json(json!({"status": "ready"})))
}
