use actix_web::{HttpResponse, web};
use sluice_domain::flow_input::FlowInputId;

use super::dto::{CreateFlowInput, FlowInputDto};
use crate::extract::from_json;
use crate::wire::strict_json::UniqueKeys;
use crate::{ApiError, ApiState};

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
