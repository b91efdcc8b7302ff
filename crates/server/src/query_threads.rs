//! The pipeline metadata's queries run on threads of their own, not on the HTTP workers.
//!
//! An HTTP worker is one thread serving many connections. A metadata query is CPU work (a scan,
//! a sort, decoding Parquet) that DataFusion runs on whichever runtime awaits it; run on a worker,
//! it holds every other request of that worker (registering a store, a flow's view) until it
//! ends. On threads of their own, the operating system shares the cores between them and the
//! workers, so a short request is answered between the slices of a long one. The threads run at
//! a lower priority than the rest of the process, as a batch job does: an interactive call goes
//! first, and the queries take whatever the cores have left.

use async_trait::async_trait;
use sluice_domain::metadata::{
    CollectionLog, CollectionLogQuery, ConfigurationQuery, ConfigurationRepository, DatasetEntry,
    DatasetSpecification, FieldEntry, IssueBatches, IssueCount, IssueCountQuery, IssueFilters,
    IssueLog, IssueQuery, IssueRow, Paged, PerformanceQuery, PerformanceRepository,
    PerformanceTable, Record, ResourceQuery, SpecificationCatalog, SpecificationQuery,
    SpecificationRepository,
};
use sluice_domain::services::MetadataPorts;
use sluice_domain::{Error, Result};
use std::future::Future;
use std::sync::Arc;
use tokio::runtime::{Handle, Runtime};
use tokio_util::task::AbortOnDropHandle;

/// How many batches of an export are read ahead of the client.
const EXPORT_BATCHES_AHEAD: usize = 2;

/// How much lower than the rest of the process the query threads run (a `nice` increment).
const LOWER_PRIORITY: i32 = 5;

/// A pool of threads that runs metadata queries. Cheap to clone; the threads stop when the last
/// clone is dropped.
#[derive(Clone)]
pub struct QueryThreads {
    handle: Handle,
    _runtime: Arc<OwnedRuntime>,
}

/// Stops the runtime without waiting for its queries: dropping a runtime from async code would
/// otherwise panic, and a query nobody awaits any more has no one to answer.
struct OwnedRuntime(Option<Runtime>);

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

impl QueryThreads {
    /// One thread per core.
    ///
    /// # Errors
    /// The operating system's, when it cannot start a thread.
    pub fn start() -> std::io::Result<Self> {
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("sluice-query")
            .on_thread_start(lower_this_threads_priority)
            .enable_all()
            .build()?;
        Ok(Self {
            handle: runtime.handle().clone(),
            _runtime: Arc::new(OwnedRuntime(Some(runtime))),
        })
    }

    /// Runs `query` on the pool. Dropping the returned future (a client that went away) stops the
    /// query at its next await.
    async fn run<T: Send + 'static>(
        &self,
        query: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        AbortOnDropHandle::new(self.handle.spawn(query))
            .await
            .map_err(|err| Error::Internal(format!("a metadata query stopped: {err}")))?
    }

    /// Every port of `ports`, answered on the pool.
    pub fn serve(&self, ports: MetadataPorts) -> MetadataPorts {
        MetadataPorts {
            issues: Arc::new(OnThreads::new(ports.issues, self)),
            performance: Arc::new(OnThreads::new(ports.performance, self)),
            specification: Arc::new(OnThreads::new(ports.specification, self)),
            configuration: Arc::new(OnThreads::new(ports.configuration, self)),
            catalog: Arc::new(OnThreads::new(ports.catalog, self)),
            collection_log: Arc::new(OnThreads::new(ports.collection_log, self)),
        }
    }
}

/// Linux gives each thread its own nice value; `setpriority` of process 0 sets the calling
/// thread's. Raising it needs no privilege. Elsewhere, or if refused, the threads keep the
/// process's priority, which only costs the interactive calls some latency.
pub(crate) fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    {
        let current = rustix::process::getpriority_process(None).unwrap_or(0);
        let _ = rustix::process::setpriority_process(None, current + LOWER_PRIORITY);
    }
}

/// A port whose every call runs on the query threads.
struct OnThreads<P: ?Sized> {
    port: Arc<P>,
    threads: QueryThreads,
}

