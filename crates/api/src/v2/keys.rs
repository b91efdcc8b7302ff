//! `/v2/keys`: API keys, for holders of the `admin` scope. A key's text is shown once, in the
//! answer that creates it; it is stored only as a hash.

use crate::error::FieldProblem;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sluice_domain::api_key::{ApiKey, ApiKeyName, Scope, Scopes};

use crate::extract::from_json;
use crate::wire::strict_json::UniqueKeys;
use crate::{ApiError, ApiState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    name: String,
    scopes: Vec<String>,
}

#[derive(Serialize)]
struct KeyDto {
    name: String,
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

#[derive(Serialize)]
struct CreatedKeyDto {
    #[serde(flatten)]
    key: KeyDto,
    /// The key itself: shown here once, kept nowhere.
    #[serde(rename = "key")]
    secret: String,
}

pub async fn create(
    state: web::Data<ApiState>,
    body: web::Json<UniqueKeys>,
) -> Result<HttpResponse, ApiError> {
    let request = from_json::<CreateKey>(body.into_inner().0)?;
    let mut violations = Vec::new();
    let name = ApiKeyName::parse(&request.name)
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

pub async fn list(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let keys = state.api_keys.list().await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "items": keys.iter().map(KeyDto::from).collect::<Vec<_>>(),
    })))
}

pub async fn revoke(
    state: web::Data<ApiState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = ApiKeyName::parse(&name)
        .map_err(|_| ApiError::not_found(format!("API key {name} does not exist")))?;
    state.api_keys.revoke(&name).await?;
    Ok(HttpResponse::NoContent().finish())
}
