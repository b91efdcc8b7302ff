//! `/v2/configuration/{collection}…`: where a collection's data comes from and the rules its
//! pipeline applies, with snake_case keys and empty cells `null`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use sluice_domain::metadata::{ConfigurationTable, RuleKind};
use utoipa::{IntoParams, ToSchema};

use super::schemas::MetadataRecord;
use super::typed::object;
use super::{LIMIT_RULE, respond};
use crate::openapi::words;
use crate::wire::cursor::{ListPage, offset_page};
use crate::wire::extract::from_repeated_query;
use crate::{ApiError, ApiState};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CollectionPath {
    /// The collection.
    #[param(schema_with = words::collection_name, example = "conservation-area")]
    collection: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TablePath {
    /// The collection.
    #[param(schema_with = words::collection_name, example = "conservation-area")]
    collection: String,
    /// `endpoints` or `sources`: where the data comes from.
    #[param(schema_with = words::origin_tables)]
    table: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RulesPath {
    /// The collection.
    #[param(schema_with = words::collection_name, example = "conservation-area")]
    collection: String,
    /// The kind of rule.
    #[param(schema_with = words::rule_kinds)]
    kind: String,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// How many rows, 1 to 1000 (50 when left out).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

/// How many rows each configured table of the collection holds.
#[utoipa::path(
    get,
    path = "/v2/configuration/{collection}",
    tag = "metadata",
    operation_id = "getConfigurationOverview",
    params(CollectionPath),
    responses((status = 200, description = "How many rows each configured table holds", body = OverviewDto))
)]
pub async fn overview(
    state: web::Data<ApiState>,
    path: web::Path<CollectionPath>,
) -> Result<HttpResponse, ApiError> {
    let overview = state
        .metadata
        .configuration_overview(&path.collection)
        .await?;
    // Rule kinds are values (the path's `{kind}`), so they are listed, not made keys.
    let mut body = OverviewDto {
        collection: overview.collection.as_str().to_owned(),
        endpoints: 0,
        sources: 0,
        rules: Vec::new(),
    };
    for (table, rows) in overview.tables {
        match table {
            ConfigurationTable::Endpoints => body.endpoints = rows,
            ConfigurationTable::Sources => body.sources = rows,
            ConfigurationTable::Rules(kind) => body.rules.push(RuleCountDto {
                kind: kind.name(),
                rows,
            }),
        }
    }
    Ok(HttpResponse::Ok().json(body))
}

/// How many rows each configured table of a collection holds.
#[derive(Serialize, ToSchema)]
#[schema(as = ConfigurationOverview)]
pub(super) struct OverviewDto {
    #[schema(schema_with = words::collection_name)]
    collection: String,
    /// Rows of `endpoints`.
    endpoints: u64,
    /// Rows of `sources`.
    sources: u64,
    /// Each rule kind configured, with its rows.
    rules: Vec<RuleCountDto>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = RuleCount)]
struct RuleCountDto {
    #[schema(schema_with = words::rule_kinds)]
    kind: &'static str,
    rows: u64,
}

async fn table(
    req: &HttpRequest,
    state: &ApiState,
    collection: &str,
    table: ConfigurationTable,
) -> Result<HttpResponse, ApiError> {
    let params: PageParams = from_repeated_query(req.query_string(), LIMIT_RULE)?;
    let page = offset_page(params.limit, params.cursor.as_deref())?;
    let rows = state
        .metadata
        .configuration(collection, table, page)
        .await?;
    let items = rows
        .items
        .into_iter()
        .map(|row| Json::Object(object(row, &[])))
        .collect();
    Ok(respond(req, ListPage::at_offset(items, page, rows.total)))
}

/// `endpoints` or `sources`: where the collection's data comes from.
#[utoipa::path(
    get,
    path = "/v2/configuration/{collection}/{table}",
    tag = "metadata",
    operation_id = "listConfigurationOrigin",
    params(TablePath, PageParams),
    responses(
        (status = 200, description = "A page of the table's rows", body = ListPage<MetadataRecord>,
         headers(("Link" = String, description = "`<…>; rel=\"next\"`: the next page, when there is one"))),
    )
)]
pub async fn origin(
    req: HttpRequest,
    state: web::Data<ApiState>,
    path: web::Path<TablePath>,
) -> Result<HttpResponse, ApiError> {
    let which = match path.table.as_str() {
        "endpoints" => ConfigurationTable::Endpoints,
        "sources" => ConfigurationTable::Sources,
        name => {
            return Err(ApiError::not_found(format!(
                "there is no configuration table {name}"
            )));
        }
    };
    table(&req, &state, &path.collection, which).await
}

/// One kind of the collection's pipeline rules.
#[utoipa::path(
    get,
    path = "/v2/configuration/{collection}/rules/{kind}",
    tag = "metadata",
    operation_id = "listConfigurationRules",
    params(RulesPath, PageParams),
    responses(
        (status = 200, description = "A page of the rules", body = ListPage<MetadataRecord>,
         headers(("Link" = String, description = "`<…>; rel=\"next\"`: the next page, when there is one"))),
    )
)]
pub async fn rules(
    req: HttpRequest,
    state: web::Data<ApiState>,
    path: web::Path<RulesPath>,
) -> Result<HttpResponse, ApiError> {
    let kind = RuleKind::parse(&path.kind).ok_or_else(|| {
        let known: Vec<_> = RuleKind::ALL.iter().map(|k| k.name()).collect();
        ApiError::not_found(format!(
            "there are no {} rules; the kinds are {}",
            path.kind,
            known.join(", ")
        ))
    })?;
    table(
        &req,
        &state,
        &path.collection,
        ConfigurationTable::Rules(kind),
    )
    .await
}
