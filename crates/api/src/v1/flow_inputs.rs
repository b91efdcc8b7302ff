//! `/v1` flow inputs: the handlers, then what goes over the wire.

use actix_web::{HttpResponse, web};
use sluice_domain::flow_input::FlowInputId;

use super::utc;
use crate::wire::extract::from_json;
use crate::wire::strict_json::UniqueKeys;
use crate::{ApiError, ApiState};
use serde::{Deserialize, Serialize};
use sluice_domain::data_store::DataStoreId;
use sluice_domain::described_input::{
    DescribedFlowInput, DescribedOutput, DescribedSource, DescribedTransform, StoreRef,
};
use sluice_domain::flow_input::FlowInput;

use utoipa::ToSchema;

use crate::openapi::words;

/// Creates a flow input.
#[utoipa::path(
    post,
    path = "/v1/flow-inputs",
    tag = "flow inputs",
    operation_id = "createFlowInput",
    request_body = CreateFlowInput,
    responses(
        (status = 201, description = "The flow input", body = FlowInputDto,
         headers(("Location" = String, description = "The flow input's address"))),
    )
)]
pub async fn create(
    state: web::Data<ApiState>,
    body: web::Json<UniqueKeys>,
) -> Result<HttpResponse, ApiError> {
    let described = from_json::<CreateFlowInput>(body.into_inner().0)?.into_described();
    let new = state.flow_inputs.describe(described).await?;
    let input = state.flow_inputs.create(new).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/flow-inputs/{}", input.id)))
        .json(FlowInputDto::from(&input)))
}

/// One flow input.
#[utoipa::path(
    get,
    path = "/v1/flow-inputs/{id}",
    tag = "flow inputs",
    operation_id = "getFlowInput",
    params(("id" = i64, Path, description = "The flow input's id", example = 1)),
    responses((status = 200, description = "The flow input", body = FlowInputDto))
)]
pub async fn get(state: web::Data<ApiState>, id: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let input = state.flow_inputs.get(FlowInputId(id.into_inner())).await?;
    Ok(HttpResponse::Ok().json(FlowInputDto::from(&input)))
}

// ---- the wire format of flow inputs

/// What a flow does: sources read into tables, SQL transforms over them, the outputs written to
/// the target store.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFlowInput {
    source_data_store_ids: Vec<i64>,
    target_data_store_id: i64,
    sources: Vec<SourceDto>,
    transforms: Vec<TransformDto>,
    outputs: Vec<OutputDto>,
}

/// A source: a table or a query of a relational store, a table of a columnar store, or a file
/// store's file (neither `table` nor `query`).
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Source)]
struct SourceDto {
    data_store_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    table: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    query: Option<String>,
    /// The table name the transforms' SQL reads this source by.
    #[serde(rename = "as")]
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
    #[serde(default = "replace")]
    #[schema(schema_with = words::write_modes)]
    mode: String,
}

fn replace() -> String {
    sluice_domain::described_input::DEFAULT_MODE.as_str().into()
}

impl CreateFlowInput {
    /// The input as the domain reads it; `/v1` keeps its shape: stores by id, one attempt, the
    /// local engine.
    pub fn into_described(self) -> DescribedFlowInput {
        DescribedFlowInput {
            name: None,
            source_stores: Some(
                self.source_data_store_ids
                    .into_iter()
                    .map(|id| StoreRef::Id(DataStoreId(id)))
                    .collect(),
            ),
            sources: self
                .sources
                .into_iter()
                .map(|s| DescribedSource {
                    store: StoreRef::Id(DataStoreId(s.data_store_id)),
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
                    mode: Some(o.mode),
                })
                .collect(),
            target: StoreRef::Id(DataStoreId(self.target_data_store_id)),
            max_attempts: None,
            engine: None,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = FlowInput)]
pub struct FlowInputDto {
    id: i64,
    /// The stores the sources read, each once.
    source_data_store_ids: Vec<i64>,
    target_data_store_id: i64,
    sources: Vec<SourceDto>,
    transforms: Vec<TransformDto>,
    outputs: Vec<OutputDto>,
    #[schema(format = DateTime)]
    created_utc: String,
}

impl From<&FlowInput> for FlowInputDto {
    fn from(input: &FlowInput) -> Self {
        Self {
            id: input.id.0,
            source_data_store_ids: input.source_stores().iter().map(|id| id.0).collect(),
            target_data_store_id: input.target_data_store_id.0,
            sources: input
                .sources
                .iter()
                .map(|s| {
                    let (table, query) = s.read.table_and_query();
                    SourceDto {
                        data_store_id: s.data_store_id.0,
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
                    mode: o.mode.as_str().into(),
                })
                .collect(),
            created_utc: utc(input.created_utc),
        }
    }
}
