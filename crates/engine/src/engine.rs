//! The engine: runs a flow plan in one DataFusion session.

use async_trait::async_trait;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{GreedyMemoryPool, MemoryPool, MemoryReservation};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::future::{BoxFuture, try_join_all};
use sluice_domain::flow_input::{ExecutionEngine, Transform};
use sluice_domain::names::TableName;
use sluice_domain::ports::{
    FlowEngine, FlowPlan, PlannedSource, PlannedWrites, RunOutcome, Step, StepEvents, StepKind,
    StepPlace,
};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::analyzer::queries_only;
use crate::connectors::{StagedWrite, connector_for};
use crate::folder::DataFolder;
use crate::handoff::Handoff;
use crate::location::{Locator, S3Settings};
use crate::memory_pool::FlowMemoryPool;
use crate::pushdown::{self, Placement, PushedDown};
use crate::rows::{Conformed, StepRows, pass_frame};
use crate::spool::Spool;
use crate::wiring::Wiring;

// Flows on a Ballista cluster: `stage`'s other half.
mod on_cluster;

#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// How many partitions DataFusion splits each scan and operator into (its parallelism).
    pub target_partitions: usize,
    /// How much memory the tables one flow keeps (its sources and transforms) may hold; beyond
    /// it they go to scratch files.
    pub memory_per_flow: usize,
    /// How much memory one flow's operators (joins, aggregates, sorts) may take together; past
    /// it a sort or an aggregate spills to the scratch folder and an operator that cannot spill
    /// (a hash join's build side) fails the flow. 0 for no limit.
    pub operator_memory_per_flow: usize,
    /// Where each flow's scratch folder is made (and removed when the flow ends).
    pub scratch: PathBuf,
    /// How much one flow's sorts, aggregates and joins may spill to its scratch folder; past it
    /// the flow fails and its files are removed.
    pub scratch_per_flow: u64,
    /// How file and columnar stores on S3 are reached.
    pub s3: S3Settings,
    /// Whether transforms reading only one PostgreSQL or MySQL store run in it ([`crate::pushdown`]).
    pub push_down: bool,
    /// The Ballista scheduler flows with [`ExecutionEngine::Ballista`] run on ([`crate::cluster`]).
    pub ballista_url: Option<String>,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            target_partitions: std::thread::available_parallelism().map_or(2, |n| n.get()),
            memory_per_flow: 128 << 20,
            operator_memory_per_flow: 1 << 30,
            scratch: std::env::temp_dir(),
            scratch_per_flow: 4 << 30,
            s3: S3Settings::default(),
            push_down: true,
            ballista_url: None,
        }
    }
}

pub struct DataFusionEngine {
    locator: Locator,
    settings: EngineSettings,
}

/// One flow's run: its session, its scratch folder (removed when the run is dropped), and the
/// budget for the tables it keeps with what they hold of it until then.
///
/// The budget is a pool of its own, not the session's: DataFusion's operators take what they
/// need from the session's pool, because a hash join's build side cannot spill and would fail
/// the flow where kept tables had used up a shared pool.
struct FlowRun {
    ctx: SessionContext,
    scratch: crate::scratch::Scratch,
    kept_rows: Arc<dyn MemoryPool>,
    held: Mutex<Vec<MemoryReservation>>,
}

impl FlowRun {
    /// Where the step making `table` puts its rows: handed off to the one step reading them, or
    /// kept for several.
    fn rows_for(&self, table: &TableName, wiring: &mut Wiring) -> StepRows {
        let ready = wiring.signal(table);
        if wiring.is_handed_off(table) {
            StepRows::HandedOff(Handoff::new(&self.ctx, table.as_str(), ready))
        } else {
            let spool = Spool::new(
                &self.ctx,
                &self.kept_rows,
                table.as_str(),
                self.scratch.path(),
            );
            StepRows::Kept { spool, ready }
        }
    }

    /// Ends a step's rows: a kept table is registered and its readers may start; a handed-off
    /// one tells its reader it is complete. Returns how many rows there are.
    async fn finish(&self, rows: StepRows) -> Result<u64, Error> {
        match rows {
            StepRows::Kept { spool, ready } => {
                let count = self.keep(spool).await?;
                ready.give();
                Ok(count)
            }
            StepRows::HandedOff(handoff) => handoff.finish(),
        }
    }

    /// Forgets the handed-off tables a step read once it is done with them, so that the steps
    /// making them stop if the step needed only some of their rows (a `LIMIT`) or none.
    fn release(&self, tables: Vec<&TableName>) {
        for table in tables {
            let _ = self.ctx.deregister_table(table.as_str());
        }
    }

