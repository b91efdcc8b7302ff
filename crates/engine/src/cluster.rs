//! Flows on a Ballista cluster (a flow input's `engine: "ballista"`): the cluster's executors
//! read the sources where they lie (files and Parquet datasets on S3, or on storage they share
//! with Sluice at the same path) and run the transforms; Sluice receives only the rows of the
//! transforms its outputs write, and writes them as a local flow does, with the same staged
//! commit, progress and cancel.
//!
//! Each flow has a Ballista session of its own: its sources are registered as listing tables
//! (Sluice reads their columns, not their rows), every transform as a view over them, and each
//! transform an output reads runs as one Ballista job, the views it reads planned into it.

use ballista::prelude::{SessionConfigExt, SessionContextExt};
use ballista_core::execution_plans::DistributedQueryExec;
use ballista_core::object_store::S3Options;
use ballista_core::serde::protobuf::CancelJobParams;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::protobuf::LogicalPlanNode;
use sluice_domain::flow::FlowId;
use sluice_domain::flow_input::Transform;
use sluice_domain::names::TableName;
use sluice_domain::ports::{FlowPlan, PlannedSource};
use std::sync::Arc;

use crate::analyzer::queries_only;
use crate::connectors::connector_for;
use crate::location::{Locator, S3Settings};
use crate::rows::{RowSink, pass_stream};
use crate::{Error, Result};

/// Ballista's own default port, taken when the URL names none.
const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// One flow's Ballista session.
pub struct Cluster {
    ctx: SessionContext,
    /// The scheduler's gRPC address (`http://host:port`), where jobs are cancelled.
    scheduler: String,
}

impl Cluster {
    /// A session on the scheduler at `url` (`df://host:port`). Nothing is sent to the scheduler
    /// until the first job.
    ///
    /// # Errors
    /// `Unsupported` for a URL that names no host.
    pub async fn connect(
        url: &str,
        flow_id: FlowId,
        target_partitions: usize,
        s3: &S3Settings,
    ) -> Result<Self> {
        let scheduler = grpc_address(url)?;
        let mut config = SessionConfig::new_with_ballista()
            .with_target_partitions(target_partitions)
            // The executors build their S3 stores from these (their credentials are their own:
            // none of Sluice's is sent).
            .with_option_extension(S3Options::default());
        let options = config.options_mut();
        // The scheduler's jobs name the flow they run for.
        options.set("ballista.job.name", &format!("sluice flow {flow_id}"))?;
        // The client asks for the job's status rather than waiting for the scheduler to push
        // it: the job id then comes with the submission's answer, so a job can be cancelled
        // from the moment it exists (pushed, it comes with the first status, which can be late).
        options.set("ballista.client.pull", "true")?;
        if let Some(endpoint) = &s3.endpoint {
            options.set("s3.endpoint", endpoint)?;
            options.set(
                "s3.allow_http",
                &endpoint.starts_with("http://").to_string(),
            )?;
        }
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .build();
        let ctx = SessionContext::remote_with_state(&scheduler, state).await?;
        Ok(Self { ctx, scheduler })
    }

    /// Registers `source` as a table the executors read.
    ///
    /// # Errors
    /// `Location` for a file or folder that is not there; DataFusion's for one whose columns
    /// cannot be read.
    pub async fn add_source(&self, source: &PlannedSource, locator: &Locator) -> Result<()> {
        connector_for(&source.store.connection)
            .files(&source.read, locator)?
            .register(&self.ctx, source.alias.as_str())
            .await
    }

    /// Registers `transform` as a view, planned into the jobs of the transforms that read it.
    ///
    /// # Errors
    /// `Plan` for SQL that does not plan over the tables before it.
    pub async fn add_transform(&self, transform: &Transform) -> Result<()> {
        let view = self
            .ctx
            .sql_with_options(&transform.sql, queries_only())
            .await
            .map_err(|e| Error::plan(&e, &transform.sql))?
            .into_view();
        self.ctx.register_table(transform.name.as_str(), view)?;
        Ok(())
    }

