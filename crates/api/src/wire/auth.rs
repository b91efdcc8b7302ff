//! Who may call the versioned API: an API key sent as `Authorization: Bearer <key>` or
//! `X-API-Key: <key>`, and the scope each operation needs.
//!
//! Two steps, so that the decision is made on the operation the router chose and never on how
//! its path was spelled (`/v%32/keys` is routed to `/v2/keys`, and must need what it needs):
//! - [`identify`], on each version's scope, checks a key that is sent, whatever the settings,
//!   so a client learns of a wrong key at once rather than when authentication is turned on,
//!   and leaves the [`Caller`] in the request for what comes after (rate limits, idempotency).
//! - [`require`], on each routed resource, holds the [`Access`] its operations were registered
//!   with (`wire::endpoint`, the same table the OpenAPI documents' `security` is written from)
//!   and lets the request through only with that scope, or with none where the [`AuthPolicy`]
//!   allows. A request that was never identified is refused: the check cannot be skipped by
//!   mounting a route outside a version.
//!
//! Reads need `read`, writes `write`, managing keys `admin`, with a key whatever the settings.
//! The answers never say whether a key exists: an unknown, revoked or malformed key all get the
//! same 401.

use crate::wire::problems;
use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{AUTHORIZATION, HeaderMap, WWW_AUTHENTICATE};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError, web};
use secrecy::SecretString;
use sluice_domain::api_key::{ApiKey, Scope};
use std::sync::Arc;

use crate::{ApiError, ApiState};

/// The header that carries a key for clients that cannot set `Authorization`.
pub const API_KEY_HEADER: &str = "X-API-Key";

/// When a request without a key is let through.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuthPolicy {
    /// Every versioned request needs a key.
    pub required: bool,
    /// Reads need no key even when keys are required (as the metadata services Sluice replaces
    /// allow); key management always does.
    pub public_read: bool,
}

/// What an operation asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nothing: health, documentation, each version's OpenAPI document.
    Open,
    /// A key with this scope, or none where the [`AuthPolicy`] opens the scope to all.
    Needs(Scope),
}

impl Access {
    /// What an operation of `method` needs unless it is registered otherwise: reads `read`,
    /// anything else `write`.
    pub fn of_method(method: &Method) -> Self {
        if [Method::GET, Method::HEAD, Method::OPTIONS].contains(method) {
            Access::Needs(Scope::Read)
        } else {
            Access::Needs(Scope::Write)
        }
    }

    /// The scope needed, if any.
    pub fn scope(self) -> Option<Scope> {
        match self {
            Access::Open => None,
            Access::Needs(scope) => Some(scope),
        }
    }
}

/// Who sent a request, once [`identify`] has looked: left in its extensions.
#[derive(Clone)]
pub enum Caller {
    Anonymous,
    /// A valid key. The key as presented is kept apart ([`PresentedKey`]) for what checks it
    /// again later (an event stream).
    Key(ApiKey),
}

/// The key a request was let through with, as presented, in the request's extensions: a
/// response that goes on after the request (an event stream) checks it again, so that revoking
/// the key ends it.
#[derive(Clone)]
pub struct PresentedKey(pub SecretString);

/// The middleware on each version's scope: checks the key a request presents (401 for one that
/// is not valid) and leaves a [`Caller`] (and, with a key, the [`ApiKey`] and [`PresentedKey`])
/// in its extensions. It decides nothing about scopes: [`require`] does, once routed.
///
/// # Errors
/// What the wrapped service fails with.
pub async fn identify(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let presented = match presented_key(req.headers()) {
        Ok(presented) => presented,
        Err(refusal) => return Ok(req.into_response(refusal.respond())),
    };
    let Some(presented) = presented else {
        req.extensions_mut().insert(Caller::Anonymous);
        return next.call(req).await;
    };
    let Some(state) = req.app_data::<web::Data<ApiState>>().cloned() else {
        return Ok(req.into_response(
            Refusal::Failed(ApiError::new(
                problems::INTERNAL,
                "the API's state is not configured",
            ))
            .respond(),
        ));
    };
    match state.api_keys.authenticate(&presented).await {
        Ok(Some(key)) => {
            req.extensions_mut().insert(Caller::Key(key.clone()));
            req.extensions_mut().insert(key);
            req.extensions_mut().insert(PresentedKey(presented));
            next.call(req).await
        }
        Ok(None) => {
            Ok(req.into_response(Refusal::Unauthenticated("the API key is not valid").respond()))
        }
        Err(err) => Ok(req.into_response(Refusal::Failed(err.into()).respond())),
    }
}