    /// Registers the spooled rows as their table and returns how many there are.
    async fn keep(&self, rows: Spool) -> Result<u64, Error> {
        let (count, held) = rows.register(&self.ctx).await?;
        if let Some(held) = held {
            self.held
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(held);
        }
        Ok(count)
    }
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
    /// Also removes the scratch folders of Sluice processes on this machine that were killed
    /// before their flows ended.
    pub fn new(folder: DataFolder, settings: EngineSettings) -> Self {
        let swept = crate::scratch::sweep_abandoned(&settings.scratch);
        if swept > 0 {
            tracing::info!(swept, scratch = %settings.scratch.display(), "removed scratch folders of stopped processes");
        }
        Self {
            locator: Locator::new(folder, settings.s3.clone()),
            settings,
        }
    }

    /// An error as a flow's error line shows it: no source values, no server paths.
    fn shown(&self, error: &Error) -> String {
        let message = self.locator.relative(&error.for_flow());
        // A flow's scratch files are named from their own folder; where that lies is not said.
        let scratch = format!("{}/", self.settings.scratch.display());
        message.replace(
            &format!("{scratch}{}", crate::scratch::PREFIX),
            crate::scratch::PREFIX,
        )
    }

    /// A session of its own for one flow. Its operators share a pool of
    /// [`EngineSettings::operator_memory_per_flow`], apart from the kept tables' budget (see
    /// [`FlowRun`]), so that one flow cannot take the process's memory; any temporary file an
    /// operator makes goes to the flow's scratch folder.
    fn session(&self, scratch: &crate::scratch::Scratch) -> Result<SessionContext, Error> {
        let mut runtime = RuntimeEnvBuilder::new().with_disk_manager_builder(
            DiskManagerBuilder::default()
                .with_mode(DiskManagerMode::Directories(vec![scratch.path().into()]))
                .with_max_temp_directory_size(self.settings.scratch_per_flow),
        );
        if self.settings.operator_memory_per_flow > 0 {
            // Fair: each spilling operator gets its share, rather than the first taking all, and
            // operators that cannot spill keep room (see `memory_pool`).
            runtime = runtime.with_memory_pool(Arc::new(FlowMemoryPool::new(
                self.settings.operator_memory_per_flow,
            )));
        }
        let runtime = runtime.build_arc()?;
        // DataFusion's own settings can be tuned with DATAFUSION_* variables
        // (DATAFUSION_EXECUTION_PARQUET_MAX_ROW_GROUP_SIZE=…).
        let config =
            SessionConfig::from_env()?.with_target_partitions(self.settings.target_partitions);
        Ok(SessionContext::new_with_config_rt(config, runtime))
    }

    /// Everything but the commit: ingest, transform, and stage the outputs, every step running
    /// as soon as the tables it reads are ready.
    async fn stage(
        &self,
        run: &FlowRun,
        plan: &FlowPlan,
        events: &dyn StepEvents,
    ) -> Result<Box<dyn StagedWrite>, StepFailure> {
        if plan.engine == ExecutionEngine::Ballista {
            return self.stage_on_cluster(run, plan, events).await;
        }
        let placements = if self.settings.push_down {
            pushdown::place(plan, &run.ctx.copied_config()).await
        } else {
            plan.transforms
                .iter()
                .map(|_| Placement::InSluice(None))
                .collect()
        };
        let pushed: Vec<bool> = (placements.iter())
            .map(|placement| matches!(placement, Placement::PushedDown(_)))
            .collect();
        let mut wiring = Wiring::of(plan, &pushed);
        // A source whose every reader runs in its database is not read into Sluice at all.
        let mut source_rows = Vec::new();
        for source in &plan.sources {
            match read_only_in_its_database(plan, &placements, &source.alias) {
                Some(place) => {
                    events
                        .pushed_down(&Step::ingest(&source.alias), place)
                        .await
                }
                None => source_rows.push((source, run.rows_for(&source.alias, &mut wiring))),
            }
        }
        let transform_rows: Vec<StepRows> = (plan.transforms.iter())
            .map(|transform| run.rows_for(&transform.name, &mut wiring))
            .collect();
        let wiring = &wiring;
        let mut makers: Vec<BoxFuture<'_, Result<(), StepFailure>>> = Vec::new();
        for (source, rows) in source_rows {
            let reported = wiring.reporting(&source.alias);
            makers.push(Box::pin(async move {
                let _reported = reported;
                self.ingest(run, source, rows, events).await
            }));
        }
        let transforms = plan.transforms.iter().zip(transform_rows).zip(placements);
        for (i, ((transform, rows), placement)) in transforms.enumerate() {
            makers.push(match placement {
                Placement::PushedDown(pushed) => Box::pin(self.pushed_down(
                    run,
                    wiring,
                    transform,
                    pushed,
                    rows,
                    events,
                    plan.flow_id,
                )),
                Placement::InSluice(not_pushed) => {
                    let reads = plan.graph.dependencies(i);
                    Box::pin(
                        self.transform(run, wiring, transform, reads, rows, events, not_pushed),
                    )
                }
            });
        }
        let outputs = self.write_outputs(run, wiring, plan, events);
        let (_, staged) = futures::try_join!(try_join_all(makers), outputs)?;
        Ok(staged)
    }

