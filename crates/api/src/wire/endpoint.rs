//! One path and the methods it takes. Any other method gets 405 with an `Allow` header (as
//! RFC 9110 asks) rather than the 404 of a path that does not exist, and every `GET` answers
//! `HEAD` too, with the same headers and no body.
//!
//! Each operation is registered with what it asks of its caller ([`Access`]): the check runs on
//! the resource the router matched (`wire::auth::require`), and the OpenAPI documents' `security`
//! is written from the same list ([`Routes::mounted`]).

use crate::wire::auth::{self, Access, ResourceAccess};
use crate::wire::problems;
use actix_web::http::Method;
use actix_web::middleware::from_fn;
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder, web};
use sluice_domain::api_key::Scope;
use std::sync::Arc;

use crate::ApiError;

/// Where a version's endpoints are mounted, keeping the list of what was mounted: the check
/// that each version's OpenAPI document describes exactly the operations served reads it.
pub struct Routes<'a> {
    cfg: &'a mut web::ServiceConfig,
    mounted: Vec<Operation>,
}

/// One mounted operation: its path as registered, its method, and what it needs.
#[derive(Debug, Clone)]
pub struct Operation {
    pub path: String,
    pub method: Method,
    pub access: Access,
}

impl<'a> Routes<'a> {
    pub fn new(cfg: &'a mut web::ServiceConfig) -> Self {
        Self {
            cfg,
            mounted: Vec::new(),
        }
    }

    /// Each operation mounted, in order (`HEAD` beside every `GET`).
    pub fn mounted(&self) -> &[Operation] {
        &self.mounted
    }
}

pub struct Endpoint {
    path: String,
    resource: Resource,
    allow: Vec<Method>,
    /// What every operation of the path needs, when not what its method does by default
    /// ([`Access::of_method`]).
    access: Option<Access>,
    /// What one method of the path needs, over `access` and the default.
    by_method: Vec<(Method, Access)>,
}

impl Endpoint {
    pub fn at(path: &str) -> Self {
        Self {
            path: path.to_owned(),
            resource: web::resource(path),
            allow: Vec::new(),
            access: None,
            by_method: Vec::new(),
        }
    }

    /// Every operation of the path needs `scope`, whatever its method.
    pub fn needs(mut self, scope: Scope) -> Self {
        self.access = Some(Access::Needs(scope));
        self
    }

    /// The operation of `method` needs `scope` (starting a flow needs `run` where listing them
    /// needs `read`).
    pub fn needs_on(mut self, method: Method, scope: Scope) -> Self {
        self.by_method.push((method, Access::Needs(scope)));
        self
    }

    /// Every operation of the path is open to all, with no key: health, documentation and each
    /// version's OpenAPI document, which keep rules of their own.
    pub fn open(mut self) -> Self {
        self.access = Some(Access::Open);
        self
    }

    pub fn get<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.resource = self
            .resource
            .route(web::get().to(handler.clone()))
            .route(web::head().to(handler));
        self.allow.extend([Method::GET, Method::HEAD]);
        self
    }

    pub fn post<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.resource = self.resource.route(web::post().to(handler));
        self.allow.push(Method::POST);
        self
    }

    pub fn delete<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.resource = self.resource.route(web::delete().to(handler));
        self.allow.push(Method::DELETE);
        self
    }

    pub fn patch<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.resource = self.resource.route(web::patch().to(handler));
        self.allow.push(Method::PATCH);
        self
    }

    pub fn register(self, routes: &mut Routes) {
        let operations: Vec<(Method, Access)> = (self.allow.iter())
            .map(|method| {
                // `HEAD` is `GET` without the body: it needs what `GET` needs.
                let asked = if *method == Method::HEAD {
                    &Method::GET
                } else {
                    method
                };
                let chosen = (self.by_method.iter())
                    .find(|(m, _)| m == asked)
                    .map(|(_, access)| *access);
                let access = chosen
                    .or(self.access)
                    .unwrap_or_else(|| Access::of_method(method));
                (method.clone(), access)
            })
            .collect();
        for (method, access) in &operations {
            routes.mounted.push(Operation {
                path: self.path.clone(),
                method: method.clone(),
                access: *access,
            });
        }
        let access = ResourceAccess(Arc::new(operations));
        let allow = self
            .allow
            .iter()
            .map(Method::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        routes.cfg.service(
            self.resource
                .default_service(web::to(move |req: HttpRequest| {
                    let allow = allow.clone();
                    async move { method_not_allowed(&req, &allow) }
                }))
                // Runs once routed: the operation is the one the router chose, however the
                // request spelled its path.
                .wrap(from_fn(move |req, next| {
                    auth::require(access.clone(), req, next)
                })),
        );
    }
}

fn method_not_allowed(req: &HttpRequest, allow: &str) -> HttpResponse {
    let mut response = actix_web::ResponseError::error_response(&ApiError::new(
        problems::METHOD_NOT_ALLOWED,
        format!("{} takes {allow}, not {}", req.path(), req.method()),
    ));
    if let Ok(value) = allow.parse() {
        response
            .headers_mut()
            .insert(actix_web::http::header::ALLOW, value);
    }
    response
}
