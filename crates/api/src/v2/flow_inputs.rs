//! `/v2/flow-inputs`: named inputs whose versions never change once made. Stores are named, not
//! numbered; `orders-report:2` is version 2 of `orders-report`.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sluice_domain::data_store::DataStoreId;
use sluice_domain::described_input::{
    DescribedFlowInput, DescribedOutput, DescribedSource, DescribedTransform, StoreRef,
};
use sluice_domain::flow_input::{
    ExecutionEngine, FlowInput, FlowInputName, FlowInputRef, FlowInputSummary, FlowInputVersion,
};
use std::collections::HashMap;

use utoipa::{IntoParams, ToSchema};

use crate::openapi::words;
use crate::wire::cursor::{CreatedPage, ListPage};
use crate::wire::extract::from_json;
use crate::wire::strict_json::UniqueKeys;
use crate::{ApiError, ApiState};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateFlowInput {
    /// A letter, then letters, digits, `_`, `-` and `.`; versions are addressed as
    /// `name:version`.
    #[schema(schema_with = words::flow_input_name)]
    name: String,
    // The definition's fields, written out rather than flattened: a document can then say that
    // no other field is taken.
    sources: Vec<SourceDto>,
    transforms: Vec<TransformDto>,
    outputs: Vec<OutputDto>,
    /// The store the outputs are written to.
    target: String,
    /// How many times a flow may run before it stays FAILED: 1 (no retry, the default) to 10.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 10, default = 1, nullable = false)]
    max_attempts: Option<u32>,
    /// What runs the transforms (`local` by default).
    #[serde(default)]
    #[schema(nullable = false)]
    engine: Option<EngineDto>,
}

impl CreateFlowInput {
    fn split(self) -> (String, DefinitionDto) {
        let definition = DefinitionDto {
            sources: self.sources,
            transforms: self.transforms,
            outputs: self.outputs,
            target: self.target,
            max_attempts: self.max_attempts,
            engine: self.engine,
        };
        (self.name, definition)
    }
}

/// What a version holds: sources read into tables, SQL transforms over them (each a table the
/// next may read), the outputs written, and the store they are written to.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = FlowInputDefinition)]
struct DefinitionDto {
    sources: Vec<SourceDto>,
    transforms: Vec<TransformDto>,
    outputs: Vec<OutputDto>,
    /// The store the outputs are written to.
    target: String,
    /// How many times a flow may run before it stays FAILED: 1 (no retry, the default) to 10.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 10, default = 1, nullable = false)]
    max_attempts: Option<u32>,
    /// What runs the transforms (`local` by default).
    #[serde(default)]
    #[schema(nullable = false)]
    engine: Option<EngineDto>,
}

/// A source: a table or a query of a relational store, a table of a columnar store, or a file
/// store's file (neither `table` nor `query`).
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Source)]
struct SourceDto {
    /// The store's name.
    data_store: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    table: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    query: Option<String>,
    /// The table name the transforms' SQL reads this source by.
    #[schema(schema_with = words::table_name)]
    alias: String,
}

/// A SQL transform: its result is a table named `name`.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Transform)]
struct TransformDto {
    #[schema(schema_with = words::table_name)]
    name: String,
    sql: String,
}

/// A transform's result written to the target store.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Output)]
struct OutputDto {
    #[schema(schema_with = words::table_name)]
    transform: String,
    /// The table written in a relational or columnar target; a file target, written whole,
    /// takes none.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = words::table_name_or_null)]
    table: Option<String>,
    /// `replace` (the default) or `append`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = words::write_modes)]
    mode: Option<String>,
}

/// What runs a flow's transforms: `local`, Sluice's own engine (pushing transforms down to the
/// database holding their sources where it can), or `ballista`, the Ballista cluster this
/// service is configured with, whose executors read the sources (file and columnar stores only)
/// and run the transforms while Sluice writes the outputs.
#[derive(Deserialize, Serialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
#[schema(as = FlowEngine)]
enum EngineDto {
    Local,
    Ballista,
}

