use sluice_server::{Application, Settings, telemetry};

// DataFusion scans allocate and free a great deal, across threads. glibc's allocator fragments
// under that and keeps what a large query freed, so the next query's memory comes on top of it;
// jemalloc reuses it (docs/metadata.md has the figures).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let settings = Settings::load()?;
    telemetry::init(&settings.log);
    let application = match Application::build(settings).await {
        Ok(application) => application,
        Err(err) => {
            tracing::error!(error = %err, "sluice could not start");
            return Err(err.into());
        }
    };
    application.run_until_stopped().await?;
    Ok(())
}
