//! Limits every request is held to, so that slow or greedy clients cannot hold the server: a
//! body must arrive within a deadline, and one client address may have only so many requests in
//! flight at once.

use crate::wire::problems;
use actix_web::body::BoxBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use futures::Stream;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use crate::ApiError;

/// The limits, from the server's settings.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// How long a client may take to send a request's body once its head has arrived.
    pub body_read_timeout: Duration,
    /// How many requests one client address may have in flight; 0 for no limit. Behind a load
    /// balancer every request comes from its addresses, so it is set high there or turned off.
    pub max_requests_per_client: usize,
}

/// Applies [`RequestLimits`] to every request.
#[derive(Clone)]
pub struct Limiter {
    limits: RequestLimits,
    in_flight: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Limiter {
    pub fn new(limits: RequestLimits) -> Self {
        Self {
            limits,
            in_flight: Arc::default(),
        }
    }

    /// The middleware (`App::wrap(from_fn(move |req, next| limiter.clone().apply(req, next)))`).
    ///
    /// # Errors
    /// What the wrapped service fails with.
    pub async fn apply(
        self,
        mut req: ServiceRequest,
        next: Next<BoxBody>,
    ) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
        let _slot = match req.peer_addr().map(|addr| addr.ip()) {
            Some(client) if self.limits.max_requests_per_client > 0 => {
                match self.take_slot(client) {
                    Some(slot) => Some(slot),
                    None => {
                        let problem = ApiError::new(
                            problems::TOO_MANY_REQUESTS,
                            format!(
                                "at most {} requests from one client may be in progress at once",
                                self.limits.max_requests_per_client
                            ),
                        )
                        .retry_after(1);
                        return Ok(req.error_response(problem));
                    }
                }
            }
            _ => None,
        };
        if !has_body(&req) {
            return next.call(req).await;
        }
        let payload = req.parts_mut().1.take();
        req.set_payload(Payload::from(Box::pin(Deadline {
            inner: payload,
            sleep: Box::pin(tokio::time::sleep(self.limits.body_read_timeout)),
            expired: false,
        })
            as Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>));
        next.call(req).await
    }

    fn take_slot(&self, client: IpAddr) -> Option<Slot> {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = in_flight.entry(client).or_default();
        if *count >= self.limits.max_requests_per_client {
            return None;
        }
        *count += 1;
        Some(Slot {
            client,
            in_flight: self.in_flight.clone(),
        })
    }
}

/// Whether the request says a body follows (a length above zero, or chunks).
fn has_body(req: &ServiceRequest) -> bool {
    use actix_web::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
    let headers = req.headers();
    headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0")
}

/// One request's place in its client's count, given back when the request ends.
struct Slot {
    client: IpAddr,
    in_flight: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = in_flight.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                in_flight.remove(&self.client);
            }
        }
    }
}

/// A body that fails with a timeout once its deadline passes.
struct Deadline<S> {
    inner: S,
    sleep: Pin<Box<tokio::time::Sleep>>,
    expired: bool,
}

/// The error a body that came too slowly ends with; the JSON reader turns it into a 408.
pub fn is_body_timeout(err: &PayloadError) -> bool {
    matches!(err, PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut)
}

impl<S> Stream for Deadline<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.expired = true;
            return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the body did not arrive in time",
            )))));
        }
        Poll::Pending
    }
}
