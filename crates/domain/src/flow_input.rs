//! Flow inputs: what a flow reads, the SQL transforms it runs and where their results go.

use chrono::{DateTime, Utc};
use std::fmt;

use crate::data_store::DataStoreId;
use crate::names::TableName;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowInputId(pub i64);

impl fmt::Display for FlowInputId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The most entries each list of a flow input may hold: far beyond any real flow, and small enough
/// that validating one (a lookup per store, a graph of its transforms) stays cheap.
pub const MAX_LIST_ENTRIES: usize = 100;
/// The longest SQL text a source query or a transform may have, in bytes.
pub const MAX_SQL_BYTES: usize = 100_000;

/// What to read from a source data store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceRead {
    /// A table of a relational store, or a table folder of a columnar store.
    Table(String),
    /// A query run on a relational store.
    Query(String),
    /// The file of a file store.
    File,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub data_store_id: DataStoreId,
    pub read: SourceRead,
    /// The table name the transforms' SQL uses for this source.
    pub alias: TableName,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform {
    pub name: TableName,
    pub sql: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// The target ends up holding exactly the transform's rows.
    Replace,
    /// The transform's rows are added to what the target holds.
    Append,
}

impl WriteMode {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "replace" => Some(Self::Replace),
            "append" => Some(Self::Append),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replace => "replace",
            Self::Append => "append",
        }
    }
}

/// Which transform goes where in the target store: a table of a relational or columnar target, or
/// (with no table) the file of a file target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub transform: TableName,
    pub table: Option<TableName>,
    pub mode: WriteMode,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFlowInput {
    pub source_data_store_ids: Vec<DataStoreId>,
    pub target_data_store_id: DataStoreId,
    pub sources: Vec<Source>,
    pub transforms: Vec<Transform>,
    pub outputs: Vec<Output>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowInput {
    pub id: FlowInputId,
    pub source_data_store_ids: Vec<DataStoreId>,
    pub target_data_store_id: DataStoreId,
    pub sources: Vec<Source>,
    pub transforms: Vec<Transform>,
    pub outputs: Vec<Output>,
    pub created_utc: DateTime<Utc>,
}