impl From<ExecutionEngine> for EngineDto {
    fn from(kind: ExecutionEngine) -> Self {
        match kind {
            ExecutionEngine::Local => Self::Local,
            ExecutionEngine::Ballista => Self::Ballista,
        }
    }
}

impl From<EngineDto> for ExecutionEngine {
    fn from(dto: EngineDto) -> Self {
        match dto {
            EngineDto::Local => Self::Local,
            EngineDto::Ballista => Self::Ballista,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = FlowInput)]
struct FlowInputDto {
    /// `name:version`.
    id: String,
    name: String,
    version: u32,
    sources: Vec<SourceDto>,
    transforms: Vec<TransformDto>,
    outputs: Vec<OutputDto>,
    /// The store the outputs are written to.
    target: String,
    /// How many times a flow may run before it stays FAILED, 1 to 10 as on input.
    #[schema(minimum = 1, maximum = 10)]
    max_attempts: u32,
    /// What runs the transforms.
    engine: EngineDto,
    created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    versions: Option<Vec<VersionDto>>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = FlowInputVersion)]
struct VersionDto {
    version: u32,
    created_at: DateTime<Utc>,
}

impl From<&FlowInputVersion> for VersionDto {
    fn from(v: &FlowInputVersion) -> Self {
        Self {
            version: v.version,
            created_at: v.created_utc,
        }
    }
}

/// Store names by id, for showing an input.
async fn store_names(
    state: &ApiState,
    input: &FlowInput,
) -> Result<HashMap<DataStoreId, String>, ApiError> {
    let mut names = HashMap::new();
    for id in input
        .source_stores()
        .iter()
        .chain([&input.target_data_store_id])
    {
        if !names.contains_key(id) {
            let store = state.data_stores.get(*id).await?;
            names.insert(*id, store.name.to_string());
        }
    }
    Ok(names)
}

async fn to_dto(
    state: &ApiState,
    input: &FlowInput,
    versions: Option<&[FlowInputVersion]>,
) -> Result<FlowInputDto, ApiError> {
    let names = store_names(state, input).await?;
    let name_of = |id: &DataStoreId| names.get(id).cloned().unwrap_or_default();
    let definition = DefinitionDto {
        sources: input
            .sources
            .iter()
            .map(|s| {
                let (table, query) = s.read.table_and_query();
                SourceDto {
                    data_store: name_of(&s.data_store_id),
                    table,
                    query,
                    alias: s.alias.to_string(),
                }
            })
            .collect(),
        transforms: input
            .transforms
            .iter()
            .map(|t| TransformDto {
                name: t.name.to_string(),
                sql: t.sql.clone(),
            })
            .collect(),
        outputs: input
            .outputs
            .iter()
            .map(|o| OutputDto {
                transform: o.transform.to_string(),
                table: o.table.as_ref().map(ToString::to_string),
                mode: Some(o.mode.as_str().into()),
            })
            .collect(),
        target: name_of(&input.target_data_store_id),
        max_attempts: Some(input.max_attempts),
        engine: Some(input.engine.into()),
    };
    Ok(FlowInputDto {
        id: input.public_id(),
        name: input.name.to_string(),
        version: input.version,
        sources: definition.sources,
        transforms: definition.transforms,
        outputs: definition.outputs,
        target: definition.target,
        max_attempts: input.max_attempts,
        engine: input.engine.into(),
        created_at: input.created_utc,
        versions: versions.map(|v| v.iter().map(VersionDto::from).collect()),
    })
}

impl DefinitionDto {
    /// The input as the domain reads it: stores by name, the optional fields as given.
    fn into_described(self, name: Option<FlowInputName>) -> DescribedFlowInput {
        DescribedFlowInput {
            name,
            source_stores: None,
            sources: self
                .sources
                .into_iter()
                .map(|s| DescribedSource {
                    store: StoreRef::Name(s.data_store),
                    table: s.table,
                    query: s.query,
                    alias: s.alias,
                })
                .collect(),
            transforms: self
                .transforms
                .into_iter()
                .map(|t| DescribedTransform {
                    name: t.name,
                    sql: t.sql,
                })
                .collect(),
            outputs: self
                .outputs
                .into_iter()
                .map(|o| DescribedOutput {
                    transform: o.transform,
                    table: o.table,
                    mode: o.mode,
                })
                .collect(),
            target: StoreRef::Name(self.target),
            max_attempts: self.max_attempts,
            engine: self.engine.map(Into::into),
        }
    }
}

