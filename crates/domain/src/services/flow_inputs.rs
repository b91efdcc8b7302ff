use std::collections::HashMap;
use std::sync::Arc;

use crate::data_store::{Connection, DataStore, DataStoreId};
use crate::error::{FieldPath, Violation};
use crate::flow_input::{
    ExecutionEngine, FlowInput, FlowInputId, FlowInputName, FlowInputRef, FlowInputSummary,
    FlowInputVersion, MAX_ATTEMPTS, MAX_SQL_BYTES, NewFlowInput, SourceRead, list_too_long,
};
use crate::graph::TransformGraph;
use crate::names::TableName;
use crate::page::Page;
use crate::ports::{DataStoreRepository, FlowInputRepository, SqlAnalyzer};
use crate::{Error, Result};

/// The lists and SQL texts of `new` that are larger than a flow input may be.
fn oversized_parts(new: &NewFlowInput) -> Vec<Violation> {
    let mut violations: Vec<Violation> = [
        ("sources", new.sources.len()),
        ("transforms", new.transforms.len()),
        ("outputs", new.outputs.len()),
    ]
    .into_iter()
    .filter_map(|(field, len)| list_too_long(field, len))
    .collect();
    let too_long = format!("must be at most {MAX_SQL_BYTES} bytes long");
    for (i, source) in new.sources.iter().enumerate() {
        if let SourceRead::Query(sql) | SourceRead::Table(sql) = &source.read
            && sql.len() > MAX_SQL_BYTES
        {
            let field = match source.read {
                SourceRead::Query(_) => "query",
                _ => "table",
            };
            violations.push(Violation::new(
                FieldPath::new("sources").index(i).field(field),
                &too_long,
            ));
        }
    }
    for (i, transform) in new.transforms.iter().enumerate() {
        if transform.sql.len() > MAX_SQL_BYTES {
            violations.push(Violation::new(
                FieldPath::new("transforms").index(i).field("sql"),
                &too_long,
            ));
        }
    }
    violations
}

/// Defines flow inputs, refusing any that could not run.
#[derive(Clone)]
pub struct FlowInputService {
    repository: Arc<dyn FlowInputRepository>,
    pub(super) stores: Arc<dyn DataStoreRepository>,
    analyzer: Arc<dyn SqlAnalyzer>,
    /// Whether a Ballista scheduler is configured, so that inputs may choose it.
    ballista: bool,
}

impl FlowInputService {
    pub fn new(
        repository: Arc<dyn FlowInputRepository>,
        stores: Arc<dyn DataStoreRepository>,
        analyzer: Arc<dyn SqlAnalyzer>,
    ) -> Self {
        Self {
            repository,
            stores,
            analyzer,
            ballista: false,
        }
    }

    /// Lets inputs choose [`ExecutionEngine::Ballista`]: a scheduler is configured.
    #[must_use]
    pub fn with_ballista(mut self, configured: bool) -> Self {
        self.ballista = configured;
        self
    }

    /// Validates the whole input and stores it; nothing is stored when anything is wrong.
    ///
    /// # Errors
    /// `Invalid` with a violation per problem: an unknown data store id, a source that does not fit
    /// its store, a duplicate name, SQL that does not parse, an unknown table, a cycle, an output
    /// naming no transform or not fitting the target; `Unavailable`.
    pub async fn create(&self, new: NewFlowInput) -> Result<FlowInput> {
        self.validate(&new).await?;
        self.repository.create(new).await
    }

    /// Validates `new` as [`create`](Self::create) does and stores it as the next version of the
    /// input `name`; earlier versions stay as they were.
    ///
    /// # Errors
    /// As `create`; `NotFound` when there is no input named `name`.
    pub async fn add_version(&self, name: &FlowInputName, new: NewFlowInput) -> Result<FlowInput> {
        // A missing input is said before a long list of violations of the version.
        if self.repository.versions(name).await?.is_empty() {
            return Err(Error::NotFound {
                entity: "flow input",
                key: name.to_string(),
            });
        }
        self.validate(&new).await?;
        self.repository.add_version(name, new).await
    }

    /// # Errors
    /// `NotFound`; `Unavailable`.
    pub async fn find(&self, reference: &FlowInputRef) -> Result<FlowInput> {
        self.repository.find(reference).await
    }

