//! The end-to-end harness: starts the built `sluice` binary on port 0 with a temporary data folder
//! and a fresh state database, and talks to it over HTTP like any client.

mod data;
mod inputs;
mod processes;
mod server;

pub use data::*;
pub use inputs::*;
pub use processes::*;
pub use server::*;