/// The operations of one routed resource and what each needs, by method (`HEAD` as `GET`).
#[derive(Debug, Clone)]
pub struct ResourceAccess(pub Arc<Vec<(Method, Access)>>);

impl ResourceAccess {
    fn of(&self, method: &Method) -> Option<Access> {
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.0
            .iter()
            .find(|(m, _)| m == method)
            .map(|(_, access)| *access)
    }
}

/// The middleware on each routed resource: lets a request reach the operation the router chose
/// only with what that operation was registered to need. A method the resource does not take
/// goes on to its 405.
///
/// # Errors
/// What the wrapped service fails with.
pub async fn require(
    access: ResourceAccess,
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(Access::Needs(needed)) = access.of(req.method()) else {
        return next.call(req).await;
    };
    let caller = req.extensions().get::<Caller>().cloned();
    let policy = req
        .app_data::<web::Data<ApiState>>()
        .map(|state| state.auth_policy);
    let decision = match (caller, policy) {
        (Some(caller), Some(policy)) => decide(&caller, needed, policy),
        // Not identified (a route mounted outside the versions' scopes): refused, never open.
        _ => Err(Refusal::Unauthenticated(
            "this request needs an API key: send it as Authorization: Bearer <key>",
        )),
    };
    match decision {
        Ok(()) => next.call(req).await,
        Err(refusal) => Ok(req.into_response(refusal.respond())),
    }
}

/// Whether `caller` may use an operation that needs `needed`.
fn decide(caller: &Caller, needed: Scope, policy: AuthPolicy) -> Result<(), Refusal> {
    match caller {
        Caller::Key(key) if key.scopes.allows(needed) => Ok(()),
        Caller::Key(_) => Err(Refusal::Forbidden(needed)),
        Caller::Anonymous => {
            // Managing keys always takes a key: credentials are never made anonymously, even
            // where other requests need none.
            let open = needed != Scope::Admin
                && (!policy.required || (policy.public_read && needed == Scope::Read));
            if open {
                Ok(())
            } else {
                Err(Refusal::Unauthenticated(
                    "this request needs an API key: send it as Authorization: Bearer <key>",
                ))
            }
        }
    }
}

/// The key a request carries; `Err` when the `Authorization` header is not a bearer token.
fn presented_key(headers: &HeaderMap) -> Result<Option<SecretString>, Refusal> {
    // One key per request: a second one (another header, or the same header twice) would be
    // left unchecked, and a request would pass on its first key whatever the other said.
    let sent = headers.get_all(AUTHORIZATION).count() + headers.get_all(API_KEY_HEADER).count();
    if sent > 1 {
        return Err(Refusal::Unauthenticated(
            "send one API key, in Authorization or in X-API-Key, not several",
        ));
    }
    if let Some(value) = headers.get(AUTHORIZATION) {
        let text = value.to_str().unwrap_or_default();
        return match text.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                Ok(Some(token.trim().to_owned().into()))
            }
            _ => Err(Refusal::Unauthenticated(
                "the Authorization header must read Bearer <key>",
            )),
        };
    }
    Ok(headers
        .get(API_KEY_HEADER)
        .map(|value| value.to_str().unwrap_or_default().trim().to_owned().into()))
}

/// A 401 problem saying `detail`, with the `WWW-Authenticate` challenge.
pub fn unauthenticated(detail: &str) -> actix_web::HttpResponse {
    let mut response = ApiError::new(problems::UNAUTHENTICATED, detail).error_response();
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        actix_web::http::header::HeaderValue::from_static("Bearer realm=\"sluice\""),
    );
    response
}

