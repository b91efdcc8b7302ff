//! `GET /v1/configuration/{collection}` and its tables: where a collection's data comes from and
//! the rules its pipeline applies.

use actix_web::{HttpResponse, web};
use serde_json::{Map, Value as Json, json};
use sluice_domain::metadata::{ConfigurationTable, RuleKind};

use super::dto::{PageParams, object_of, page, paged_response};
use crate::openapi::words;
use crate::{ApiError, ApiState};

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CollectionPath {
    /// The collection.
    #[param(schema_with = words::collection_name, example = "conservation-area")]
    collection: String,
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OriginPath {
    /// The collection.
    #[param(schema_with = words::collection_name, example = "conservation-area")]
    collection: String,
    /// Where the collection's data comes from.
    #[param(schema_with = words::origin_tables)]
    table: String,
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RulesPath {
    /// The collection.
    #[param(schema_with = words::collection_name, example = "conservation-area")]
    collection: String,
    /// The kind of rule.
    #[param(schema_with = words::rule_kinds)]
    kind: String,
}

/// How many rows each configured table of the collection holds.
#[utoipa::path(
    get,
    path = "/v1/configuration/{collection}",
    tag = "metadata",
    operation_id = "getConfigurationOverview",
    params(CollectionPath),
    responses((status = 200, description = "`collection`, `endpoints`, `sources` and `rules` (rows per kind)", body = serde_json::Value))
)]
pub async fn overview(
    state: web::Data<ApiState>,
    path: web::Path<CollectionPath>,
) -> Result<HttpResponse, ApiError> {
    let overview = state
        .metadata
        .configuration_overview(&path.collection)
        .await?;
    let mut rules = Map::new();
    let mut body = json!({"collection": overview.collection.as_str()});
    for (table, rows) in overview.tables {
        match table {
            ConfigurationTable::Endpoints => body["endpoints"] = json!(rows),
            ConfigurationTable::Sources => body["sources"] = json!(rows),
            ConfigurationTable::Rules(kind) => {
                rules.insert(kind.name().to_owned(), json!(rows));
            }
        }
    }
    body["rules"] = Json::Object(rules);
    Ok(HttpResponse::Ok().json(body))
}

async fn table(
    state: web::Data<ApiState>,
    collection: &str,
    table: ConfigurationTable,
    params: PageParams,
) -> Result<HttpResponse, ApiError> {
    let page = page(params.limit, params.offset)?;
    let rows = state
        .metadata
        .configuration(collection, table, page)
        .await?;
    Ok(paged_response(rows, page, |row| {
        Json::Object(object_of(row))
    }))
}

/// `endpoints` or `sources`: where the collection's data comes from.
#[utoipa::path(
    get,
    path = "/v1/configuration/{collection}/{table}",
    tag = "metadata",
    operation_id = "listConfigurationOrigin",
    params(OriginPath, PageParams),
    responses(
        (status = 200, description = "Rows keyed by the archive's column names",
         body = Vec<serde_json::Value>),
    )
)]
pub async fn origin(
    state: web::Data<ApiState>,
    path: web::Path<OriginPath>,
    params: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let OriginPath {
        collection,
        table: name,
    } = path.into_inner();
    let which = match name.as_str() {
        "endpoints" => ConfigurationTable::Endpoints,
        "sources" => ConfigurationTable::Sources,
        _ => {
            return Err(ApiError::not_found(format!(
                "there is no configuration table {name}"
            )));
        }
    };
    table(state, &collection, which, params.into_inner()).await
}

/// One kind of the collection's pipeline rules.
#[utoipa::path(
    get,
    path = "/v1/configuration/{collection}/rules/{kind}",
    tag = "metadata",
    operation_id = "listConfigurationRules",
    params(RulesPath, PageParams),
    responses(
        (status = 200, description = "Rows keyed by the archive's column names",
         body = Vec<serde_json::Value>),
    )
)]
pub async fn rules(
    state: web::Data<ApiState>,
    path: web::Path<RulesPath>,
    params: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let RulesPath { collection, kind } = path.into_inner();
    let kind = RuleKind::parse(&kind).ok_or_else(|| {
        let known: Vec<_> = RuleKind::ALL.iter().map(|k| k.name()).collect();
        ApiError::not_found(format!(
            "there are no {kind} rules; the kinds are {}",
            known.join(", ")
        ))
    })?;
    table(
        state,
        &collection,
        ConfigurationTable::Rules(kind),
        params.into_inner(),
    )
    .await
}
