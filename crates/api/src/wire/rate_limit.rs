//! Rate limits: each API key (or, for requests without one, each client address) may make so many
//! requests a second, with a burst; beyond it the answer is 429 with `Retry-After`. The limits
//! hold per process: behind a load balancer with n replicas a client gets up to n times them.

use crate::wire::problems;
use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sluice_domain::api_key::ApiKey;
use std::num::NonZeroU32;
use std::sync::Arc;

use crate::ApiError;

/// Requests a second and the burst allowed above it; `per_second` 0 turns the limits off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimits {
    pub per_second: u32,
    pub burst: u32,
}

/// Who a request counts against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Client {
    Key(String),
    Address(std::net::IpAddr),
}

/// The limiter every request of the versioned API passes; cheap to clone.
#[derive(Clone)]
pub struct RateLimiterMiddleware {
    limits: RateLimits,
    limiter: Option<Arc<DefaultKeyedRateLimiter<Client>>>,
}

/// Clients remembered before the idle ones are forgotten.
const REMEMBERED_CLIENTS: usize = 100_000;

impl RateLimiterMiddleware {
    pub fn new(mut limits: RateLimits) -> Self {
        let limiter = NonZeroU32::new(limits.per_second).map(|rate| {
            let burst = NonZeroU32::new(limits.burst).unwrap_or(rate);
            limits.burst = burst.get();
            Arc::new(RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            ))
        });
        Self { limits, limiter }
    }

    /// The middleware, inside authentication so that it knows the request's key.
    ///
    /// # Errors
    /// What the wrapped service fails with.
    pub async fn apply(
        self,
        req: ServiceRequest,
        next: Next<BoxBody>,
    ) -> Result<ServiceResponse<BoxBody>, Error> {
        let Some(limiter) = &self.limiter else {
            return next.call(req).await;
        };
        let client = match req.extensions().get::<ApiKey>() {
            Some(key) => Some(Client::Key(key.name.to_string())),
            None => req.peer_addr().map(|a| Client::Address(a.ip())),
        };
        let Some(client) = client else {
            return next.call(req).await;
        };
        if limiter.len() > REMEMBERED_CLIENTS {
            limiter.retain_recent();
        }
        if let Err(not_until) = limiter.check_key(&client) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let secs = u32::try_from(wait.as_secs())
                .unwrap_or(u32::MAX)
                .saturating_add(1);
            let problem = ApiError::new(
                    problems::TOO_MANY_REQUESTS,
                    format!(
                    "each client may make {} requests a second, in bursts of up to {}; retry in {secs} s",
                    self.limits.per_second, self.limits.burst
                ),
            )
            .retry_after(secs);
            return Ok(req.error_response(problem));
        }
        next.call(req).await
    }
}
