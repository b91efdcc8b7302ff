use sluice_server::{Application, Settings, telemetry};

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
