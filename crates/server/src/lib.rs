//! The composition root: the only code that names concrete adapters. `main` reads the settings,
//! sets up telemetry and runs an [`Application`].

pub mod cli;
mod flow_threads;
mod leftovers;
mod metadata;
mod observability;
mod own_files;
mod query_threads;
mod secrets;
pub mod settings;
pub mod telemetry;
mod unconfigured;

use actix_web::middleware::{Condition, Logger, from_fn};
use actix_web::{App, HttpServer};
use secrecy::ExposeSecret;
use sluice_api::{ApiState, Limiter, Stopping, add_problem_instance, count_request, tag_request};
use sluice_domain::flow::RunnerId;
use sluice_domain::services::{
    ApiKeyService, DataStoreService, FlowInputService, FlowRunner, FlowService, IdempotencyService,
    RunnerSettings,
};
use sluice_engine::{DataFolder, DataFusionEngine, DataFusionSqlAnalyzer};
use sluice_store::StateDatabase;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use settings::Settings;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the data folder cannot be used: {0}")]
    DataFolder(#[from] sluice_engine::Error),
    #[error("the state database cannot be used: {0}")]
    StateDatabase(#[from] sluice_domain::Error),
    #[error("the collection archive cannot be used: {0}")]
    Archive(#[from] sluice_parquet::Error),
    #[error("the pipeline configuration cannot be used: {0}")]
    Configuration(sluice_parquet::Error),
    #[error("the specification tables cannot be used: {0}")]
    Specification(sluice_parquet::Error),
    #[error("the collection log cannot be used: {0}")]
    CollectionLog(sluice_parquet::Error),
    #[error("the state database's identity cannot be read: {0}")]
    StateIdentity(sluice_engine::Error),
    #[error("the metadata query threads cannot start: {0}")]
    QueryThreads(std::io::Error),
    #[error("the flow threads cannot start: {0}")]
    FlowThreads(std::io::Error),
    #[error("the settings are inconsistent: {0}")]
    Settings(String),
    #[error("the Datasette databases cannot be used: {0}")]
    Datasette(#[from] sluice_datasette::Error),
    #[error("{0}")]
    Command(String),
    #[error("serving failed: {0}")]
    Serve(std::io::Error),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
}

pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    runner: tokio::task::JoinHandle<()>,
    shutdown: CancellationToken,
    drain_over: CancellationToken,
    stopping: Stopping,
    /// How long running flows may finish once the process is stopping.
    drain: Duration,
    /// How long requests are still served after `/readyz` turns 503.
    shutdown_delay: Duration,
    /// Checkpointed once everything has stopped, so a clean stop leaves no write-ahead log.
    state: Arc<StateDatabase>,
}

impl Application {
    /// Connects the state database (applying migrations), opens the pipeline metadata source,
    /// binds the listener (port 0 picks a free one) and starts the runner, which also settles the
    /// flows of processes that stopped renewing their leases.
    ///
    /// # Errors
    /// A `StartError` saying which part could not start.
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        let folder = DataFolder::new(&settings.data.root)?;
        let state_file = settings.state_file();
        let store = Arc::new(open_state_database(&settings).await?);
        if settings.database_backend() == "postgres" {
            sluice_engine::protect_state_database(&settings.database_url())
                .await
                .map_err(StartError::StateIdentity)?;
        }
        // Once the state database's files exist, so that a hard link to them is known too.
        let engine_settings = settings.engine.to_engine(&settings.s3);
        let folder = own_files::protect(
            folder,
            &settings,
            state_file.as_deref(),
            &engine_settings.scratch,
        )?;
        tracing::info!(state_database = settings.database_backend(), data_folder = %folder.root().display(), "state database ready");
        let data_root = folder.root().to_path_buf();

        let analyzer = Arc::new(DataFusionSqlAnalyzer);
        let wakeup = Arc::new(Notify::new());
        let runner = Arc::new(FlowRunner::new(
            store.clone(),
            store.clone(),
            store.clone(),
            store.clone(),
            analyzer.clone(),
            Arc::new(
                flow_threads::OnFlowThreads::start(
                    Arc::new(DataFusionEngine::new(
                        folder.clone(),
                        engine_settings.clone(),
                    )),
                    engine_settings.target_partitions,
                )
                .map_err(StartError::FlowThreads)?,
            ),
            RunnerSettings {
                runner: runner_id(),
                max_concurrent_flows: settings.runner.max_concurrent_flows,
                poll_interval: Duration::from_millis(settings.runner.poll_interval_ms),
                cancel_check_interval: Duration::from_millis(
                    settings.runner.cancel_check_interval_ms,
                ),
                lease: Duration::from_secs(settings.runner.lease_secs.max(1)),
                retry_backoff: Duration::from_millis(settings.runner.retry_backoff_ms),
                max_crashes: settings.runner.max_crashes.max(1),
            },
            wakeup.clone(),
        ));

        let (metadata, metadata_sources) = metadata::service(&settings).await?;

        let api_keys = ApiKeyService::new(
            store.clone(),
            Duration::from_secs(settings.auth.key_cache_secs),
        );
        let idempotency = IdempotencyService::new(
            store.clone(),
            Duration::from_secs(settings.api.idempotency_keep_hours.saturating_mul(3600)),
        );
        let v1_deprecation = settings
            .api
            .v1_deprecation()
            .map_err(StartError::Settings)?;
        let flows = FlowService::new(store.clone(), store.clone(), wakeup);
        // In the background: serving need not wait for a look through the data folder.
        tokio::spawn(leftovers::remove_stale_staging(
            data_root.clone(),
            flows.clone(),
        ));
        let metrics = sluice_api::MetricsEndpoint {
            scrape: settings
                .metrics
                .enabled
                .then(|| observability::PrometheusScrape::install(flows.clone(), store.clone()))
                .flatten()
                .map(|scrape| Arc::new(scrape) as Arc<dyn sluice_api::Scrape>),
            token: Some(settings.metrics.bearer_token.clone())
                .filter(|token| !token.expose_secret().is_empty()),
        };
        let state = ApiState {
            api_keys,
            auth_policy: settings.auth.policy(),
            v1_deprecation,
            rate_limits: settings.api.rate_limits(),
            idempotency: idempotency.clone(),
            data_stores: DataStoreService::new(store.clone(), Arc::new(folder)),
            flow_inputs: FlowInputService::new(store.clone(), store.clone(), analyzer)
                .with_ballista(settings.engine.ballista.url().is_some()),
            flows,
            metadata,
            metadata_sources,
            readiness: store.clone(),
            stopping: Stopping::default(),
            metrics,
        };
        let stopping = state.stopping.clone();
        let checkpoints = store.clone();
        let wal_file = state_file.as_ref().map(|file| {
            let mut wal = file.clone().into_os_string();
            wal.push("-wal");
            std::path::PathBuf::from(wal)
        });

        let address = settings.server.address.clone();
        let listener = TcpListener::bind(&address).map_err(|source| StartError::Listen {
            address: address.clone(),
            source,
        })?;
        let local = listener.local_addr().map_err(|source| StartError::Listen {
            address: address.clone(),
            source,
        })?;
        let limiter = Limiter::new(settings.server.request_limits());
        let origins = settings.server.cors_origins();
        let server = HttpServer::new(move || {
            let limiter = limiter.clone();
            App::new()
                .wrap(from_fn(add_problem_instance))
                .wrap(from_fn(move |req, next| limiter.clone().apply(req, next)))
                .wrap(Condition::new(!origins.is_empty(), cors(&origins)))
                // One access line per request: method, path and query, status, size, duration,
                // the request's id and the load balancer's trace id.
                .wrap(Logger::new(
                    "%r %s %b %Dms request_id=%{x-request-id}i trace_id=%{x-amzn-trace-id}i",
                ))
                .wrap(from_fn(count_request))
                // Outermost: every part, the access line included, sees the request's id.
                .wrap(from_fn(tag_request))
                .configure(sluice_api::configure(state.clone()))
        })
        .client_request_timeout(Duration::from_secs(
            settings.server.head_read_timeout_secs.max(1),
        ))
        .max_connections(settings.server.max_connections_per_worker.max(1))
        // Once the listener closes, requests in flight get this long to finish; event streams,
        // which would run on, are then closed (their clients resume with Last-Event-ID), so a
        // stop fits in the orchestrator's timeout after the drain.
        .shutdown_timeout(10)
        // Signals are this application's to handle: it drains before the listener closes.
        .disable_signals()
        .listen(listener)
        .map_err(|source| StartError::Listen { address, source })?
        .run();
        tracing::info!("listening on http://{local}");

        let shutdown = CancellationToken::new();
        let drain_over = CancellationToken::new();
        let runner = tokio::spawn(runner.run_until(shutdown.clone(), drain_over.clone()));
        tokio::spawn(checkpoint_until(
            checkpoints,
            wal_file,
            idempotency,
            shutdown.clone(),
        ));
        Ok(Self {
            port: local.port(),
            server,
            runner,
            shutdown,
            drain_over,
            stopping,
            drain: Duration::from_secs(settings.runner.drain_secs),
            shutdown_delay: Duration::from_secs(settings.server.shutdown_delay_secs),
            state: store,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the process is asked to stop (SIGTERM, SIGINT), then stops without losing
    /// work: `/readyz` answers 503 at once; the runner claims no more flows and lets the running
    /// ones finish for up to the drain time (a second signal ends it), handing back those still
    /// running; requests are served for at least the shutdown delay; then the listener closes
    /// and the requests in flight finish.
    ///
    /// # Errors
    /// The server's I/O error.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let mut server = tokio::spawn(self.server);
        tokio::select! {
            () = stop_signal() => {}
            // The server ended by itself: an I/O error to report.
            served = &mut server => {
                self.shutdown.cancel();
                self.drain_over.cancel();
                let _ = self.runner.await;
                return served.unwrap_or_else(|err| Err(std::io::Error::other(err)));
            }
        }
        self.stopping.begin();
        tracing::info!(
            drain_secs = self.drain.as_secs(),
            shutdown_delay_secs = self.shutdown_delay.as_secs(),
            "stopping: /readyz answers 503, no more flows are claimed, the running ones may finish"
        );
        self.shutdown.cancel();
        let drain_over = self.drain_over.clone();
        let drain = self.drain;
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(drain) => {}
                () = stop_signal() => tracing::info!("a second signal: the drain ends now"),
            }
            drain_over.cancel();
        });
        let (runner, ()) = tokio::join!(self.runner, tokio::time::sleep(self.shutdown_delay));
        if let Err(err) = runner {
            tracing::error!(error = %err, "the runner stopped abnormally");
        }
        handle.stop(true).await;
        let served = server
            .await
            .unwrap_or_else(|err| Err(std::io::Error::other(err)));
        if let Err(err) = self.state.checkpoint().await {
            tracing::warn!(error = %err, "could not checkpoint the state database at the stop");
        }
        served
    }
}

