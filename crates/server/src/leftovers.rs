//! At start, what flows that are not running left staged in the data folder: a process killed
//! while writing, or a target that did not answer when the flow was settled. A flow RUNNING or
//! CANCELLING (in another process) keeps its staging; anything else's is removed.

use sluice_domain::flow::{FlowId, FlowState};
use sluice_domain::services::FlowService;
use std::path::PathBuf;

/// Looks through the data folder once and removes what is stale; returns how many it removed.
pub async fn remove_stale_staging(root: PathBuf, flows: FlowService) -> usize {
    let staged = tokio::task::spawn_blocking(move || sluice_engine::staged_under(&root))
        .await
        .unwrap_or_default();
    let mut removed = 0;
    for (path, flow) in staged {
        if still_running(&flows, flow).await {
            continue;
        }
        let gone = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match gone {
            Ok(()) => {
                tracing::info!(path = %path.display(), flow = flow.0, "removed what a stopped flow staged");
                removed += 1;
            }
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "could not remove what a stopped flow staged");
            }
        }
    }
    removed
}

/// Whether the flow may still be writing: when its state cannot be read, it is kept.
async fn still_running(flows: &FlowService, flow: FlowId) -> bool {
    match flows.get(flow).await {
        Ok(view) => matches!(
            view.output.state,
            FlowState::Running | FlowState::Cancelling
        ),
        Err(sluice_domain::Error::NotFound { .. }) => false,
        Err(_) => true,
    }
}
