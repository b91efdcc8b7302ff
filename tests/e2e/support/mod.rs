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

/// Taken by the tests that load the whole machine (a process under a memory cap, Schemathesis,
/// load through HAProxy), so that no two of them run at once: each one's time bounds assume the
/// two cores are not also busy with another of them. Other tests still run beside each.
pub async fn machine_to_itself() -> tokio::sync::MutexGuard<'static, ()> {
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    HEAVY.lock().await
}
