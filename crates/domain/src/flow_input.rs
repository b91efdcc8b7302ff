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

/// A flow input's name: 1 to 64 letters, digits, `_`, `-` and `.`, starting with a letter. A
/// flow input made without a name (on `/v1`) is named after its id, in digits, which no given name
/// can be, so the two never meet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlowInputName(String);

impl FlowInputName {
    /// # Errors
    /// A message saying what is wrong with the name.
    /// [`FlowInputName::parse`]'s rule as a regular expression, for API documents.
    pub const PATTERN: &str = "^[A-Za-z][A-Za-z0-9_.-]{0,63}$";

    pub fn parse(raw: &str) -> Result<Self, String> {
        crate::names::check_resource_name(raw)?;
        if !raw.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err("must start with a letter".into());
        }
        Ok(Self(raw.to_owned()))
    }

    /// The name of a flow input made without one.
    pub fn of_unnamed(id: FlowInputId) -> Self {
        Self(id.0.to_string())
    }

    /// A stored name, either kind.
    ///
    /// # Errors
    /// When it is neither a name nor an id.
    pub fn stored(raw: &str) -> Result<Self, String> {
        if !raw.is_empty() && raw.len() <= 20 && raw.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Self(raw.to_owned()));
        }
        Self::parse(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FlowInputName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A flow input as a person names it: `orders-report` (its latest version) or
/// `orders-report:2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowInputRef {
    pub name: FlowInputName,
    pub version: Option<u32>,
}

impl FlowInputRef {
    /// # Errors
    /// A message saying what is wrong with the reference.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let (name, version) = match raw.rsplit_once(':') {
            Some((name, version)) => {
                let version = version
                    .parse::<u32>()
                    .ok()
                    .filter(|v| *v > 0)
                    .ok_or_else(|| {
                        format!("'{version}' is not a version: versions count from 1")
                    })?;
                (name, Some(version))
            }
            None => (raw, None),
        };
        let name = FlowInputName::stored(name).map_err(|why| format!("the name {why}"))?;
        Ok(Self { name, version })
    }
}

impl fmt::Display for FlowInputRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            Some(version) => write!(f, "{}:{version}", self.name),
            None => self.name.fmt(f),
        }
    }
}

/// One version of a named flow input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowInputVersion {
    pub id: FlowInputId,
    pub version: u32,
    pub created_utc: DateTime<Utc>,
}

/// A flow input by name, as a list shows it: which versions it has, not what they do (each
/// version is read by its own address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowInputSummary {
    /// Version 1's id: lists are in the order names were first used, and page after it.
    pub first_id: FlowInputId,
    pub name: FlowInputName,
    pub latest_version: u32,
    /// How many versions the name has.
    pub versions: u32,
    /// When version 1 was made.
    pub created_utc: DateTime<Utc>,
    /// When the latest version was made.
    pub updated_utc: DateTime<Utc>,
}

/// The most entries each list of a flow input may hold: far beyond any real flow, and small enough
/// that validating one (a lookup per store, a graph of its transforms) stays cheap.
pub const MAX_LIST_ENTRIES: usize = 100;
/// The violation of a list of a flow input longer than [`MAX_LIST_ENTRIES`].
pub fn list_too_long(field: &'static str, len: usize) -> Option<crate::Violation> {
    (len > MAX_LIST_ENTRIES).then(|| {
        crate::Violation::new(
            crate::FieldPath::new(field),
            format!("must have at most {MAX_LIST_ENTRIES} entries"),
        )
    })
}

/// The longest SQL text a source query or a transform may have, in bytes.
pub const MAX_SQL_BYTES: usize = 100_000;

/// How deep a transform may nest its expressions and queries (`a + b + c` is three levels, a
/// subquery one more). Planning and running walk these trees recursively: the flows' threads
/// have a stack sized for this bound, and a deeper transform is refused when it is defined.
pub const MAX_EXPRESSION_DEPTH: usize = 1_000;

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

impl SourceRead {
    /// What a source reads, from the `table` and the `query` a client gave: one of them, or
    /// neither for the file of a file store.
    ///
    /// # Errors
    /// The field at fault and what is wrong with it.
    pub fn describe(
        table: Option<String>,
        query: Option<String>,
    ) -> Result<Self, (&'static str, &'static str)> {
        match (table, query) {
            (Some(_), Some(_)) => Err(("query", "give a 'table' or a 'query', not both")),
            (Some(table), None) if table.trim().is_empty() => Err(("table", "must not be empty")),
            (Some(table), None) => Ok(Self::Table(table)),
            (None, Some(query)) => Ok(Self::Query(query)),
            (None, None) => Ok(Self::File),
        }
    }

