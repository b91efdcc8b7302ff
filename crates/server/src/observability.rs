//! `/metrics`: the Prometheus recorder every `metrics::` call in Sluice records to, and the
//! gauges read when a scrape asks (flows by state, the READY queue autoscaling follows, the
//! state database's connections).

use async_trait::async_trait;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sluice_api::Scrape;
use sluice_domain::services::FlowService;
use sluice_store::StateDatabase;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Histogram buckets of every `…_seconds` metric: from a fast request to a long flow.
const SECONDS_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0, 600.0,
];

/// The process's recorder, installed once (the `metrics` facade has one global recorder).
fn recorder() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
                .and_then(PrometheusBuilder::install_recorder);
            match installed {
                Ok(handle) => {
                    let upkept = handle.clone();
                    // Histograms are folded and idle series dropped here, not on a scrape.
                    tokio::spawn(async move {
                        loop {
                            tokio::time::sleep(Duration::from_secs(5)).await;
                            upkept.run_upkeep();
                        }
                    });
                    Some(handle)
                }
                Err(err) => {
                    tracing::warn!(error = %err, "metrics are off: the recorder could not be installed");
                    None
                }
            }
        })
        .clone()
}

pub struct PrometheusScrape {
    handle: PrometheusHandle,
    flows: FlowService,
    store: Arc<StateDatabase>,
}

impl PrometheusScrape {
    /// `None` when the recorder cannot be installed (said in the log).
    pub fn install(flows: FlowService, store: Arc<StateDatabase>) -> Option<Self> {
        Some(Self {
            handle: recorder()?,
            flows,
            store,
        })
    }
}

#[async_trait]
impl Scrape for PrometheusScrape {
    async fn render(&self) -> sluice_domain::Result<String> {
        for (state, n) in self.flows.count_by_state().await? {
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!("sluice_flows", "state" => state.as_str()).set(n as f64);
        }
        let (open, idle) = self.store.connections();
        #[allow(clippy::cast_precision_loss)]
        {
            metrics::gauge!("sluice_state_db_connections", "state" => "idle").set(idle as f64);
            metrics::gauge!("sluice_state_db_connections", "state" => "in_use")
                .set(f64::from(open) - idle as f64);
        }
        Ok(self.handle.render())
    }
}