impl<P: ?Sized> OnThreads<P> {
    fn new(port: Arc<P>, threads: &QueryThreads) -> Self {
        Self {
            port,
            threads: threads.clone(),
        }
    }

    /// Calls `call` with the port and an owned copy of its argument on the pool.
    async fn call<A, T, F, Fut>(&self, argument: A, call: F) -> Result<T>
    where
        P: Send + Sync + 'static,
        A: Send + 'static,
        T: Send + 'static,
        F: FnOnce(Arc<P>, A) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        self.threads.run(call(self.port.clone(), argument)).await
    }
}

#[async_trait]
impl<P: IssueLog + ?Sized + 'static> IssueLog for OnThreads<P> {
    async fn issues(&self, query: &IssueQuery) -> Result<Paged<IssueRow>> {
        self.call(query.clone(), |port, query| async move {
            port.issues(&query).await
        })
        .await
    }

    /// The batches are read and decoded on the pool too, a few ahead of the client: a client
    /// that goes away drops the channel and so ends the reading.
    async fn export(&self, query: &IssueQuery) -> Result<IssueBatches> {
        use futures::StreamExt;
        let mut batches = self
            .call(query.clone(), |port, query| async move {
                port.export(&query).await
            })
            .await?;
        let (sender, receiver) = tokio::sync::mpsc::channel(EXPORT_BATCHES_AHEAD);
        self.threads.handle.spawn(async move {
            while let Some(batch) = batches.next().await {
                if sender.send(batch).await.is_err() {
                    return;
                }
            }
        });
        Ok(Box::pin(futures::stream::unfold(
            receiver,
            |mut receiver| async move { receiver.recv().await.map(|batch| (batch, receiver)) },
        )))
    }

    async fn issue_counts(&self, query: &IssueCountQuery) -> Result<Paged<IssueCount>> {
        self.call(query.clone(), |port, query| async move {
            port.issue_counts(&query).await
        })
        .await
    }

    async fn version(&self, filters: &IssueFilters) -> Result<Option<String>> {
        self.call(filters.clone(), |port, filters| async move {
            port.version(&filters).await
        })
        .await
    }
}

#[async_trait]
impl<P: PerformanceRepository + ?Sized + 'static> PerformanceRepository for OnThreads<P> {
    async fn rows(&self, query: &PerformanceQuery) -> Result<Paged<Record>> {
        self.call(query.clone(), |port, query| async move {
            port.rows(&query).await
        })
        .await
    }

    async fn tables(&self) -> Result<Vec<PerformanceTable>> {
        self.call((), |port, ()| async move { port.tables().await })
            .await
    }
}

#[async_trait]
impl<P: SpecificationRepository + ?Sized + 'static> SpecificationRepository for OnThreads<P> {
    async fn datasets(&self, query: &SpecificationQuery) -> Result<Paged<DatasetSpecification>> {
        self.call(query.clone(), |port, query| async move {
            port.datasets(&query).await
        })
        .await
    }
}

#[async_trait]
impl<P: ConfigurationRepository + ?Sized + 'static> ConfigurationRepository for OnThreads<P> {
    async fn rows(&self, query: &ConfigurationQuery) -> Result<Paged<Record>> {
        self.call(query.clone(), |port, query| async move {
            port.rows(&query).await
        })
        .await
    }
}

#[async_trait]
impl<P: SpecificationCatalog + ?Sized + 'static> SpecificationCatalog for OnThreads<P> {
    async fn dataset(&self, dataset: &str) -> Result<DatasetEntry> {
        self.call(dataset.to_owned(), |port, dataset| async move {
            port.dataset(&dataset).await
        })
        .await
    }

    async fn field(&self, field: &str) -> Result<FieldEntry> {
        self.call(field.to_owned(), |port, field| async move {
            port.field(&field).await
        })
        .await
    }
}

#[async_trait]
impl<P: CollectionLog + ?Sized + 'static> CollectionLog for OnThreads<P> {
    async fn log_entries(&self, query: &CollectionLogQuery) -> Result<Paged<Record>> {
        self.call(query.clone(), |port, query| async move {
            port.log_entries(&query).await
        })
        .await
    }

    async fn resources(&self, query: &ResourceQuery) -> Result<Paged<Record>> {
        self.call(query.clone(), |port, query| async move {
            port.resources(&query).await
        })
        .await
    }
}
