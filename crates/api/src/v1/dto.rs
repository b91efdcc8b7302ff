//! The `/v1` wire format, mapped to and from the domain.

use chrono::{DateTime, SecondsFormat, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sluice_domain::data_store::{DataStore, DataStoreId, DataStoreKind, NewDataStore};
use sluice_domain::described_input::{
    DescribedFlowInput, DescribedOutput, DescribedSource, DescribedTransform, StoreRef,
};
use sluice_domain::described_store::DescribedConnection;
use sluice_domain::flow::{FlowState, FlowView, Lines, LogLine};
use sluice_domain::flow_input::{FlowInput, SourceRead};
use sluice_domain::page::Page;
use sluice_domain::step::StepResult;

use utoipa::{IntoParams, ToSchema};

use crate::ApiError;
use crate::contract::words;
use crate::extract::from_json;
use crate::wire::connection_view::ConnectionView;

fn utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

// ---- data stores

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDataStore {
    /// Letters, digits, `_`, `-` and `.`, starting with a letter or a digit, unique among stores.
    #[schema(schema_with = words::new_store_name)]
    name: String,
    #[serde(rename = "type")]
    kind: KindDto,
    /// The fields of the store's `type`.
    #[schema(schema_with = connection_by_type)]
    connection: serde_json::Value,
}

/// A `connection` is one of three shapes, by the store's `type`.
fn connection_by_type() -> utoipa::openapi::schema::Schema {
    use utoipa::PartialSchema;
    utoipa::openapi::schema::Schema::OneOf(
        utoipa::openapi::schema::OneOfBuilder::new()
            .item(RelationalConnectionDto::schema())
            .item(PathConnection::schema())
            .item(FileConnection::schema())
            .build(),
    )
}

/// What a store is: a relational database (SQLite, PostgreSQL, MySQL or MariaDB), a folder of
/// Parquet tables, or one file.
#[derive(Deserialize, Serialize, Clone, Copy, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = DataStoreType)]
enum KindDto {
    RelationalDb,
    ColumnarDb,
    File,
}

/// A `columnar_db`'s folder: local (inside the data folder) or `s3://bucket/prefix`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(title = "columnar_db")]
struct PathConnection {
    path: String,
}

/// A `file`: its path and `format` (`csv` or `parquet`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(title = "file")]
struct FileConnection {
    path: String,
    format: String,
}

/// A `relational_db`: `engine` (`sqlite`, `postgres`, or `mysql` for MySQL and MariaDB) and, for SQLite,
/// `path`, for the others `host`, `port` (the engine's default when left out), `user`,
/// `password` and `database`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(title = "relational_db")]
struct RelationalConnectionDto {
    engine: String,
    path: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    password: Option<String>,
    database: Option<String>,
}

/// Parses the `connection` object of the data store's type, pointing errors into it.
fn connection<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    from_json::<T>(value).map_err(|err| err.under("/connection"))
}

impl CreateDataStore {
    /// Reads the `connection` object of the data store's type (unknown fields refused there), and
    /// leaves the rules to the domain.
    pub fn into_domain(self) -> Result<NewDataStore, ApiError> {
        let (kind, described) = match self.kind {
            KindDto::File => {
                let c: FileConnection = connection(self.connection)?;
                let described = DescribedConnection {
                    path: Some(c.path),
                    format: Some(c.format),
                    ..Default::default()
                };
                (DataStoreKind::File, described)
            }
            KindDto::ColumnarDb => {
                let c: PathConnection = connection(self.connection)?;
                let described = DescribedConnection {
                    path: Some(c.path),
                    ..Default::default()
                };
                (DataStoreKind::ColumnarDb, described)
            }
            KindDto::RelationalDb => {
                let c: RelationalConnectionDto = connection(self.connection)?;
                let described = DescribedConnection {
                    path: c.path,
                    format: None,
                    engine: Some(c.engine),
                    host: c.host,
                    port: c.port,
                    user: c.user,
                    password: c.password.map(SecretString::from),
                    database: c.database,
                };
                (DataStoreKind::RelationalDb, described)
            }
        };
        NewDataStore::describe(&self.name, kind, described).map_err(ApiError::invalid)
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = DataStore)]
pub struct DataStoreDto {
    id: i64,
    name: String,
    #[serde(rename = "type")]
    kind: KindDto,
    connection: ConnectionView,
    /// RFC 3339, UTC, milliseconds.
    #[schema(format = DateTime)]
    created_utc: String,
}

impl From<DataStoreKind> for KindDto {
    fn from(kind: DataStoreKind) -> Self {
        match kind {
            DataStoreKind::RelationalDb => Self::RelationalDb,
            DataStoreKind::ColumnarDb => Self::ColumnarDb,
            DataStoreKind::File => Self::File,
        }
    }
}

impl From<&DataStore> for DataStoreDto {
    fn from(store: &DataStore) -> Self {
        Self {
            id: store.id.0,
            name: store.name.to_string(),
            kind: store.connection.kind().into(),
            connection: ConnectionView::from(&store.connection),
            created_utc: utc(store.created_utc),
        }
    }
}