fn input_name(raw: &str) -> Result<FlowInputName, ApiError> {
    FlowInputName::stored(raw)
        .map_err(|_| ApiError::not_found(format!("flow input {raw} does not exist")))
}

fn location(input: &FlowInput) -> String {
    format!("/v2/flow-inputs/{}/versions/{}", input.name, input.version)
}

/// Creates a flow input: version 1 of a new name.
#[utoipa::path(
    post,
    path = "/v2/flow-inputs",
    tag = "flow inputs",
    operation_id = "createFlowInput",
    request_body = CreateFlowInput,
    responses(
        (status = 201, description = "Version 1", body = FlowInputDto,
         headers(("Location" = String, description = "The version's address"))),
        (status = 409, description = "A flow input already has this name"),
    )
)]
pub async fn create(
    state: web::Data<ApiState>,
    body: web::Json<UniqueKeys>,
) -> Result<HttpResponse, ApiError> {
    let request = from_json::<CreateFlowInput>(body.into_inner().0)?;
    let (name, definition) = request.split();
    let name = FlowInputName::parse(&name).map_err(|m| ApiError::invalid_field("/name", m))?;
    let new = state
        .flow_inputs
        .describe(definition.into_described(Some(name)))
        .await?;
    let input = state.flow_inputs.create(new).await?;
    let dto = to_dto(&state, &input, None).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", location(&input)))
        .json(dto))
}

/// Adds the next version of a flow input; earlier versions stay as they were.
#[utoipa::path(
    post,
    path = "/v2/flow-inputs/{name}/versions",
    tag = "flow inputs",
    operation_id = "addFlowInputVersion",
    params(("name" = String, Path, description = "The flow input's name", example = "orders-report")),
    request_body = DefinitionDto,
    responses(
        (status = 201, description = "The new version", body = FlowInputDto,
         headers(("Location" = String, description = "The version's address"))),
    )
)]
pub async fn add_version(
    state: web::Data<ApiState>,
    name: web::Path<String>,
    body: web::Json<UniqueKeys>,
) -> Result<HttpResponse, ApiError> {
    let name = input_name(&name)?;
    let definition = from_json::<DefinitionDto>(body.into_inner().0)?;
    let new = state
        .flow_inputs
        .describe(definition.into_described(Some(name.clone())))
        .await?;
    let input = state.flow_inputs.add_version(&name, new).await?;
    let dto = to_dto(&state, &input, None).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", location(&input)))
        .json(dto))
}

/// The latest version of a flow input, with the list of every version.
#[utoipa::path(
    get,
    path = "/v2/flow-inputs/{name}",
    tag = "flow inputs",
    operation_id = "getFlowInput",
    params(("name" = String, Path, description = "The flow input's name", example = "orders-report")),
    responses((status = 200, description = "The latest version", body = FlowInputDto))
)]
pub async fn get(
    state: web::Data<ApiState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = input_name(&name)?;
    let versions = state.flow_inputs.versions(&name).await?;
    let input = state
        .flow_inputs
        .find(&FlowInputRef {
            name,
            version: None,
        })
        .await?;
    Ok(HttpResponse::Ok().json(to_dto(&state, &input, Some(&versions)).await?))
}

/// A flow input as the list shows it: its name, its latest version and how many it has.
#[derive(Serialize, ToSchema)]
#[schema(as = FlowInputSummary)]
struct SummaryDto {
    name: String,
    /// The version a start without one runs.
    latest_version: u32,
    versions: u32,
    /// When version 1 was made.
    created_at: DateTime<Utc>,
    /// When the latest version was made.
    updated_at: DateTime<Utc>,
}

