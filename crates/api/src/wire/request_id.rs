//! Every request has an id: the `X-Request-Id` a client or load balancer sent, when it is a
//! plausible id, or a new one. It is echoed in the answer's `X-Request-Id`, named in a problem's
//! `request_id`, written on the access line, and carried (with the ALB's `X-Amzn-Trace-Id`) by
//! every log line written while the request is handled, so one id finds everything about it.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_AMZN_TRACE_ID: &str = "x-amzn-trace-id";

/// The longest id taken from a client; a longer or odd one is replaced, never logged.
const MAX_ID_LEN: usize = 128;

/// The middleware, outermost, so that every other part sees the id.
///
/// # Errors
/// What the wrapped service fails with.
pub async fn tag_request<B: MessageBody>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, actix_web::Error> {
    let id = req
        .headers()
        .get(&X_REQUEST_ID)
        .filter(|v| plausible(v.as_bytes()))
        .cloned()
        .unwrap_or_else(new_id);
    req.headers_mut().insert(X_REQUEST_ID, id.clone());
    let shown = id.to_str().unwrap_or_default().to_owned();
    let trace = req
        .headers()
        .get(X_AMZN_TRACE_ID)
        .filter(|v| plausible(v.as_bytes()))
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let span = tracing::info_span!("request", request_id = %shown, trace_id = %trace);
    let mut res = next.call(req).instrument(span).await?;
    res.headers_mut().insert(X_REQUEST_ID, id);
    Ok(res)
}

/// Letters, digits and `-_.:=;/+` only (ids, UUIDs, ALB trace ids): nothing a log line or a
/// header could be made to say more with.
fn plausible(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:=;/+".contains(b))
}

fn new_id() -> HeaderValue {
    let mut bytes = [0_u8; 16];
    // The id needs to be unique, not secret: a clock-based fallback would do if the OS random
    // source failed, which it does not on the systems Sluice runs on.
    let _ = getrandom::fill(&mut bytes);
    HeaderValue::from_str(&hex::encode(bytes)).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plausible_ids_are_kept_and_others_replaced() {
        for kept in [
            "abc-123",
            "Root=1-67891233-abcdef012345678912345678;Self=1-6-7",
        ] {
            assert!(plausible(kept.as_bytes()), "{kept}");
        }
        for replaced in ["", "a b", "x\ny", "<script>", &"a".repeat(129)] {
            assert!(!plausible(replaced.as_bytes()), "{replaced}");
        }
        assert_eq!(new_id().len(), 32);
    }
}
