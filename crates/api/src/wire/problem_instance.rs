//! Fills in a problem's `instance` (the request path) and `request_id` as it leaves, so errors
//! raised anywhere, extractors included, say which request they answer.

use actix_web::Error;
use actix_web::body::{BoxBody, to_bytes};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::middleware::Next;

use crate::wire::error::PROBLEM_JSON;

pub async fn add_problem_instance(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let path = req.path().to_owned();
    let request_id = req
        .headers()
        .get(crate::wire::request_id::X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let res = next.call(req).await?;
    let is_problem = res
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    if !is_problem {
        return Ok(res);
    }
    let (req, res) = res.into_parts();
    let (mut res, body) = res.into_parts();
    let Ok(bytes) = to_bytes(body).await else {
        return Ok(ServiceResponse::new(req, res.set_body(BoxBody::new(()))));
    };
    let body = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(serde_json::Value::Object(mut problem)) => {
            problem
                .entry("instance")
                .or_insert(serde_json::Value::String(path));
            if let Some(id) = request_id {
                problem.insert("request_id".into(), serde_json::Value::String(id));
            }
            serde_json::to_vec(&problem).unwrap_or_else(|_| bytes.to_vec())
        }
        _ => bytes.to_vec(),
    };
    res.headers_mut().remove(CONTENT_LENGTH);
    let res = res.set_body(BoxBody::new(body));
    Ok(ServiceResponse::new(req, res))
}