// ---- flow inputs

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
            source_data_store_ids: input.source_data_store_ids.iter().map(|id| id.0).collect(),
            target_data_store_id: input.target_data_store_id.0,
            sources: input
                .sources
                .iter()
                .map(|s| {
                    let (table, query) = match &s.read {
                        SourceRead::Table(t) => (Some(t.clone()), None),
                        SourceRead::Query(q) => (None, Some(q.clone())),
                        SourceRead::File => (None, None),
                    };
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

// ---- flows

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartFlow {
    pub flow_input_id: i64,
}

/// `/v1` knows five states: a cancel in progress is still RUNNING.
pub fn v1_state(state: FlowState) -> &'static str {
    match state {
        FlowState::Cancelling => FlowState::Running.as_str(),
        other => other.as_str(),
    }
}

/// The domain states a `/v1` state filter stands for.
pub fn domain_states(v1: &str) -> Option<Vec<FlowState>> {
    match FlowState::parse(v1)? {
        FlowState::Cancelling => None,
        FlowState::Running => Some(vec![FlowState::Running, FlowState::Cancelling]),
        other => Some(vec![other]),
    }
}

/// A stream's newest lines; `has_earlier` says older ones exist (`GET /v1/flows/{id}/logs`).
#[derive(Serialize, ToSchema)]
#[schema(as = Lines)]
struct LinesDto {
    lines: Vec<String>,
    #[schema(format = DateTime)]
    updated_utc: Option<String>,
    has_earlier: bool,
}

impl From<&Lines> for LinesDto {
    fn from(lines: &Lines) -> Self {
        Self {
            lines: lines.lines.clone(),
            updated_utc: lines.updated_utc.map(utc),
            has_earlier: lines.earlier,
        }
    }
}

/// One step of a flow: reading a source, running a transform or writing an output.
#[derive(Serialize, ToSchema)]
#[schema(as = Step)]
struct StepDto {
    name: String,
    #[schema(schema_with = words::step_kinds)]
    kind: &'static str,
    #[schema(schema_with = words::step_states)]
    state: &'static str,
    /// Rows read or written, once known.
    rows: Option<u64>,
    #[schema(format = DateTime)]
    started_utc: Option<String>,
    #[schema(format = DateTime)]
    finished_utc: Option<String>,
    error: Option<String>,
}

impl From<&StepResult> for StepDto {
    fn from(result: &StepResult) -> Self {
        Self {
            name: result.step.name.clone(),
            kind: result.step.kind.as_str(),
            state: result.state.as_str(),
            rows: result.rows,
            started_utc: result.started_utc.map(utc),
            finished_utc: result.finished_utc.map(utc),
            error: result.error.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = LogLine)]
struct LogLineDto {
    id: i64,
    #[schema(schema_with = words::streams)]
    stream: &'static str,
    line: String,
    #[schema(format = DateTime)]
    created_utc: String,
}

/// A page of a flow's lines; `next_after` is what to pass as `after` for the next page, null
/// when this page reached the end.
#[derive(Serialize, ToSchema)]
#[schema(as = LogPage)]
pub struct LogPageDto {
    lines: Vec<LogLineDto>,
    next_after: Option<i64>,
}

impl LogPageDto {
    pub fn new(lines: Vec<LogLine>, limit: u64) -> Self {
        let full = lines.len() as u64 >= limit;
        let next_after = if full {
            lines.last().map(|l| l.id)
        } else {
            None
        };
        Self {
            lines: lines
                .into_iter()
                .map(|l| LogLineDto {
                    id: l.id,
                    stream: l.stream.as_str(),
                    line: l.line,
                    created_utc: utc(l.created_utc),
                })
                .collect(),
            next_after,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogPageQuery {
    /// The `next_after` of the page before: lines after this id.
    #[param(minimum = 0)]
    pub after: Option<u64>,
    /// How many lines, 1 to 1000 (100 when left out).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u64>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Progress)]
struct ProgressDto {
    #[schema(maximum = 100)]
    percent: u8,
    #[schema(format = DateTime)]
    updated_utc: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = FlowOutput)]
struct OutputViewDto {
    #[schema(schema_with = words::v1_flow_states)]
    state: &'static str,
    progress: ProgressDto,
    logs: LinesDto,
    errors: LinesDto,
    steps: Vec<StepDto>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Flow)]
pub struct FlowDto {
    id: i64,
    flow_input_id: i64,
    flow_output_id: i64,
    #[schema(format = DateTime)]
    created_utc: String,
    output: OutputViewDto,
}

impl From<&FlowView> for FlowDto {
    fn from(view: &FlowView) -> Self {
        Self {
            id: view.flow.id.0,
            flow_input_id: view.flow.flow_input_id.0,
            flow_output_id: view.flow.flow_output_id.0,
            created_utc: utc(view.flow.created_utc),
            output: OutputViewDto {
                state: v1_state(view.output.state),
                progress: ProgressDto {
                    percent: view.output.progress.percent,
                    updated_utc: utc(view.output.progress.updated_utc),
                },
                logs: (&view.output.logs).into(),
                errors: (&view.output.errors).into(),
                steps: view.output.steps.iter().map(StepDto::from).collect(),
            },
        }
    }
}

// ---- lists

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// How many items, 1 to 100 (50 when left out).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u64>,
    /// How many items to skip.
    #[param(minimum = 0)]
    offset: Option<u64>,
}

impl PageQuery {
    pub fn page(&self) -> Result<Page, ApiError> {
        Ok(Page::new(self.limit, self.offset)?)
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FlowListQuery {
    /// Only flows in this state.
    #[param(schema_with = words::v1_flow_states)]
    pub state: Option<String>,
    /// How many flows, 1 to 100 (50 when left out).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u64>,
    /// How many flows to skip.
    #[param(minimum = 0)]
    offset: Option<u64>,
}

impl FlowListQuery {
    pub fn page(&self) -> Result<Page, ApiError> {
        Ok(Page::new(self.limit, self.offset)?)
    }
}