/// Waits for SIGTERM (what an orchestrator sends) or SIGINT (Ctrl-C).
async fn stop_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Opens the state database, making the embedded default's folder and applying pending
/// migrations: what serving and every command that works on the state database share.
///
/// # Errors
/// `StartError` when the folder cannot be made or the database cannot be reached or migrated.
pub async fn open_state_database(settings: &Settings) -> Result<StateDatabase, StartError> {
    if let Some(file) = settings.state_file() {
        own_files::prepare_state_file(&file, &settings.data.root, settings.database.url.is_none())?;
    }
    let keyring = secrets::keyring(&settings.secrets)?;
    Ok(StateDatabase::connect(&settings.database_url())
        .await?
        .with_keyring(keyring))
}

/// Cross-origin requests from `origins` only. Not used at all when there are none: a browser then
/// refuses cross-origin calls for want of CORS headers, and other clients see no difference.
fn cors(origins: &[String]) -> actix_cors::Cors {
    origins.iter().fold(
        actix_cors::Cors::default()
            .allowed_methods(["GET", "HEAD", "POST", "DELETE"])
            .allowed_headers([
                actix_web::http::header::CONTENT_TYPE,
                actix_web::http::header::AUTHORIZATION,
                actix_web::http::header::HeaderName::from_static("x-api-key"),
            ])
            .expose_headers([
                "Location",
                "Retry-After",
                "X-Pagination-Total-Results",
                "X-Request-Id",
            ])
            .max_age(3600),
        |cors, origin| cors.allowed_origin(origin),
    )
}