    /// Writes the outputs one after another into one write of the flow's target, begun when the
    /// first output's rows are ready.
    async fn write_outputs(
        &self,
        run: &FlowRun,
        wiring: &Wiring,
        plan: &FlowPlan,
        events: &dyn StepEvents,
    ) -> Result<Box<dyn StagedWrite>, StepFailure> {
        let connector = connector_for(&plan.target.connection);
        let steps = plan.writes.steps();
        let transforms = plan.writes.transforms();
        let (steps, transforms) = (&steps, &transforms);
        let ready = |i: usize| async move {
            let reads = std::slice::from_ref(transforms[i]);
            wiring.wait_for(reads).await.map_err(failed_at(&steps[i]))?;
            events.started(&steps[i], &StepPlace::Sluice).await;
            let data = run
                .ctx
                .table(transforms[i].as_str())
                .await
                .map_err(|e| failed_at(&steps[i])(e.into()))?;
            Ok::<_, StepFailure>((data, Instant::now()))
        };
        let done = |i: usize, rows: u64, started: Instant| async move {
            let reads = std::slice::from_ref(transforms[i]);
            run.release(wiring.handed_off(reads));
            wiring.wait_for_reports(reads).await;
            events.finished(&steps[i], rows, started.elapsed()).await;
        };
        match &plan.writes {
            PlannedWrites::Tables(outputs) => {
                let mut staged = None;
                for (i, output) in outputs.iter().enumerate() {
                    let (data, started) = ready(i).await?;
                    let write = match staged.as_mut() {
                        Some(write) => write,
                        None => staged.insert(
                            (connector.begin_tables(&self.locator, plan.flow_id).await)
                                .map_err(failed_at(&steps[i]))?,
                        ),
                    };
                    let rows = (write
                        .write(&run.ctx, &output.table, output.mode, data)
                        .await)
                        .map_err(failed_at(&steps[i]))?;
                    done(i, rows, started).await;
                }
                // A plan of tables writes at least one (`PlannedWrites::of`).
                staged
                    .map(|write| write as Box<dyn StagedWrite>)
                    .ok_or_else(|| StepFailure {
                        step: Step {
                            kind: StepKind::Output,
                            name: "outputs".into(),
                        },
                        error: Error::Unsupported("the flow has no outputs".into()),
                    })
            }
            PlannedWrites::File(output) => {
                let (data, started) = ready(0).await?;
                let mut write = (connector.begin_file(&self.locator, plan.flow_id).await)
                    .map_err(failed_at(&steps[0]))?;
                let rows = (write.write(&run.ctx, output.mode, data).await)
                    .map_err(failed_at(&steps[0]))?;
                done(0, rows, started).await;
                Ok(write)
            }
        }
    }

