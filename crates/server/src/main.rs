use clap::Parser;
use sluice_server::cli::{Cli, Command};
use sluice_server::{Application, Settings, open_state_database, telemetry};

// DataFusion scans allocate and free a great deal, across threads. glibc's allocator fragments
// under that and keeps what a large query freed, so the next query's memory comes on top of it;
// jemalloc reuses it (docs/metadata.md has the figures).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    let settings = Settings::load()?;
    let command = cli.command.unwrap_or(Command::Serve);
    // A command's output is for the person or script that ran it: logs go to standard error.
    let level = sluice_server::cli::log_level(&command, cli.verbose, &settings.log.level);
    telemetry::init(&settings.log, level, !matches!(command, Command::Serve));
    let outcome = match command {
        Command::Serve => serve(settings).await,
        Command::Migrate => open_state_database(&settings).await.map(|_| {
            eprintln!("the state database is up to date");
        }),
        Command::Keys(keys) => sluice_server::cli::keys(&settings, keys).await,
        Command::Secrets(secrets) => sluice_server::cli::secrets(&settings, secrets).await,
    };
    if let Err(err) = outcome {
        tracing::error!(error = %err, "sluice stopped");
        return Err(err.into());
    }
    Ok(())
}

async fn serve(settings: Settings) -> Result<(), sluice_server::StartError> {
    let application = Application::build(settings).await?;
    application
        .run_until_stopped()
        .await
        .map_err(sluice_server::StartError::Serve)
}
