//! The engine: runs a flow plan in one DataFusion session.

use async_trait::async_trait;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::MemTable;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::future::try_join_all;
use sluice_domain::flow_input::Transform;
use sluice_domain::ports::{
    FlowEngine, FlowPlan, PlannedSource, RunOutcome, Step, StepEvents, StepKind,
};
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::folder::DataFolder;
use crate::targets::{self, StagedWrite};
use crate::{Error, sources};

#[derive(Debug, Clone, Copy)]
pub struct EngineSettings {
    /// How many partitions DataFusion splits each scan and operator into (its parallelism).
    pub target_partitions: usize,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            target_partitions: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

pub struct DataFusionEngine {
    folder: DataFolder,
    settings: EngineSettings,
}

/// A step's failure, kept apart from the step so the error line can name it.
struct StepFailure {
    step: Step,
    error: Error,
}

fn failed_at(step: &Step) -> impl Fn(Error) -> StepFailure + '_ {
    move |error| StepFailure {
        step: step.clone(),
        error,
    }
}

impl DataFusionEngine {
    pub fn new(folder: DataFolder, settings: EngineSettings) -> Self {
        Self { folder, settings }
    }

    fn session(&self) -> SessionContext {
        SessionContext::new_with_config(
            SessionConfig::new().with_target_partitions(self.settings.target_partitions),
        )
    }

    /// Everything but the commit: ingest, transform, and stage the outputs.
    async fn stage(
        &self,
        ctx: &SessionContext,
        plan: &FlowPlan,
        events: &dyn StepEvents,
    ) -> Result<Box<dyn StagedWrite>, StepFailure> {
        try_join_all(
            plan.sources
                .iter()
                .map(|source| self.ingest(ctx, source, events)),
        )
        .await?;
        for layer in plan.graph.layers() {
            try_join_all(
                layer
                    .iter()
                    .map(|&i| self.transform(ctx, &plan.transforms[i], events)),
            )
            .await?;
        }

        let mut staged: Option<Box<dyn StagedWrite>> = None;
        for planned in &plan.outputs {
            let output = &planned.output;
            let step = Step::output(output);
            events.started(&step).await;
            let started = Instant::now();
            let write = match staged.as_mut() {
                Some(write) => write,
                None => staged.insert(
                    targets::begin(&planned.target, &self.folder)
                        .await
                        .map_err(failed_at(&step))?,
                ),
            };
            let data = ctx
                .table(output.transform.as_str())
                .await
                .map_err(|e| failed_at(&step)(e.into()))?;
            let rows = write
                .write(ctx, output.table.as_ref(), output.mode, data)
                .await
                .map_err(failed_at(&step))?;
            events.finished(&step, rows, started.elapsed()).await;
        }
        staged.ok_or_else(|| StepFailure {
            step: Step {
                kind: StepKind::Output,
                name: "outputs".into(),
            },
            error: Error::Unsupported("the flow has no outputs".into()),
        })
    }

    async fn ingest(
        &self,
        ctx: &SessionContext,
        source: &PlannedSource,
        events: &dyn StepEvents,
    ) -> Result<(), StepFailure> {
        let step = Step::ingest(&source.alias);
        events.started(&step).await;
        let started = Instant::now();
        let connector = sources::connector_for(source, &self.folder).map_err(failed_at(&step))?;
        let data = connector.read(ctx).await.map_err(failed_at(&step))?;
        let rows = materialize(ctx, source.alias.as_str(), data)
            .await
            .map_err(failed_at(&step))?;
        events.finished(&step, rows, started.elapsed()).await;
        Ok(())
    }

    async fn transform(
        &self,
        ctx: &SessionContext,
        transform: &Transform,
        events: &dyn StepEvents,
    ) -> Result<(), StepFailure> {
        let step = Step::transform(transform);
        events.started(&step).await;
        let started = Instant::now();
        // Validation admits only queries; refuse anything else here too, so that no transform
        // can create tables, write files or change the session.
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let data = ctx
            .sql_with_options(&transform.sql, options)
            .await
            .map_err(|e| failed_at(&step)(e.into()))?;
        let rows = materialize(ctx, transform.name.as_str(), data)
            .await
            .map_err(failed_at(&step))?;
        events.finished(&step, rows, started.elapsed()).await;
        Ok(())
    }
}

/// Runs `data` once and registers its rows as table `name`, so every reader sees the same rows
/// and the step can report how many there are.
async fn materialize(ctx: &SessionContext, name: &str, data: DataFrame) -> Result<u64, Error> {
    let declared = Arc::new(data.schema().as_arrow().clone());
    let partitions = data.collect_partitioned().await?;
    let schema = partitions
        .iter()
        .flatten()
        .next()
        .map_or(declared, |batch| batch.schema());
    let rows = partitions
        .iter()
        .flatten()
        .map(|batch| batch.num_rows() as u64)
        .sum();
    let table = MemTable::try_new(schema, partitions)?;
    ctx.register_table(name, Arc::new(table))?;
    Ok(rows)
}

#[async_trait]
impl FlowEngine for DataFusionEngine {
    async fn run(
        &self,
        plan: FlowPlan,
        events: &dyn StepEvents,
        cancel: CancellationToken,
    ) -> RunOutcome {
        let ctx = self.session();
        // Dropping the staging future stops every DataFusion stream it runs and rolls back or
        // removes whatever it staged.
        let staged = tokio::select! {
            biased;
            () = cancel.cancelled() => return RunOutcome::Cancelled,
            staged = self.stage(&ctx, &plan, events) => staged,
        };
        // The commit is not cancellable: once it starts, the outputs become visible together.
        let committed = match staged {
            Ok(staged) => staged.commit().await.map_err(|error| StepFailure {
                step: Step {
                    kind: StepKind::Output,
                    name: "commit".into(),
                },
                error,
            }),
            Err(failure) => Err(failure),
        };
        match committed {
            Ok(()) => RunOutcome::Completed,
            Err(StepFailure { step, error }) => RunOutcome::Failed {
                step,
                message: error.to_string(),
            },
        }
    }
}