    async fn ingest(
        &self,
        run: &FlowRun,
        source: &PlannedSource,
        mut rows: StepRows,
        events: &dyn StepEvents,
    ) -> Result<(), StepFailure> {
        let step = Step::ingest(&source.alias);
        events.started(&step, &StepPlace::Sluice).await;
        let started = Instant::now();
        let connector = connector_for(&source.store.connection)
            .source(&source.read, &self.locator)
            .map_err(failed_at(&step))?;
        connector
            .read(&run.ctx, &mut rows)
            .await
            .map_err(failed_at(&step))?;
        let rows = run.finish(rows).await.map_err(failed_at(&step))?;
        events.finished(&step, rows, started.elapsed()).await;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn transform(
        &self,
        run: &FlowRun,
        wiring: &Wiring,
        transform: &Transform,
        reads: &[TableName],
        mut rows: StepRows,
        events: &dyn StepEvents,
        not_pushed_down: Option<String>,
    ) -> Result<(), StepFailure> {
        let step = Step::transform(transform);
        let _reported = wiring.reporting(&transform.name);
        wiring.wait_for(reads).await.map_err(failed_at(&step))?;
        events.started(&step, &StepPlace::Sluice).await;
        if let Some(why) = not_pushed_down {
            let line =
                format!("runs in Sluice rather than in the database holding its sources: {why}");
            events.note(&step, &line).await;
        }
        let started = Instant::now();
        let data = run
            .ctx
            .sql_with_options(&transform.sql, queries_only())
            .await
            .map_err(|e| failed_at(&step)(Error::plan(&e, &transform.sql)))?;
        // Run once, so every reader sees the same rows and the step can count them.
        pass_frame(data, &mut rows)
            .await
            .map_err(failed_at(&step))?;
        run.release(wiring.handed_off(reads));
        let rows = run.finish(rows).await.map_err(failed_at(&step))?;
        wiring.wait_for_reports(reads).await;
        events.finished(&step, rows, started.elapsed()).await;
        Ok(())
    }
}

impl DataFusionEngine {
    /// Runs a transform in the database holding its sources and takes its rows as the
    /// transform's, in the columns Sluice would have made.
    #[allow(clippy::too_many_arguments)]
    async fn pushed_down(
        &self,
        run: &FlowRun,
        wiring: &Wiring,
        transform: &Transform,
        pushed: PushedDown,
        mut rows: StepRows,
        events: &dyn StepEvents,
        flow_id: sluice_domain::flow::FlowId,
    ) -> Result<(), StepFailure> {
        let step = Step::transform(transform);
        let _reported = wiring.reporting(&transform.name);
        events.started(&step, &pushed.place).await;
        events
            .note(&step, &format!("the database runs: {}", pushed.sql))
            .await;
        tracing::debug!(flow_id = %flow_id, step = %step, sql = %pushed.sql, "pushed down; DataFusion's plan:\n{}", pushed.plan);
        let started = Instant::now();
        let mut conformed = Conformed::new(&mut rows, pushed.schema);
        pushed
            .connector
            .read(&run.ctx, &mut conformed)
            .await
            .map_err(failed_at(&step))?;
        let rows = run.finish(rows).await.map_err(failed_at(&step))?;
        events.finished(&step, rows, started.elapsed()).await;
        Ok(())
    }
}

/// Where `alias` was read when every transform reading it was pushed down to its database;
/// `None` when Sluice reads it (or nothing does).
fn read_only_in_its_database<'p>(
    plan: &FlowPlan,
    placements: &'p [Placement],
    alias: &TableName,
) -> Option<&'p StepPlace> {
    let mut place = None;
    for (i, placement) in placements.iter().enumerate() {
        if !plan.graph.dependencies(i).contains(alias) {
            continue;
        }
        match placement {
            Placement::PushedDown(pushed) => place = Some(&pushed.place),
            Placement::InSluice(_) => return None,
        }
    }
    place
}

#[async_trait]
impl FlowEngine for DataFusionEngine {
    async fn run(
        &self,
        plan: FlowPlan,
        events: Arc<dyn StepEvents>,
        cancel: CancellationToken,
    ) -> RunOutcome {
        let events = events.as_ref();
        let run = match crate::scratch::create(&self.settings.scratch).and_then(|scratch| {
            Ok(FlowRun {
                ctx: self.session(&scratch)?,
                scratch,
                kept_rows: Arc::new(GreedyMemoryPool::new(self.settings.memory_per_flow)),
                held: Mutex::default(),
            })
        }) {
            Ok(run) => run,
            Err(error) => {
                return RunOutcome::Failed {
                    step: Step {
                        kind: StepKind::Ingest,
                        name: "scratch".into(),
                    },
                    message: self.shown(&error),
                };
            }
        };
        // Dropping the staging future stops every DataFusion stream it runs and rolls back or
        // removes whatever it staged.
        let staged = tokio::select! {
            biased;
            () = cancel.cancelled() => return RunOutcome::Cancelled,
            staged = self.stage(&run, &plan, events) => staged,
        };
        // The commit is not cancellable: once it starts, the outputs become visible together.
        // Nor is it this process's to make once another has settled the flow (its lease ran
        // out while it was paused, say): dropping the staged writes then rolls them back.
        let may_commit = staged.is_ok() && events.may_commit().await;
        let staged = match staged {
            Ok(staged) if !may_commit => {
                drop(staged);
                Err(StepFailure {
                    step: Step {
                        kind: StepKind::Output,
                        name: "commit".into(),
                    },
                    error: Error::Unsupported(
                        "this process no longer holds the flow's lease; the targets were left \
                         unchanged"
                            .into(),
                    ),
                })
            }
            other => other,
        };
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
                message: self.shown(&error),
            },
        }
    }

    async fn discard_leftovers(&self, plan: &FlowPlan) -> sluice_domain::Result<()> {
        connector_for(&plan.target.connection)
            .discard_leftovers(&self.locator, plan.flow_id)
            .await
            .map_err(|error| sluice_domain::Error::Unavailable(error.to_string()))
    }
}
