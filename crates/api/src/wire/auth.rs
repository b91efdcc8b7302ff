//! Who may call the versioned API: an API key sent as `Authorization: Bearer <key>` or
//! `X-API-Key: <key>`, and the scope each request needs.
//!
//! Reads (`GET`, `HEAD`) need `read`; managing keys (`/v2/keys`) needs `admin`, with a key
//! whatever the settings; any other write needs `write`. A key that is sent is always checked, whatever the settings say, so a client
//! learns of a wrong key at once rather than when authentication is turned on. The answers never
//! say whether a key exists: an unknown, revoked or malformed key all get the same 401.

use crate::wire::problems;
use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{AUTHORIZATION, HeaderMap, WWW_AUTHENTICATE};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError};
use secrecy::SecretString;
use sluice_domain::api_key::{ApiKey, Scope};
use sluice_domain::services::ApiKeyService;

use crate::ApiError;

/// The header that carries a key for clients that cannot set `Authorization`.
pub const API_KEY_HEADER: &str = "X-API-Key";

/// When a request without a key is let through.
#[derive(Debug, Clone, Copy)]
pub struct AuthPolicy {
    /// Every versioned request needs a key.
    pub required: bool,
    /// Reads need no key even when keys are required (as the metadata services Sluice replaces
    /// allow); key management always does.
    pub public_read: bool,
}

/// Checks every request to a versioned path against its key and the [`AuthPolicy`].
#[derive(Clone)]
pub struct Authenticator {
    keys: ApiKeyService,
    policy: AuthPolicy,
}

impl Authenticator {
    pub fn new(keys: ApiKeyService, policy: AuthPolicy) -> Self {
        Self { keys, policy }
    }

    /// The middleware (`App::wrap(from_fn(move |req, next| auth.clone().apply(req, next)))`).
    /// A request let through with a key carries its [`ApiKey`] and [`PresentedKey`] in its
    /// extensions.
    ///
    /// # Errors
    /// What the wrapped service fails with.
    pub async fn apply(
        self,
        req: ServiceRequest,
        next: Next<BoxBody>,
    ) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
        let Some(needed) = needed_scope(req.method(), req.path()) else {
            return next.call(req).await;
        };
        match self.check(req.headers(), needed).await {
            Ok(Some((key, presented))) => {
                req.extensions_mut().insert(key);
                req.extensions_mut().insert(presented);
                next.call(req).await
            }
            Ok(None) => next.call(req).await,
            Err(refusal) => Ok(req.into_response(refusal.respond())),
        }
    }

    async fn check(
        &self,
        headers: &HeaderMap,
        needed: Scope,
    ) -> Result<Option<(ApiKey, PresentedKey)>, Refusal> {
        let Some(presented) = presented_key(headers)? else {
            // Managing keys always takes a key: credentials are never made anonymously, even
            // where other requests need none.
            let open = needed != Scope::Admin
                && (!self.policy.required || (self.policy.public_read && needed == Scope::Read));
            return if open {
                Ok(None)
            } else {
                Err(Refusal::Unauthenticated(
                    "this request needs an API key: send it as Authorization: Bearer <key>",
                ))
            };
        };
        let key = self
            .keys
            .authenticate(&presented)
            .await
            .map_err(|err| Refusal::Failed(err.into()))?
            .ok_or(Refusal::Unauthenticated("the API key is not valid"))?;
        if !key.scopes.allows(needed) {
            return Err(Refusal::Forbidden(needed));
        }
        Ok(Some((key, PresentedKey(presented))))
    }
}

/// The key a request was let through with, as presented, in the request's extensions: a
/// response that goes on after the request (an event stream) checks it again, so that revoking
/// the key ends it.
#[derive(Clone)]
pub struct PresentedKey(pub SecretString);

/// The scope a request needs; `None` for paths outside the versioned API (health, docs) and for
/// each version's published contract.
pub(crate) fn needed_scope(method: &Method, path: &str) -> Option<Scope> {
    let versioned = ["/v1", "/v2"].iter().any(|v| {
        path.strip_prefix(v)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    });
    if !versioned || path.ends_with("/openapi.json") {
        return None;
    }
    if path == "/v2/keys" || path.starts_with("/v2/keys/") {
        return Some(Scope::Admin);
    }
    let reads = [Method::GET, Method::HEAD, Method::OPTIONS];
    Some(if reads.contains(method) {
        Scope::Read
    } else {
        Scope::Write
    })
}

/// The key a request carries; `Err` when the `Authorization` header is not a bearer token.
fn presented_key(headers: &HeaderMap) -> Result<Option<SecretString>, Refusal> {
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

enum Refusal {
    Unauthenticated(&'static str),
    Forbidden(Scope),
    Failed(ApiError),
}

impl Refusal {
    fn respond(self) -> actix_web::HttpResponse {
        match self {
            Refusal::Unauthenticated(detail) => {
                let mut response =
                    ApiError::new(problems::UNAUTHENTICATED, detail).error_response();
                response.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    actix_web::http::header::HeaderValue::from_static("Bearer realm=\"sluice\""),
                );
                response
            }
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

    #[test]
    fn reads_need_read_writes_need_write_and_keys_need_admin() {
        assert_eq!(needed_scope(&Method::GET, "/v1/flows"), Some(Scope::Read));
        assert_eq!(
            needed_scope(&Method::HEAD, "/v1/log/issue"),
            Some(Scope::Read)
        );
        assert_eq!(needed_scope(&Method::POST, "/v1/flows"), Some(Scope::Write));
        assert_eq!(
            needed_scope(&Method::POST, "/v1/flows/3/cancel"),
            Some(Scope::Write)
        );
        assert_eq!(needed_scope(&Method::GET, "/v2/keys"), Some(Scope::Admin));
        assert_eq!(
            needed_scope(&Method::DELETE, "/v2/keys/ci"),
            Some(Scope::Admin)
        );
        assert_eq!(needed_scope(&Method::POST, "/v2"), Some(Scope::Write));
    }

    #[test]
    fn health_docs_and_contracts_need_no_key() {
        for path in [
            "/healthz",
            "/readyz",
            "/docs",
            "/v1/openapi.json",
            "/v10/flows",
            "/v1x",
        ] {
            assert_eq!(needed_scope(&Method::GET, path), None, "{path}");
        }
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
}
