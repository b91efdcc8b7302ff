//! `GET /v1/log/issue` and `GET /v1/performance/issues`.

use actix_web::{HttpResponse, web};
use serde_json::{Map, Value as Json, json};
use sluice_domain::metadata::{IssueCount, IssueRow};

use super::dto::{IssueCountParams, IssueParams, issue_filters, page, paged_response};
use crate::{ApiError, ApiState};

/// The groups counted when the client names none.
const DEFAULT_GROUP_BY: &str = "issue-type";

/// One page of a dataset's issues, in the order dataset, resource, line-number, entry-number,
/// field, issue-type, value, message.
#[utoipa::path(
    get,
    path = "/v1/log/issue",
    tag = "metadata",
    operation_id = "listIssues",
    params(IssueParams),
    responses(
        (status = 200, description = "Rows keyed `dataset`, `resource`, `line-number`, `entry-number`, `field`, `issue-type`, `value`, `message`",
         body = Vec<serde_json::Value>),
    )
)]
pub async fn issue_page(
    state: web::Data<ApiState>,
    params: web::Query<IssueParams>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    // Consumers of the original service rely on a 400, not a 422, for the missing dataset.
    if params.dataset.is_none() {
        return Err(ApiError::missing_parameter("dataset"));
    }
    let page = page(params.limit, params.offset)?;
    let filters = issue_filters(
        params.dataset,
        params.resource,
        params.field,
        params.issue_type,
    )?;
    let issues = state.metadata.issues(filters, page).await?;
    Ok(paged_response(issues, page, issue_json))
}

fn issue_json(row: IssueRow) -> Json {
    json!({
        "dataset": row.dataset,
        "resource": row.resource,
        "line-number": row.line_number,
        "entry-number": row.entry_number,
        "field": row.field,
        "issue-type": row.issue_type,
        "value": row.value,
        "message": row.message,
    })
}

/// Issue counts grouped on the fly, largest first.
#[utoipa::path(
    get,
    path = "/v1/performance/issues",
    tag = "metadata",
    operation_id = "countIssues",
    params(IssueCountParams),
    responses(
        (status = 200, description = "One row per group: the grouped columns and `count`",
         body = Vec<serde_json::Value>),
    )
)]
pub async fn counts(
    state: web::Data<ApiState>,
    params: web::Query<IssueCountParams>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let page = page(params.limit, params.offset)?;
    let group_by = params
        .group_by
        .unwrap_or_else(|| DEFAULT_GROUP_BY.to_owned());
    let filters = issue_filters(
        params.dataset,
        params.resource,
        params.field,
        params.issue_type,
    )?;
    let counts = state
        .metadata
        .issue_counts(&group_by, filters, page)
        .await?;
    Ok(paged_response(counts, page, |group: IssueCount| {
        let mut object = Map::new();
        for (column, key) in group.key {
            object.insert(column.archive_name().to_owned(), Json::from(key));
        }
        object.insert("count".to_owned(), Json::from(group.count));
        Json::Object(object)
    }))
}