enum Refusal {
    Unauthenticated(&'static str),
    Forbidden(Scope),
    Failed(ApiError),
}

impl Refusal {
    fn respond(self) -> actix_web::HttpResponse {
        match self {
            Refusal::Unauthenticated(detail) => unauthenticated(detail),
            Refusal::Forbidden(needed) => ApiError::new(
                problems::FORBIDDEN,
                format!("this request needs a key with the {needed} scope"),
            )
            .error_response(),
            Refusal::Failed(error) => error.error_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_domain::api_key::{ApiKeyName, Scopes};

    fn key(scopes: &[Scope]) -> Caller {
        Caller::Key(ApiKey {
            name: ApiKeyName::parse("ci").unwrap(),
            scopes: Scopes::new(scopes.to_vec()).unwrap(),
            lookup: "sluice_3f9a".into(),
            created_utc: chrono::Utc::now(),
        })
    }

    #[test]
    fn reads_need_read_and_anything_else_write_unless_registered_otherwise() {
        assert_eq!(Access::of_method(&Method::GET), Access::Needs(Scope::Read));
        assert_eq!(Access::of_method(&Method::HEAD), Access::Needs(Scope::Read));
        for method in [Method::POST, Method::PATCH, Method::DELETE, Method::PUT] {
            assert_eq!(Access::of_method(&method), Access::Needs(Scope::Write));
        }
    }

    #[test]
    fn a_key_needs_the_scope_and_no_key_passes_only_where_the_policy_opens_it() {
        let open = AuthPolicy::default();
        let required = AuthPolicy {
            required: true,
            public_read: false,
        };
        let public_read = AuthPolicy {
            required: true,
            public_read: true,
        };
        assert!(decide(&Caller::Anonymous, Scope::Write, open).is_ok());
        assert!(decide(&Caller::Anonymous, Scope::Admin, open).is_err());
        assert!(decide(&Caller::Anonymous, Scope::Read, required).is_err());
        assert!(decide(&Caller::Anonymous, Scope::Read, public_read).is_ok());
        assert!(decide(&Caller::Anonymous, Scope::Write, public_read).is_err());
        assert!(decide(&key(&[Scope::Read]), Scope::Write, open).is_err());
        assert!(decide(&key(&[Scope::Write]), Scope::Write, required).is_ok());
        assert!(decide(&key(&[Scope::Write]), Scope::Admin, open).is_err());
    }

    #[test]
    fn head_needs_what_get_needs_and_other_methods_go_on_to_their_405() {
        let access = ResourceAccess(Arc::new(vec![
            (Method::GET, Access::Needs(Scope::Read)),
            (Method::DELETE, Access::Needs(Scope::Admin)),
        ]));
        assert_eq!(access.of(&Method::HEAD), Some(Access::Needs(Scope::Read)));
        assert_eq!(
            access.of(&Method::DELETE),
            Some(Access::Needs(Scope::Admin))
        );
        assert_eq!(access.of(&Method::POST), None);
    }

    #[test]
    fn a_bearer_token_or_the_key_header_carries_the_key() {
        use secrecy::ExposeSecret;
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, "bearer abc".parse().unwrap());
        let key = presented_key(&headers).ok().flatten().unwrap();
        assert_eq!(key.expose_secret(), "abc");

        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, "Basic abc".parse().unwrap());
        assert!(presented_key(&headers).is_err());

        let mut headers = HeaderMap::new();
        headers.insert(
            actix_web::http::header::HeaderName::from_static("x-api-key"),
            "abc".parse().unwrap(),
        );
        let key = presented_key(&headers).ok().flatten().unwrap();
        assert_eq!(key.expose_secret(), "abc");
        assert!(presented_key(&HeaderMap::new()).ok().flatten().is_none());
    }

    #[test]
    fn two_keys_in_one_request_are_refused_rather_than_one_left_unchecked() {
        let api_key = actix_web::http::header::HeaderName::from_static("x-api-key");
        let mut both = HeaderMap::new();
        both.insert(AUTHORIZATION, "Bearer abc".parse().unwrap());
        both.insert(api_key.clone(), "garbage".parse().unwrap());
        assert!(presented_key(&both).is_err());
        let mut twice = HeaderMap::new();
        twice.append(api_key.clone(), "abc".parse().unwrap());
        twice.append(api_key, "def".parse().unwrap());
        assert!(presented_key(&twice).is_err());
        let mut bearer_twice = HeaderMap::new();
        bearer_twice.append(AUTHORIZATION, "Bearer abc".parse().unwrap());
        bearer_twice.append(AUTHORIZATION, "Bearer def".parse().unwrap());
        assert!(presented_key(&bearer_twice).is_err());
    }
}
