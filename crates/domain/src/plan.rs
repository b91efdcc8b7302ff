//! A flow's plan: what the engine is given to run one flow, every store resolved. Its types
//! admit only plans a valid flow input makes: one target, and outputs that name a table exactly
//! when that target is a store of tables.

use crate::data_store::{Connection, DataStore};
use crate::flow::FlowId;
use crate::flow_input::{ExecutionEngine, Output, SourceRead, Transform, WriteMode};
use crate::graph::TransformGraph;
use crate::names::TableName;
use crate::step::Step;

/// A source as the engine needs it: the store resolved.
#[derive(Debug, Clone)]
pub struct PlannedSource {
    pub alias: TableName,
    pub store: DataStore,
    pub read: SourceRead,
}

/// An output into a store of tables: a transform's rows into the table it names.
#[derive(Debug, Clone)]
pub struct TableOutput {
    pub transform: TableName,
    pub table: TableName,
    pub mode: WriteMode,
}

/// The output of a store that is one file: a transform's rows as the whole file.
#[derive(Debug, Clone)]
pub struct FileOutput {
    pub transform: TableName,
    pub mode: WriteMode,
}

/// What a flow writes into its target: tables it names, or the one file the target is.
#[derive(Debug, Clone)]
pub enum PlannedWrites {
    Tables(Vec<TableOutput>),
    File(FileOutput),
}

impl PlannedWrites {
    /// The writes of `outputs` into `target`.
    ///
    /// # Errors
    /// Why the outputs do not fit the target's kind, which validation refuses before a flow
    /// input is stored: a table named for a file, a table missing for a store of tables, a file
    /// written by no output or by several.
    pub fn of(outputs: &[Output], target: &DataStore) -> Result<Self, String> {
        if let Connection::File { .. } = target.connection {
            return match outputs {
                [
                    Output {
                        transform,
                        table: None,
                        mode,
                    },
                ] => Ok(Self::File(FileOutput {
                    transform: transform.clone(),
                    mode: *mode,
                })),
                _ => Err(format!(
                    "the file target '{}' takes exactly one output, with no table",
                    target.name
                )),
            };
        }
        let tables = outputs
            .iter()
            .map(|output| match &output.table {
                Some(table) => Ok(TableOutput {
                    transform: output.transform.clone(),
                    table: table.clone(),
                    mode: output.mode,
                }),
                None => Err(format!(
                    "the output of '{}' names no table of target '{}'",
                    output.transform, target.name
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if tables.is_empty() {
            return Err(format!("nothing is written into target '{}'", target.name));
        }
        Ok(Self::Tables(tables))
    }

    /// The transform each output writes, in the outputs' order.
    pub fn transforms(&self) -> Vec<&TableName> {
        match self {
            Self::Tables(outputs) => outputs.iter().map(|o| &o.transform).collect(),
            Self::File(output) => vec![&output.transform],
        }
    }

    /// One step per output, in order.
    pub fn steps(&self) -> Vec<Step> {
        match self {
            Self::Tables(outputs) => outputs
                .iter()
                .map(|o| Step::output(&o.transform, Some(&o.table)))
                .collect(),
            Self::File(output) => vec![Step::output(&output.transform, None)],
        }
    }
}

/// Everything the engine needs to run a flow.
#[derive(Debug, Clone)]
pub struct FlowPlan {
    pub flow_id: FlowId,
    pub sources: Vec<PlannedSource>,
    pub transforms: Vec<Transform>,
    pub graph: TransformGraph,
    /// Where every output goes: a flow has one target.
    pub target: DataStore,
    pub writes: PlannedWrites,
    pub engine: ExecutionEngine,
}

impl FlowPlan {
    /// One step per source ingested, per transform and per output written, in that order.
    pub fn steps(&self) -> Vec<Step> {
        let ingests = self.sources.iter().map(|s| Step::ingest(&s.alias));
        let transforms = self.transforms.iter().map(Step::transform);
        ingests
            .chain(transforms)
            .chain(self.writes.steps())
            .collect()
    }
}
