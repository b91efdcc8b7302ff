//! Each version's names for the domain's fields: the domain locates an invalid field by its own
//! names (`sources/0/alias`), and the scope of the version that answers renames them into its
//! JSON pointer (`/sources/0/as` on `/v1`), so a renamed field in one version cannot move another
//! version's pointers.

use actix_web::Error;
use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use crate::ApiError;
use crate::wire::error::WireNames;

/// The middleware for a version's scope
/// (`scope.wrap(from_fn(|req, next| rename_fields(v1::wire_name, req, next)))`).
///
/// # Errors
/// What the wrapped service fails with.
pub async fn rename_fields(
    names: WireNames,
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let res = next.call(req).await?;
    let renamed = match res
        .response()
        .error()
        .and_then(|e| e.as_error::<ApiError>())
    {
        Some(error) if error.names_domain_fields() => error.render(names),
        _ => return Ok(res),
    };
    Ok(res.into_response(renamed))
}
