//! The services: business rules over the ports.

mod api_keys;
mod data_stores;
mod flow_input_description;
mod flow_inputs;
mod flows;
mod idempotency;
mod metadata;
mod runner;

pub use api_keys::ApiKeyService;
pub use data_stores::DataStoreService;
pub use flow_inputs::FlowInputService;
pub use flows::{DEFAULT_LINES, FlowService, MAX_LINES};
pub use idempotency::IdempotencyService;
pub use metadata::{ConfigurationOverview, MetadataPorts, MetadataService};
pub use runner::{FlowRunner, RunnerSettings};

#[cfg(test)]
mod tests;
