//! `/docs`: Swagger UI over both versions' documents. Its files are inside the binary (the
//! `vendored` Swagger UI of utoipa-swagger-ui), so the page works with no network at build or
//! run time.

use actix_web::http::header::{CACHE_CONTROL, LOCATION};
use actix_web::{HttpResponse, web};
use std::sync::{Arc, LazyLock};
use utoipa_swagger_ui::{Config, Url};

use crate::ApiError;

/// The page's settings: both documents, the newest version first.
fn config() -> Arc<Config<'static>> {
    static CONFIG: LazyLock<Arc<Config<'static>>> = LazyLock::new(|| {
        Arc::new(Config::new([
            Url::new("/v2", "/v2/openapi.json"),
            Url::new("/v1", "/v1/openapi.json"),
        ]))
    });
    CONFIG.clone()
}

/// `GET /docs`: the page lives at `/docs/`, where its relative asset paths resolve.
pub async fn docs_root() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((LOCATION, "/docs/"))
        .finish()
}

/// `GET /docs/{file}`: the page and its assets.
pub async fn docs_page(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let file = file.into_inner();
    let found = utoipa_swagger_ui::serve(&file, config()).map_err(|err| {
        ApiError::from(sluice_domain::Error::Internal(format!(
            "the docs page could not be made: {err}"
        )))
    })?;
    let Some(found) = found else {
        return Err(ApiError::not_found(format!("/docs/{file} does not exist")));
    };
    let mut response = HttpResponse::Ok();
    response
        .content_type(found.content_type)
        .insert_header((CACHE_CONTROL, "no-cache"));
    if found.gzpipped {
        response.insert_header(actix_web::http::header::ContentEncoding::Gzip);
    }
    Ok(response.body(found.bytes.into_owned()))
}
