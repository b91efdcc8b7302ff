//! Logging: human-readable text or JSON lines, to standard output.

use tracing_subscriber::EnvFilter;

use crate::settings::LogSettings;

pub fn init(settings: &LogSettings) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if settings.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