    /// The version a start names (`orders-report`, its latest; `orders-report:2`).
    ///
    /// # Errors
    /// `Invalid` at `flow_input_id` when there is no such version; `Unavailable`.
    pub async fn version_to_start(&self, reference: &FlowInputRef) -> Result<FlowInputId> {
        match self.repository.find(reference).await {
            Ok(input) => Ok(input.id),
            Err(Error::NotFound { .. }) => Err(Error::invalid(
                FieldPath::new("flow_input_id"),
                format!("flow input {reference} does not exist"),
            )),
            Err(other) => Err(other),
        }
    }

    /// The versions a filter names: one (`orders-report:2`) or every version of a name
    /// (`orders-report`); none when there is no such input.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn versions_named(&self, reference: &FlowInputRef) -> Result<Vec<FlowInputId>> {
        match reference.version {
            Some(_) => match self.repository.find(reference).await {
                Ok(input) => Ok(vec![input.id]),
                Err(Error::NotFound { .. }) => Ok(Vec::new()),
                Err(other) => Err(other),
            },
            None => Ok(self
                .repository
                .versions(&reference.name)
                .await?
                .iter()
                .map(|v| v.id)
                .collect()),
        }
    }

    /// The flow inputs whose names start with `name_prefix`, in the order their names were
    /// first used, one page of them.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn list(&self, name_prefix: &str, page: Page) -> Result<Vec<FlowInputSummary>> {
        self.repository.list(name_prefix, page).await
    }

    /// How many flow inputs have names that start with `name_prefix`.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn count(&self, name_prefix: &str) -> Result<u64> {
        self.repository.count(name_prefix).await
    }

    /// Every version of `name`, oldest first.
    ///
    /// # Errors
    /// `NotFound` when there is no input named `name`; `Unavailable`.
    pub async fn versions(&self, name: &FlowInputName) -> Result<Vec<FlowInputVersion>> {
        let versions = self.repository.versions(name).await?;
        if versions.is_empty() {
            return Err(Error::NotFound {
                entity: "flow input",
                key: name.to_string(),
            });
        }
        Ok(versions)
    }

    pub(super) async fn validate(&self, new: &NewFlowInput) -> Result<()> {
        // Checked first, so that an oversized input costs nothing more than counting it.
        let violations = oversized_parts(new);
        if !violations.is_empty() {
            return Err(Error::Invalid(violations));
        }
        let mut violations = Vec::new();
        if !(1..=MAX_ATTEMPTS).contains(&new.max_attempts) {
            violations.push(Violation::new(
                FieldPath::new("max_attempts"),
                format!("must be from 1 (no retry) to {MAX_ATTEMPTS}"),
            ));
        }
        if new.engine == ExecutionEngine::Ballista && !self.ballista {
            violations.push(Violation::new(
                FieldPath::new("engine"),
                "no Ballista scheduler is configured on this service (engine.ballista.url); \
                 use \"local\"",
            ));
        }
        let mut stores: HashMap<DataStoreId, Option<DataStore>> = HashMap::new();
        for id in new.source_stores() {
            stores.insert(id, self.find_store(id).await?);
        }
        let target = self.find_store(new.target_data_store_id).await?;
        if target.is_none() {
            violations.push(Violation::new(
                FieldPath::new("target_data_store_id"),
                format!("data store {} does not exist", new.target_data_store_id),
            ));
        }

        let mut aliases: Vec<TableName> = Vec::new();
        for (i, source) in new.sources.iter().enumerate() {
            if aliases.contains(&source.alias) {
                violations.push(Violation::new(
                    FieldPath::new("sources").index(i).field("alias"),
                    format!("'{}' names another source too", source.alias),
                ));
            }
            aliases.push(source.alias.clone());
            let Some(Some(store)) = stores.get(&source.data_store_id) else {
                violations.push(Violation::new(
                    FieldPath::new("sources").index(i).field("data_store_id"),
                    format!("data store {} does not exist", source.data_store_id),
                ));
                continue;
            };
            {
                if let Err(violation) = source_fits_store(i, &source.read, store) {
                    violations.push(violation);
                }
                if let Err(violation) = source_fits_engine(i, new.engine, store) {
                    violations.push(violation);
                }
            }
        }
        if new.sources.is_empty() {
            violations.push(Violation::new(
                FieldPath::new("sources"),
                "must name at least one source",
            ));
        }

        if let Err(graph_violations) =
            TransformGraph::build(&aliases, &new.transforms, self.analyzer.as_ref())
        {
            violations.extend(graph_violations);
        }

        violations.extend(output_violations(new, target.as_ref()));

        if !violations.is_empty() {
            return Err(Error::Invalid(violations));
        }
        Ok(())
    }

    /// # Errors
    /// `NotFound`; `Unavailable`.
    pub async fn get(&self, id: FlowInputId) -> Result<FlowInput> {
        self.repository.get(id).await
    }

    pub(super) async fn find_store(&self, id: DataStoreId) -> Result<Option<DataStore>> {
        match self.stores.get(id).await {
            Ok(store) => Ok(Some(store)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }
}

fn source_fits_store(i: usize, read: &SourceRead, store: &DataStore) -> Result<(), Violation> {
    let at = |field: &'static str, message: String| {
        Err(Violation::new(
            FieldPath::new("sources").index(i).field(field),
            message,
        ))
    };
    match (&store.connection, read) {
        (Connection::File { .. }, SourceRead::File) => Ok(()),
        (Connection::File { .. }, SourceRead::Table(_)) => at(
            "table",
            "a file store is read whole: leave out 'table'".into(),
        ),
        (Connection::File { .. }, SourceRead::Query(_)) => at(
            "query",
            "a file store is read whole: leave out 'query'".into(),
        ),
        (Connection::Relational(_), SourceRead::File) => at(
            "table",
            "a relational store needs a 'table' or a 'query'".into(),
        ),
        (Connection::Relational(_), _) => Ok(()),
        (Connection::Columnar { .. }, SourceRead::Table(table)) => TableName::parse(table)
            .map(|_| ())
            .or_else(|message| at("table", message)),
        (Connection::Columnar { .. }, SourceRead::Query(_)) => at(
            "query",
            "a columnar store is read by 'table', not by query".into(),
        ),
        (Connection::Columnar { .. }, SourceRead::File) => {
            at("table", "a columnar store needs a 'table'".into())
        }
    }
}

