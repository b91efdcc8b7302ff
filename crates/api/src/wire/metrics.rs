//! Prometheus metrics. Every request is counted by method, route pattern and status and timed
//! by method and route (`count_request`); `GET /metrics` renders every metric in Prometheus'
//! text format, the point-in-time gauges (flows by state, connections) read as it is asked.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Instant;
use subtle::ConstantTimeEq;

use crate::wire::problems;
use crate::{ApiError, ApiState};

/// What `GET /metrics` answers with: the process's metrics in Prometheus' text format.
#[async_trait]
pub trait Scrape: Send + Sync {
    /// Brings the point-in-time gauges up to date and renders every metric.
    ///
    /// # Errors
    /// `Unavailable` when a gauge's source does not answer.
    async fn render(&self) -> sluice_domain::Result<String>;
}

/// `/metrics` as the operator set it up: off, open, or behind a bearer token.
#[derive(Clone, Default)]
pub struct MetricsEndpoint {
    pub scrape: Option<Arc<dyn Scrape>>,
    /// When set, a scrape must send `Authorization: Bearer <token>`.
    pub token: Option<SecretString>,
}

/// The middleware: one count and one duration per request, labelled by its route pattern
/// (`/v2/flows/{id}`, never the path itself, so the labels stay few).
///
/// # Errors
/// What the wrapped service fails with.
pub async fn count_request<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let res = next.call(req).await?;
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = res.status().as_str().to_owned();
    metrics::counter!(
        "sluice_http_requests_total",
        "method" => method,
        "route" => route.clone(),
        "status" => status
    )
    .increment(1);
    metrics::histogram!(
        "sluice_http_request_duration_seconds",
        "method" => method,
        "route" => route
    )
    .record(started.elapsed().as_secs_f64());
    Ok(res)
}

/// The method as a label: HTTP's own methods by name, any other (a client may invent them) as
/// `other`, so that callers cannot make series without end.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::CONNECT,
        Method::TRACE,
    ];
    KNOWN
        .iter()
        .find(|known| *known == method)
        .map_or("other", |known| known.as_str())
}

/// `GET /metrics`.
pub async fn scrape(
    req: HttpRequest,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let Some(scrape) = &state.metrics.scrape else {
        return Err(ApiError::not_found("metrics are off (metrics.enabled)"));
    };
    if let Some(token) = &state.metrics.token {
        let sent = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !bool::from(sent.as_bytes().ct_eq(token.expose_secret().as_bytes())) {
            return Err(ApiError::new(
                problems::UNAUTHENTICATED,
                "a scrape of /metrics needs the bearer token metrics.bearer_token sets",
            ));
        }
    }
    let text = scrape.render().await?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8"))
        .body(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invented_method_is_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        let invented = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&invented), "other");
    }
}
