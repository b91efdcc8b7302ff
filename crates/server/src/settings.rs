//! Settings: `config/default.toml` (embedded in the binary), then `config/<SLUICE_ENVIRONMENT>.toml`
//! when present, then environment variables `SLUICE__SECTION__KEY`.

use config::{Config, Environment, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::path::{Path, PathBuf};

const DEFAULTS: &str = include_str!("../../../config/default.toml");

#[derive(Debug, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    #[serde(default)]
    pub database: DatabaseSettings,
    pub data: DataSettings,
    pub runner: RunnerSettings,
    pub log: LogSettings,
}

#[derive(Debug, Deserialize)]
pub struct ServerSettings {
    pub address: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct DatabaseSettings {
    /// May hold a password: kept secret, never logged.
    pub url: Option<SecretString>,
}

#[derive(Debug, Deserialize)]
pub struct DataSettings {
    pub root: PathBuf,
}

#[derive(Debug, Deserialize)]
pub struct RunnerSettings {
    pub max_concurrent_flows: usize,
    pub poll_interval_ms: u64,
    pub cancel_check_interval_ms: u64,
}

#[derive(Debug, Deserialize)]
pub struct LogSettings {
    pub format: String,
    pub level: String,
}

impl Settings {
    /// # Errors
    /// A `config` error naming the key that is missing or malformed.
    pub fn load() -> Result<Self, config::ConfigError> {
        let environment = std::env::var("SLUICE_ENVIRONMENT").unwrap_or_else(|_| "local".into());
        Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .add_source(File::with_name(&format!("config/{environment}")).required(false))
            .add_source(
                Environment::with_prefix("SLUICE")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true),
            )
            .build()?
            .try_deserialize()
    }

    /// The metadata store's URL; by default a SQLite file in the data folder.
    pub fn database_url(&self, data_root: &Path) -> String {
        match &self.database.url {
            Some(url) => url.expose_secret().to_owned(),
            None => format!(
                "sqlite://{}?mode=rwc",
                data_root.join("sluice.sqlite").display()
            ),
        }
    }

    /// The kind of metadata store, for logs (the URL may hold a password).
    pub fn database_backend(&self) -> &'static str {
        match &self.database.url {
            Some(url) if url.expose_secret().starts_with("postgres") => "postgres",
            _ => "sqlite",
        }
    }
}
