//! Logging: human-readable text or JSON lines, to standard output.

use tracing_subscriber::EnvFilter;

use crate::settings::LogSettings;

/// Logs at `level` (RUST_LOG, when set, decides instead) to standard output, or to standard
/// error when `to_stderr` (a command whose output is read by a person or a script).
pub fn init(settings: &LogSettings, level: &str, to_stderr: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match (settings.format == "json", to_stderr) {
        (true, true) => builder.json().with_writer(std::io::stderr).init(),
        (true, false) => builder.json().init(),
        (false, true) => builder.with_writer(std::io::stderr).init(),
        (false, false) => builder.init(),
    }
}
