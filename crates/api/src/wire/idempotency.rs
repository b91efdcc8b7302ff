//! `Idempotency-Key` on POST (the IETF httpapi draft): a retry with the same key and the same
//! request gets the first answer again (status, `Location`, body), on whichever process it lands,
//! with `Idempotent-Replayed: true`. The same key with another request is 422; a key whose first
//! request is still being answered is 409. Keys belong to the API key that sent them.
//!
//! A first request that ends in a server error, or whose client goes away, gives its key up: a
//! retry then runs afresh, as nothing was answered to keep. So does an answer marked
//! `Cache-Control: no-store` (a new API key's secret): it is never written to the state database.

use crate::wire::problems;
use actix_web::body::{BoxBody, to_bytes};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, LOCATION};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use futures::{Stream, StreamExt};
use sluice_domain::api_key::ApiKey;
use sluice_domain::idempotency::{Claim, Fingerprint, IdempotencyKey, StoredResponse};
use sluice_domain::services::IdempotencyService;
use std::pin::Pin;

use crate::{ApiError, MAX_BODY_BYTES};

pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
pub const REPLAYED: &str = "Idempotent-Replayed";

/// The middleware for a version's scope.
///
/// # Errors
/// What the wrapped service fails with.
pub async fn apply(
    service: IdempotencyService,
    mut req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if req.method() != Method::POST {
        return next.call(req).await;
    }
    let Some(raw) = req.headers().get(IDEMPOTENCY_KEY) else {
        return next.call(req).await;
    };
    // One request, one key: with two, which one a retry must repeat is anyone's guess.
    if req.headers().get_all(IDEMPOTENCY_KEY).count() > 1 {
        let problem =
            ApiError::bad_request(format!("send one {IDEMPOTENCY_KEY} header, not several"));
        return Ok(req.error_response(problem));
    }
    let owner = req
        .extensions()
        .get::<ApiKey>()
        .map(|key| key.name.to_string())
        .unwrap_or_default();
    let key = match raw
        .to_str()
        .map_err(|_| "must be printable ASCII".to_owned())
        .and_then(|raw| IdempotencyKey::parse(&owner, raw))
    {
        Ok(key) => key,
        Err(why) => {
            let problem = ApiError::bad_request(format!("the {IDEMPOTENCY_KEY} header {why}"));
            return Ok(req.error_response(problem));
        }
    };

    let body = match read_body(req.take_payload()).await {
        Ok(body) => body,
        Err(response) => return Ok(req.into_response(response)),
    };
    let path = match req.query_string() {
        "" => req.path().to_owned(),
        query => format!("{}?{query}", req.path()),
    };
    let fingerprint = Fingerprint::of(req.method().as_str(), &path, &body);
    let claim = match service.claim(key.clone(), fingerprint).await {
        Ok(claim) => claim,
        Err(err) => return Ok(req.error_response(ApiError::from(err))),
    };
    match claim {
        Claim::Claimed => {}
        Claim::Replay(stored) => return Ok(req.into_response(replay(stored))),
        Claim::InFlight => {
            let problem = ApiError::new(
                    problems::IDEMPOTENCY_KEY_IN_USE,
                    format!("a request with this {IDEMPOTENCY_KEY} is in progress; retry once it has its answer"),
            )
            .retry_after(1);
            return Ok(req.error_response(problem));
        }
        Claim::Mismatch => {
            let problem = ApiError::new(
                problems::IDEMPOTENCY_KEY_REUSED,
                format!(
                    "this {IDEMPOTENCY_KEY} was sent with another method, path or body; use a new key for a new request"
                ),
            );
            return Ok(req.error_response(problem));
        }
    }

    req.set_payload(bytes_payload(body));
    let guard = Release {
        service: service.clone(),
        key: Some(key.clone()),
    };
    let response = next.call(req).await?;
    let (req, response) = response.into_parts();
    let status = response.status();
    let content_type = header(&response, CONTENT_TYPE.as_str());
    let location = header(&response, LOCATION.as_str());
    let (response, body) = response.into_parts();
    let body = match to_bytes(body).await {
        Ok(body) => body,
        Err(_) => {
            // Nothing whole was answered: the guard gives the key up.
            return Ok(ServiceResponse::new(
                req,
                response.set_body(BoxBody::new(())),
            ));
        }
    };
    // An answer that must not be stored (a new API key's secret) is not kept either: its key is
    // given up, and a retry runs again (creating a key with a taken name is refused).
    let no_store = response
        .headers()
        .get(CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("no-store"));
    if !status.is_server_error() && !no_store {
        let stored = StoredResponse {
            status: status.as_u16(),
            content_type,
            location,
            body: body.to_vec(),
        };
        match service.complete(&key, stored).await {
            Ok(()) => guard.disarm(),
            Err(err) => tracing::warn!(error = %err, "could not keep an idempotent answer"),
        }
    }
    Ok(ServiceResponse::new(
        req,
        response.set_body(BoxBody::new(body)),
    ))
}

fn header(response: &HttpResponse, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn replay(stored: StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    response.insert_header((REPLAYED, HeaderValue::from_static("true")));
    if let Some(content_type) = stored.content_type {
        response.insert_header((CONTENT_TYPE, content_type));
    }
    if let Some(location) = stored.location {
        response.insert_header((LOCATION, location));
    }
    response.body(stored.body)
}

/// The whole body, at most [`MAX_BODY_BYTES`]: it is part of what the key stands for.
async fn read_body(mut payload: Payload) -> Result<Bytes, HttpResponse> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|err| err.error_response())?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ApiError::new(
                problems::PAYLOAD_TOO_LARGE,
                format!("a body may be at most {MAX_BODY_BYTES} bytes"),
            )
            .error_response());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn bytes_payload(body: Bytes) -> Payload {
    let stream: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> =
        Box::pin(futures::stream::once(async move { Ok(body) }));
    Payload::from(stream)
}

/// Gives the key up unless the answer was kept: a request dropped half-way (its client went
/// away) or answered with a server error leaves nothing to replay.
struct Release {
    service: IdempotencyService,
    key: Option<IdempotencyKey>,
}

impl Release {
    fn disarm(mut self) {
        self.key = None;
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let service = self.service.clone();
            tokio::spawn(async move {
                if let Err(err) = service.release(&key).await {
                    tracing::warn!(error = %err, "could not give up an idempotency key");
                }
            });
        }
    }
}