/// How large a SQLite state database's write-ahead log may grow before it is emptied, and how
/// often its size is looked at: under a load of writes the log grows by tens of MB a second, and
/// SQLite's own checkpoints cannot empty it while readers come and go.
const WAL_CHECKPOINT_BYTES: u64 = 16 << 20;
const WAL_LOOK_INTERVAL: Duration = Duration::from_millis(250);

/// Empties a SQLite state database's write-ahead log (see [`StateDatabase::checkpoint`]) whenever it has
/// grown past [`WAL_CHECKPOINT_BYTES`], and every minute in any case; every minute, removes the
/// idempotent answers past their keeping time.
async fn checkpoint_until(
    store: Arc<StateDatabase>,
    wal_file: Option<std::path::PathBuf>,
    idempotency: IdempotencyService,
    shutdown: CancellationToken,
) {
    let mut last_minute = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep(WAL_LOOK_INTERVAL) => {}
            () = shutdown.cancelled() => return,
        }
        let minute_over = last_minute.elapsed() >= Duration::from_secs(60);
        if minute_over {
            last_minute = tokio::time::Instant::now();
            if let Err(err) = idempotency.purge_expired().await {
                tracing::warn!(error = %err, "could not remove expired idempotent answers");
            }
        }
        let grown = wal_file.as_ref().is_some_and(|wal| {
            std::fs::metadata(wal).is_ok_and(|meta| meta.len() > WAL_CHECKPOINT_BYTES)
        });
        if (minute_over || grown)
            && let Err(err) = store.checkpoint().await
        {
            tracing::warn!(error = %err, "could not checkpoint the state database");
        }
    }
}

/// This process's name on the flows it runs: the host (the task, on ECS), the process id and a
/// random part, so two processes never share one even on one host.
fn runner_id() -> RunnerId {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "sluice".into());
    let random = uuid::Uuid::new_v4().simple().to_string();
    RunnerId(format!("{host}-{}-{}", std::process::id(), &random[..8]))
}
