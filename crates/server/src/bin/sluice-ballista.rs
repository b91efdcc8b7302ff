//! `sluice-ballista scheduler …` and `sluice-ballista executor …`: Ballista's own scheduler and
//! executor processes, built from the same DataFusion as Sluice so that the plans Sluice submits
//! and the executors that run them agree on every function and type. The flags after the
//! subcommand are Ballista's own (`sluice-ballista scheduler --help`); what this binary adds is
//! S3 support in both (object stores configured from the session, as Ballista's binaries do) and
//! one image for both ECS services.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_core::error::{BallistaError, Result};
use ballista_core::object_store::{
    runtime_env_with_s3_support, session_config_with_s3_support, session_state_with_s3_support,
};
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service};
use ballista_scheduler::scheduler_server::SchedulerServer;
use clap::Parser;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use tracing_subscriber::EnvFilter;

/// How often the scheduler says how many jobs wait and run.
const QUEUE_DEPTH_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

const USAGE: &str = "usage: sluice-ballista <scheduler|executor> [Ballista's flags…]";

fn main() -> Result<()> {
    let mut args = std::env::args();
    let program = args.next().unwrap_or_else(|| "sluice-ballista".into());
    let role = args.next().unwrap_or_default();
    // Ballista's own parsers see "sluice-ballista scheduler" as the program name.
    let argv = std::iter::once(format!("{program} {role}")).chain(args);
    match role.as_str() {
        "scheduler" => runtime().block_on(scheduler(
            ballista_scheduler::config::Config::parse_from(argv),
        )),
        "executor" => runtime().block_on(executor(ballista_executor::config::Config::parse_from(
            argv,
        ))),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
}

/// Ballista's planner recurses deeply over large plans: its binaries give each thread 32 MB.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(32 * 1024 * 1024)
        .build()
        .expect("a tokio runtime")
}

fn log_to_stdout(default_filter: &str) {
    let filter =
        std::env::var(EnvFilter::DEFAULT_ENV).unwrap_or_else(|_| default_filter.to_string());
    tracing_subscriber::fmt()
        .with_ansi(false)
        .with_env_filter(EnvFilter::new(filter))
        .init();
}

async fn scheduler(options: ballista_scheduler::config::Config) -> Result<()> {
    use ballista_scheduler::cluster::BallistaCluster;
    use ballista_scheduler::config::SchedulerConfig;

    log_to_stdout(&options.log_level_setting);
    let addr: SocketAddr = format!("{}:{}", options.bind_host, options.bind_port)
        .parse()
        .map_err(|e: std::net::AddrParseError| BallistaError::Configuration(e.to_string()))?;
    let config: SchedulerConfig = options.try_into()?;
    let config = config
        .with_override_config_producer(Arc::new(session_config_with_s3_support))
        .with_override_session_builder(Arc::new(session_state_with_s3_support));
    config.validate()?;
    let cluster = BallistaCluster::new_from_config(&config).await?;
    let scheduler =
        create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, Arc::new(config)).await?;
    tokio::spawn(report_queue_depth(scheduler.clone()));
    start_grpc_service(addr, scheduler).await
}

/// Every [`QUEUE_DEPTH_EVERY`], one JSON line on stdout with the jobs waiting for executors and
/// those running: deploy/ turns it into the CloudWatch metrics the executors scale on (a log
/// metric filter), so no AWS client is needed here.
async fn report_queue_depth(scheduler: SchedulerServer<LogicalPlanNode, PhysicalPlanNode>) {
    let mut every = tokio::time::interval(QUEUE_DEPTH_EVERY);
    loop {
        every.tick().await;
        println!(
            "{{\"ballista_queue\":{{\"pending_jobs\":{},\"running_jobs\":{}}}}}",
            scheduler.pending_job_number(),
            scheduler.running_job_number()
        );
    }
}

async fn executor(options: ballista_executor::config::Config) -> Result<()> {
    use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};

    let health_addr: SocketAddr = format!("{}:{}", options.bind_host, options.bind_health_port)
        .parse()
        .map_err(|e| BallistaError::General(format!("invalid --bind-health-port address: {e}")))?;
    let mut config: ExecutorProcessConfig = options.try_into()?;
    config.override_config_producer = Some(Arc::new(session_config_with_s3_support));
    config.override_runtime_producer = Some(Arc::new(runtime_env_with_s3_support));
    log_to_stdout(&config.special_mod_log_level);

    // /healthz and /readyz for the load balancer's and ECS's health checks.
    let (stop_health, health_stopped) = tokio::sync::oneshot::channel();
    let health = ballista_executor::health::spawn_health_server(
        health_addr,
        config.health.clone(),
        health_stopped,
    );
    let result = start_executor_process(Arc::new(config)).await;
    let _ = stop_health.send(());
    let _ = health.await;
    result
}
