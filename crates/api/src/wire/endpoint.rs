//! One path and the methods it takes. Any other method gets 405 with an `Allow` header (as
//! RFC 9110 asks) rather than the 404 of a path that does not exist, and every `GET` answers
//! `HEAD` too, with the same headers and no body.

use crate::wire::problems;
use actix_web::http::Method;
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder, web};

use crate::ApiError;

/// Where a version's endpoints are mounted, keeping the list of what was mounted: the check
/// that each version's OpenAPI document describes exactly the operations served reads it.
pub struct Routes<'a> {
    cfg: &'a mut web::ServiceConfig,
    mounted: Vec<(String, Method)>,
}

impl<'a> Routes<'a> {
    pub fn new(cfg: &'a mut web::ServiceConfig) -> Self {
        Self {
            cfg,
            mounted: Vec::new(),
        }
    }

    /// Each path and method mounted, in order (`HEAD` beside every `GET`).
    pub fn mounted(&self) -> &[(String, Method)] {
        &self.mounted
    }
}

pub struct Endpoint {
    path: String,
    resource: Resource,
    allow: Vec<Method>,
}

impl Endpoint {
    pub fn at(path: &str) -> Self {
        Self {
            path: path.to_owned(),
            resource: web::resource(path),
            allow: Vec::new(),
        }
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
        for method in &self.allow {
            routes.mounted.push((self.path.clone(), method.clone()));
        }
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