    /// Runs `table`'s transform as one job and passes its rows to `rows` as the executors send
    /// them. The job is cancelled on the cluster when this stops before its last row (a cancel,
    /// a failure of the flow, a reader wanting no more).
    ///
    /// # Errors
    /// DataFusion's, with the job's failure as the executors reported it.
    pub async fn run(&self, table: &TableName, rows: &mut dyn RowSink) -> Result<()> {
        let plan = self
            .ctx
            .table(table.as_str())
            .await?
            .create_physical_plan()
            .await?;
        let job = RunningJob {
            plan: Arc::clone(&plan),
            scheduler: self.scheduler.clone(),
            ended: false,
        };
        let batches = execute_stream(plan, self.ctx.task_ctx())?;
        let result = pass_stream(batches, rows)
            .await
            .map_err(unreachable_said_plainly);
        job.end(result)
    }
}

/// The flow's transforms in an order they can be registered in, each after those it reads.
pub fn transforms_in_order(plan: &FlowPlan) -> impl Iterator<Item = &Transform> {
    (plan.graph.layers().iter().flatten()).map(|&i| &plan.transforms[i])
}

/// A job the scheduler may still be running.
struct RunningJob {
    plan: Arc<dyn ExecutionPlan>,
    scheduler: String,
    ended: bool,
}

impl RunningJob {
    /// The job ran to its last row (or failed on the cluster): nothing to cancel.
    fn end(mut self, result: Result<()>) -> Result<()> {
        self.ended = result.is_ok();
        result
    }

    fn job_id(&self) -> Option<String> {
        let exec = self
            .plan
            .downcast_ref::<DistributedQueryExec<LogicalPlanNode>>()?;
        exec.job_id().map(|id| id.to_string())
    }
}

impl Drop for RunningJob {
    /// Ballista's client forgets a job whose rows are no longer read, and the executors would run
    /// it to its end: the scheduler is told to cancel it, which stops its tasks on the executors.
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let Some(job_id) = self.job_id() else {
            return;
        };
        let scheduler = self.scheduler.clone();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let cancelled = async {
                SchedulerGrpcClient::connect(scheduler)
                    .await
                    .map_err(|e| e.to_string())?
                    .cancel_job(CancelJobParams {
                        job_id: job_id.clone(),
                    })
                    .await
                    .map_err(|e| e.message().to_owned())
            };
            match cancelled.await {
                Ok(_) => tracing::info!(job_id, "cancelled the Ballista job"),
                Err(error) => {
                    tracing::warn!(job_id, error, "could not cancel the Ballista job");
                }
            }
        });
    }
}

/// A connection the client could not make (to the scheduler, or to an executor for the rows),
/// said in words rather than as the gRPC library's debug dump.
fn unreachable_said_plainly(error: Error) -> Error {
    let said = error.to_string();
    if !said.contains("tonic::transport::Error") {
        return error;
    }
    let why = [
        "ConnectionRefused",
        "TimedOut",
        "NotFound",
        "HostUnreachable",
    ]
    .into_iter()
    .find(|kind| said.contains(kind))
    .map_or(String::new(), |kind| format!(" ({kind})"));
    Error::Location(format!(
        "the Ballista cluster could not be reached{why}: the scheduler at engine.ballista.url, or \
         an executor holding the job's rows"
    ))
}

/// `df://host:port` (Ballista's own form), `http://host:port` or `host:port` as the gRPC
/// address the scheduler answers on.
fn grpc_address(url: &str) -> Result<String> {
    let url = url.trim();
    let authority = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') || authority.contains('@') {
        return Err(Error::Unsupported(format!(
            "engine.ballista.url '{url}' is not a scheduler address (df://host:port)"
        )));
    }
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok());
    Ok(if has_port {
        format!("http://{authority}")
    } else {
        format!("http://{authority}:{DEFAULT_SCHEDULER_PORT}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scheduler_url_becomes_its_grpc_address() {
        for (url, address) in [
            ("df://scheduler:50051", "http://scheduler:50051"),
            ("http://127.0.0.1:7000/", "http://127.0.0.1:7000"),
            ("df://scheduler", "http://scheduler:50050"),
            ("scheduler:1", "http://scheduler:1"),
        ] {
            assert_eq!(grpc_address(url).unwrap(), address, "{url}");
        }
        for bad in ["", "df://", "df://a/b", "df://user@host:1"] {
            assert!(grpc_address(bad).is_err(), "{bad}");
        }
    }
}
