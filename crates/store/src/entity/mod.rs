//! The tables, as sea-orm entities. The schema itself is made by `sluice-migration`.

pub mod api_key;
pub mod data_store;
pub mod flow;
pub mod flow_input;
pub mod flow_input_store;
pub mod flow_output;
pub mod flow_output_line;
pub mod flow_step;
pub mod idempotent_request;
