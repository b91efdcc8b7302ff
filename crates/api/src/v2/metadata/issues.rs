//! `/v2/issues` and `/v2/issues/counts`: the issue log with typed values, repeatable filters, an
//! organisation filter (through the resources each organisation published) and cursor pages.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use sluice_domain::metadata::{
    CountOrder, FilterValue, IssueCount, IssueCountQuery, IssueFilters, IssueQuery, IssueRow,
};
use utoipa::{IntoParams, ToSchema};

use super::export::{ExportFormat, stream};
use super::schemas::{ExportBinary, ExportText, IssueCountGroup};
use super::typed::{snake, text};
use super::{LIMIT_RULE, respond, version_tag};
use crate::openapi::words;
use crate::wire::conditional::{is_current, not_modified, tagged};
use crate::wire::cursor::{ListPage, offset_page};
use crate::wire::extract::from_repeated_query;
use crate::{ApiError, ApiState};

/// The issue log's filters as the client gave them.
struct FilterLists {
    dataset: Vec<String>,
    resource: Vec<String>,
    field: Vec<String>,
    issue_type: Vec<String>,
    organisation: Vec<String>,
}

impl FilterLists {
    fn parse(self) -> Result<(IssueFilters, Vec<FilterValue>), ApiError> {
        let filters = IssueFilters {
            dataset: FilterValue::list("dataset", self.dataset)?,
            resource: FilterValue::list("resource", self.resource)?,
            field: FilterValue::list("field", self.field)?,
            issue_type: FilterValue::list("issue_type", self.issue_type)?,
        };
        Ok((
            filters,
            FilterValue::list("organisation", self.organisation)?,
        ))
    }
}

/// The issue log's filters; repeat a parameter to accept any of several values. (The filters are
/// written out here and in [`IssueCountParams`]: serde cannot flatten a shared struct into one
/// that refuses unknown parameters.)
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IssueListParams {
    /// Datasets whose issues are read: at least one.
    #[serde(default)]
    #[param(required = true, example = json!(["conservation-area"]))]
    dataset: Vec<String>,
    #[serde(default)]
    resource: Vec<String>,
    #[serde(default)]
    field: Vec<String>,
    #[serde(default)]
    issue_type: Vec<String>,
    /// Organisations (`local-authority-eng:SWK`): only issues of the resources they published,
    /// as the collection log's resource table lists them.
    #[serde(default)]
    organisation: Vec<String>,
    /// How many issues, 1 to 1000 (50 when left out); not with an export.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
    /// The `next_cursor` of the page before; not with an export.
    cursor: Option<String>,
    /// `json` (a page, when left out), or every matching issue at once as `csv`, `ndjson` or
    /// `parquet`. `Accept: text/csv`, `application/x-ndjson` or `application/vnd.apache.parquet`
    /// asks the same.
    #[param(schema_with = words::export_formats, example = "csv")]
    format: Option<String>,
}

/// One logged issue. Values the log leaves empty are `null`.
#[derive(Serialize, ToSchema)]
#[schema(as = Issue)]
pub(super) struct IssueDto {
    dataset: String,
    resource: String,
    line_number: Option<i64>,
    entry_number: Option<i64>,
    field: Option<String>,
    issue_type: Option<String>,
    value: Option<String>,
    message: Option<String>,
}

impl From<IssueRow> for IssueDto {
    fn from(row: IssueRow) -> Self {
        Self {
            dataset: row.dataset,
            resource: row.resource,
            line_number: row.line_number,
            entry_number: row.entry_number,
            field: text(row.field),
            issue_type: text(row.issue_type),
            value: text(row.value),
            message: text(row.message),
        }
    }
}

/// Issues of one or more datasets, by dataset, resource, then each issue's position in its
/// resource's log file (the order the pipeline found them): a page, or all of them exported.
#[utoipa::path(
    get,
    path = "/v2/issues",
    tag = "metadata",
    operation_id = "listIssues",
    params(IssueListParams),
    responses(
        (status = 200, description = "A page of issues; or, exported, every matching issue streamed as CSV (a header row, then one row per issue, empty for null), NDJSON (one issue object per line) or one Parquet file (the same columns, typed; row groups of up to 65,536 issues)",
         content(
            (ListPage<IssueDto> = "application/json"),
            (ExportText = "text/csv"),
            (ExportText = "application/x-ndjson"),
            (ExportBinary = "application/vnd.apache.parquet"),
         ),
         headers(("Link" = String, description = "`<…>; rel=\"next\"`: the next page of a page, when there is one"))),
    )
)]
pub async fn list(req: HttpRequest, state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let params: IssueListParams = from_repeated_query(req.query_string(), LIMIT_RULE)?;
    let export = ExportFormat::asked(&req, params.format.as_deref())?;
    if export.is_some() {
        let paged = [
            ("limit", params.limit.is_some()),
            ("cursor", params.cursor.is_some()),
        ];
        if let Some((name, _)) = paged.iter().find(|(_, given)| *given) {
            return Err(ApiError::invalid_field(
                format!("/{name}"),
                "an export holds every matching issue; it has no pages",
            ));
        }
    }
    let page = offset_page(params.limit, params.cursor.as_deref())?;
    let (filters, organisations) = FilterLists {
        dataset: params.dataset,
        resource: params.resource,
        field: params.field,
        issue_type: params.issue_type,
        organisation: params.organisation,
    }
    .parse()?;
    // A request that fails its rules is told so before any file is listed for its version.
    IssueQuery::new(filters.clone(), page)?;
    let tag = match IssueTag::of(&req, &state, &filters, &organisations, export).await? {
        IssueTag::Current(tag) => return Ok(not_modified(&tag)),
        IssueTag::New(tag) => tag,
    };
    let response = if let Some(format) = export {
        let batches = state
            .metadata
            .export_issues(filters, &organisations)
            .await?;
        stream(format, batches)
    } else {
        let issues = state
            .metadata
            .issues_of(filters, &organisations, page)
            .await?;
        let items = issues.items.into_iter().map(IssueDto::from).collect();
        respond(&req, ListPage::at_offset(items, page, issues.total))
    };
    Ok(varies_by_accept(tagged(response, tag.as_deref())))
}

