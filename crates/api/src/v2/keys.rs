//! `/v2/keys`: API keys, for holders of the `admin` scope. A key's text is shown once, in the
//! answer that creates it; it is stored only as a hash.

use crate::wire::error::FieldProblem;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sluice_domain::api_key::{ApiKey, ApiKeyName, Scope, Scopes};

use utoipa::ToSchema;

use crate::openapi::words;
use crate::wire::extract::from_json;
use crate::wire::strict_json::UniqueKeys;
use crate::{ApiError, ApiState};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    /// Letters, digits, `_`, `-` and `.`, unique among keys.
    #[schema(schema_with = words::resource_name)]
    name: String,
    /// At least one of `read`, `write`, `run`, `admin`.
    #[schema(schema_with = scope_list)]
    scopes: Vec<String>,
}

fn scope_list() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::Array::new(words::scope())
}

/// An API key as it is listed: never the key itself.
#[derive(Serialize, ToSchema)]
#[schema(as = ApiKey)]
struct KeyDto {
    name: String,
    #[schema(schema_with = scope_list)]
    scopes: Vec<&'static str>,
    /// The key's first characters, to tell keys apart.
    prefix: String,
    created_at: DateTime<Utc>,
}

impl From<&ApiKey> for KeyDto {
    fn from(key: &ApiKey) -> Self {
        Self {
            name: key.name.to_string(),
            scopes: key.scopes.iter().map(Scope::as_str).collect(),
            prefix: format!("sluice_{}", key.lookup),
            created_at: key.created_utc,
        }
    }
}

/// A new API key, with the key itself: shown in this answer only.
#[derive(Serialize, ToSchema)]
#[schema(as = CreatedApiKey)]
struct CreatedKeyDto {
    #[serde(flatten)]
    key: KeyDto,
    /// The key itself: shown here once, kept nowhere.
    #[serde(rename = "key")]
    secret: String,
}

/// Makes an API key.
///
/// The answer holds the key itself, once (`Cache-Control: no-store`); Sluice keeps only its
/// hash.
#[utoipa::path(
    post,
    path = "/v2/keys",
    tag = "keys",
    operation_id = "createApiKey",
    request_body = CreateKey,
    responses(
        (status = 201, description = "The key", body = CreatedKeyDto,
         headers(("Location" = String, description = "The key's address"))),
        (status = 409, description = "A key already has this name"),
    )
)]
pub async fn create(
    state: web::Data<ApiState>,
    body: web::Json<UniqueKeys>,
) -> Result<HttpResponse, ApiError> {
    let request = from_json::<CreateKey>(body.into_inner().0)?;
    let mut violations = Vec::new();
    let name = ApiKeyName::new_key(&request.name)
        .map_err(|message| violations.push(FieldProblem::new("/name", message)))
        .ok();
    let scopes = request
        .scopes
        .iter()
        .enumerate()
        .filter_map(|(i, raw)| {
            Scope::parse(raw)
                .map_err(|message| {
                    violations.push(FieldProblem::new(format!("/scopes/{i}"), message))
                })
                .ok()
        })
        .collect::<Vec<_>>();
    let scopes = Scopes::new(scopes)
        .map_err(|message| {
            if violations.is_empty() {
                violations.push(FieldProblem::new("/scopes", message));
            }
        })
        .ok();
    let (Some(name), Some(scopes), true) = (name, scopes, violations.is_empty()) else {
        return Err(ApiError::invalid_fields(violations));
    };
    let (key, secret) = state.api_keys.create(name, scopes).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v2/keys/{}", key.name)))
        .insert_header(("Cache-Control", "no-store"))
        .json(CreatedKeyDto {
            key: KeyDto::from(&key),
            secret: secret.expose_secret().to_owned(),
        }))
}

#[derive(Serialize, ToSchema)]
#[schema(as = ApiKeyList)]
struct KeyList {
    items: Vec<KeyDto>,
}

/// The API keys, by name.
#[utoipa::path(
    get,
    path = "/v2/keys",
    tag = "keys",
    operation_id = "listApiKeys",
    responses((status = 200, description = "Every key", body = KeyList))
)]
pub async fn list(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let keys = state.api_keys.list().await?;
    Ok(HttpResponse::Ok().json(KeyList {
        items: keys.iter().map(KeyDto::from).collect(),
    }))
}

/// The key this request came with: its name, scopes and prefix, never the key itself.
///
/// Any valid key may ask, whatever its scopes: a tool learns what it may do before it tries.
#[utoipa::path(
    get,
    path = "/v2/keys/current",
    tag = "keys",
    operation_id = "getCurrentApiKey",
    responses((status = 200, description = "The calling key", body = KeyDto))
)]
pub async fn current(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    // Where keys are not required, a request may come without one: it has no key to describe.
    let Some(key) = req.extensions().get::<ApiKey>().cloned() else {
        return Ok(crate::wire::auth::unauthenticated(
            "this request came without an API key: send one in Authorization: Bearer",
        ));
    };
    Ok(HttpResponse::Ok().json(KeyDto::from(&key)))
}

/// Revokes an API key.
///
/// It is refused from then on (within `auth.key_cache_secs` on other replicas).
#[utoipa::path(
    delete,
    path = "/v2/keys/{name}",
    tag = "keys",
    operation_id = "revokeApiKey",
    params(("name" = String, Path, description = "The key's name", example = "ci")),
    responses((status = 204, description = "The key is revoked"))
)]
pub async fn revoke(
    state: web::Data<ApiState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = ApiKeyName::parse(&name)
        .map_err(|_| ApiError::not_found(format!("API key {name} does not exist")))?;
    state.api_keys.revoke(&name).await?;
    Ok(HttpResponse::NoContent().finish())
}