    /// The `table` and the `query` that describe it, as [`Self::describe`] reads them: the way
    /// every wire format and the state database write a source.
    pub fn table_and_query(&self) -> (Option<String>, Option<String>) {
        match self {
            Self::Table(table) => (Some(table.clone()), None),
            Self::Query(query) => (None, Some(query.clone())),
            Self::File => (None, None),
        }
    }
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
    pub const ALL: [Self; 2] = [Self::Replace, Self::Append];

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
    /// `None` for an input named after its id (made on `/v1`).
    pub name: Option<FlowInputName>,
    pub target_data_store_id: DataStoreId,
    pub sources: Vec<Source>,
    pub transforms: Vec<Transform>,
    pub outputs: Vec<Output>,
    /// How many times a flow of it may run before it stays FAILED: 1 (no retry) to
    /// [`MAX_ATTEMPTS`].
    pub max_attempts: u32,
    pub engine: ExecutionEngine,
}

/// What runs a flow's transforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum ExecutionEngine {
    /// Sluice's own DataFusion, pushing transforms down to the databases holding their sources
    /// where it can.
    #[default]
    Local,
    /// A Ballista cluster (its scheduler at `engine.ballista.url`): the executors read the file
    /// and columnar sources themselves and run the transforms; Sluice receives the results the
    /// outputs write.
    Ballista,
}

impl ExecutionEngine {
    pub const ALL: [Self; 2] = [Self::Local, Self::Ballista];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Ballista => "ballista",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// The most attempts a flow input may allow.
pub const MAX_ATTEMPTS: u32 = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowInput {
    pub id: FlowInputId,
    pub name: FlowInputName,
    /// From 1; each version of a name is kept as it was made.
    pub version: u32,
    pub target_data_store_id: DataStoreId,
    pub sources: Vec<Source>,
    pub transforms: Vec<Transform>,
    pub outputs: Vec<Output>,
    pub max_attempts: u32,
    pub engine: ExecutionEngine,
    pub created_utc: DateTime<Utc>,
}

impl FlowInput {
    /// `name:version`.
    pub fn public_id(&self) -> String {
        format!("{}:{}", self.name, self.version)
    }

    /// The stores its sources read, each once, in the order the sources first name them.
    pub fn source_stores(&self) -> Vec<DataStoreId> {
        stores_read(&self.sources)
    }
}

impl NewFlowInput {
    /// The stores its sources read, each once, in the order the sources first name them.
    pub fn source_stores(&self) -> Vec<DataStoreId> {
        stores_read(&self.sources)
    }
}

fn stores_read(sources: &[Source]) -> Vec<DataStoreId> {
    let mut stores = Vec::new();
    for source in sources {
        if !stores.contains(&source.data_store_id) {
            stores.push(source.data_store_id);
        }
    }
    stores
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_is_a_name_with_an_optional_version() {
        let latest = FlowInputRef::parse("orders-report").unwrap();
        assert_eq!(latest.version, None);
        let second = FlowInputRef::parse("orders-report:2").unwrap();
        assert_eq!(
            (second.name.as_str(), second.version),
            ("orders-report", Some(2))
        );
        assert_eq!(FlowInputRef::parse("17").unwrap().name.as_str(), "17");
        for bad in ["orders:0", "orders:x", ":1", "1orders", "a b", ""] {
            assert!(FlowInputRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_source_reads_a_table_a_query_or_its_file_but_never_two() {
        assert_eq!(
            SourceRead::describe(Some("t".into()), None),
            Ok(SourceRead::Table("t".into()))
        );
        assert_eq!(SourceRead::describe(None, None), Ok(SourceRead::File));
        assert_eq!(
            SourceRead::describe(Some("t".into()), Some("SELECT 1".into()))
                .unwrap_err()
                .0,
            "query"
        );
        assert_eq!(
            SourceRead::describe(Some(" ".into()), None).unwrap_err().0,
            "table"
        );
    }

    #[test]
    fn a_given_name_starts_with_a_letter_so_it_never_meets_an_id() {
        assert!(FlowInputName::parse("orders-report").is_ok());
        assert!(FlowInputName::parse("17").is_err());
        assert_eq!(FlowInputName::of_unnamed(FlowInputId(17)).as_str(), "17");
    }
}