/// Ballista's executors read sources themselves, from files and Parquet datasets on S3 or on
/// storage they share with Sluice; a database is Sluice's to read (and to push down to).
fn source_fits_engine(
    i: usize,
    engine: ExecutionEngine,
    store: &DataStore,
) -> Result<(), Violation> {
    match (engine, &store.connection) {
        (ExecutionEngine::Ballista, Connection::Relational(_)) => Err(Violation::new(
            FieldPath::new("sources").index(i).field("data_store_id"),
            format!(
                "a flow on Ballista reads file and columnar stores only; '{}' is a relational \
                 database",
                store.name
            ),
        )),
        _ => Ok(()),
    }
}

fn output_violations(new: &NewFlowInput, target: Option<&DataStore>) -> Vec<Violation> {
    let mut violations = Vec::new();
    if new.outputs.is_empty() {
        violations.push(Violation::new(
            FieldPath::new("outputs"),
            "must name at least one output",
        ));
    }
    let mut tables: Vec<&TableName> = Vec::new();
    for (i, output) in new.outputs.iter().enumerate() {
        if !new.transforms.iter().any(|t| t.name == output.transform) {
            violations.push(Violation::new(
                FieldPath::new("outputs").index(i).field("transform"),
                format!("'{}' names no transform", output.transform),
            ));
        }
        let Some(target) = target else { continue };
        match (&target.connection, &output.table) {
            (Connection::File { .. }, Some(_)) => violations.push(Violation::new(
                FieldPath::new("outputs").index(i).field("table"),
                "a file target is written whole: leave out 'table'",
            )),
            (Connection::File { .. }, None) if i > 0 => violations.push(Violation::new(
                FieldPath::new("outputs").index(i),
                "a file target takes exactly one output",
            )),
            (Connection::File { .. }, None) => {}
            (_, None) => violations.push(Violation::new(
                FieldPath::new("outputs").index(i).field("table"),
                "a relational or columnar target needs the 'table' to write",
            )),
            (_, Some(table)) => {
                if tables.contains(&table) {
                    violations.push(Violation::new(
                        FieldPath::new("outputs").index(i).field("table"),
                        format!("table '{table}' is written by another output too"),
                    ));
                }
                tables.push(table);
            }
        }
    }
    violations
}