impl From<&FlowInputSummary> for SummaryDto {
    fn from(summary: &FlowInputSummary) -> Self {
        Self {
            name: summary.name.to_string(),
            latest_version: summary.latest_version,
            versions: summary.versions,
            created_at: summary.created_utc,
            updated_at: summary.updated_utc,
        }
    }
}

/// The longest `name_prefix` taken: longer than any name.
const MAX_PREFIX_LEN: usize = 128;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only the inputs whose names start with this (case counts).
    #[param(max_length = 128, pattern = r"^[A-Za-z0-9_.\-]*$", example = "orders")]
    name_prefix: Option<String>,
    /// `created_at` (the default: when each name was first used) or `-created_at` (the newest
    /// name first).
    #[param(schema_with = words::created_orders)]
    order_by: Option<String>,
    /// `true` adds `total`, how many inputs the prefix admits, to the page.
    count: Option<bool>,
    /// How many items, 1 to 1000 (50 when left out).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

/// The flow inputs, in the order their names were first used: each name's latest version and
/// how many versions it has (read a version at its own address).
#[utoipa::path(
    get,
    path = "/v2/flow-inputs",
    tag = "flow inputs",
    operation_id = "listFlowInputs",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of flow inputs", body = ListPage<SummaryDto>,
         headers(("Link" = String, description = "`<…>; rel=\"next\"`: the next page, when there is one"))),
    )
)]
pub async fn list(
    req: HttpRequest,
    state: web::Data<ApiState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let prefix = query.name_prefix.as_deref().unwrap_or_default();
    let name_character = |c: char| c.is_ascii_alphanumeric() || "_.-".contains(c);
    if prefix.len() > MAX_PREFIX_LEN || !prefix.chars().all(name_character) {
        return Err(ApiError::invalid_field(
            "/name_prefix",
            "must be at most 128 letters, digits, `_`, `-` and `.`",
        ));
    }
    let page = CreatedPage::parse(
        query.limit,
        query.cursor.as_deref(),
        query.order_by.as_deref(),
    )?;
    let inputs = state.flow_inputs.list(prefix, page.page).await?;
    let total = match query.count {
        Some(true) => Some(state.flow_inputs.count(prefix).await?),
        _ => None,
    };
    let list = page.list(inputs, |s| s.first_id.0, |s| SummaryDto::from(s));
    Ok(list.with_total(total).respond(&req))
}

#[derive(Serialize, ToSchema)]
#[schema(as = FlowInputVersionList)]
struct VersionList {
    items: Vec<VersionDto>,
}

/// Every version of a flow input, oldest first.
#[utoipa::path(
    get,
    path = "/v2/flow-inputs/{name}/versions",
    tag = "flow inputs",
    operation_id = "listFlowInputVersions",
    params(("name" = String, Path, description = "The flow input's name", example = "orders-report")),
    responses((status = 200, description = "Its versions", body = VersionList))
)]
pub async fn list_versions(
    state: web::Data<ApiState>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let versions = state.flow_inputs.versions(&input_name(&name)?).await?;
    Ok(HttpResponse::Ok().json(VersionList {
        items: versions.iter().map(VersionDto::from).collect(),
    }))
}

/// One version of a flow input.
#[utoipa::path(
    get,
    path = "/v2/flow-inputs/{name}/versions/{version}",
    tag = "flow inputs",
    operation_id = "getFlowInputVersion",
    params(
        ("name" = String, Path, description = "The flow input's name", example = "orders-report"),
        ("version" = u32, Path, description = "The version, from 1", example = 1),
    ),
    responses((status = 200, description = "The version", body = FlowInputDto))
)]
pub async fn get_version(
    state: web::Data<ApiState>,
    path: web::Path<(String, u32)>,
) -> Result<HttpResponse, ApiError> {
    let (name, version) = path.into_inner();
    let input = state
        .flow_inputs
        .find(&FlowInputRef {
            name: input_name(&name)?,
            version: Some(version),
        })
        .await?;
    Ok(HttpResponse::Ok().json(to_dto(&state, &input, None).await?))
}