/// What the issue log's version says of a request's answer.
enum IssueTag {
    /// The client holds the current answer (its `If-None-Match` names this tag).
    Current(String),
    /// The answer's tag, when the log has a version.
    New(Option<String>),
}

impl IssueTag {
    async fn of(
        req: &HttpRequest,
        state: &ApiState,
        filters: &IssueFilters,
        organisations: &[FilterValue],
        format: Option<ExportFormat>,
    ) -> Result<Self, ApiError> {
        let tag = state
            .metadata
            .issues_version(filters, organisations)
            .await?
            .map(|version| version_tag(req, &version, format));
        Ok(match tag {
            Some(tag) if is_current(req, &tag) => Self::Current(tag),
            tag => Self::New(tag),
        })
    }
}

/// The format of `/v2/issues` may come from `Accept`: a shared cache must key on it.
fn varies_by_accept(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(
        actix_web::http::header::VARY,
        actix_web::http::header::HeaderValue::from_static("Accept"),
    );
    response
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IssueCountParams {
    /// The columns to group on, of `dataset`, `resource`, `field`, `issue_type`: repeated
    /// (`group_by=dataset&group_by=issue_type`) or as one comma-separated list.
    #[param(value_type = Vec<IssueGroupColumn>, required = true, example = json!(["dataset", "issue_type"]))]
    #[serde(default)]
    group_by: Vec<String>,
    /// `-count` (largest first, when left out), `count` (smallest first) or `key` (by the
    /// groups' values).
    #[param(schema_with = words::count_orders, example = "-count")]
    order_by: Option<String>,
    #[serde(default)]
    dataset: Vec<String>,
    #[serde(default)]
    resource: Vec<String>,
    #[serde(default)]
    field: Vec<String>,
    #[serde(default)]
    issue_type: Vec<String>,
    /// Organisations: only issues of the resources they published.
    #[serde(default)]
    organisation: Vec<String>,
    /// How many groups, 1 to 1000 (50 when left out).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
}

/// An issue column a count groups on (the domain's `IssueColumn`s, in `/v2`'s spelling; a
/// test holds the two lists together). Described here rather than built from the domain's list:
/// a parameter whose schema is built keeps neither its description nor its `required`.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "snake_case")]
pub(crate) enum IssueGroupColumn {
    Dataset,
    Resource,
    Field,
    IssueType,
}

/// How many issues each group holds: the grouped columns' values and `count`.
#[utoipa::path(
    get,
    path = "/v2/issues/counts",
    tag = "metadata",
    operation_id = "countIssues",
    params(IssueCountParams),
    responses(
        (status = 200, description = "A page of groups, each an object of the grouped columns and `count`",
         body = ListPage<IssueCountGroup>,
         headers(("Link" = String, description = "`<…>; rel=\"next\"`: the next page, when there is one"))),
    )
)]
pub async fn counts(
    req: HttpRequest,
    state: web::Data<ApiState>,
) -> Result<HttpResponse, ApiError> {
    let params: IssueCountParams = from_repeated_query(req.query_string(), LIMIT_RULE)?;
    let page = offset_page(params.limit, params.cursor.as_deref())?;
    let order = params
        .order_by
        .as_deref()
        .map(CountOrder::parse)
        .transpose()?
        .unwrap_or_default();
    let (filters, organisations) = FilterLists {
        dataset: params.dataset,
        resource: params.resource,
        field: params.field,
        issue_type: params.issue_type,
        organisation: params.organisation,
    }
    .parse()?;
    // Repeated (`group_by=dataset&group_by=issue_type`, as the document's array is sent) or
    // one comma-separated list: the same columns.
    let group_by = params.group_by.join(",");
    IssueCountQuery::parse(&group_by, filters.clone(), page)?;
    let tag = match IssueTag::of(&req, &state, &filters, &organisations, None).await? {
        IssueTag::Current(tag) => return Ok(not_modified(&tag)),
        IssueTag::New(tag) => tag,
    };
    let counts = state
        .metadata
        .issue_counts_of(&group_by, filters, &organisations, order, page)
        .await?;
    let items = counts.items.into_iter().map(group_json).collect();
    let response = respond(&req, ListPage::at_offset(items, page, counts.total));
    Ok(tagged(response, tag.as_deref()))
}

fn group_json(group: IssueCount) -> Json {
    let mut object = Map::new();
    for (column, value) in group.key {
        object.insert(snake(column.archive_name()), Json::from(text(value)));
    }
    object.insert("count".to_owned(), Json::from(group.count));
    Json::Object(object)
}
