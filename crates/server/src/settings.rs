//! Settings: `config/default.toml` (embedded in the binary), then `config/<SLUICE_ENVIRONMENT>.toml`
//! when present, then environment variables `SLUICE__SECTION__KEY`.

use config::{Config, Environment, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::path::PathBuf;

const DEFAULTS: &str = include_str!("../../../config/default.toml");

/// The metadata locations whose built-in defaults are sample folders relative to the working
/// folder: left at their default and not there, they are not configured rather than broken.
const DEFAULTED_LOCATIONS: [&str; 4] = [
    "archive.url",
    "configuration.url",
    "specification.url",
    "collection_log.url",
];

#[derive(Debug, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    #[serde(default)]
    pub database: DatabaseSettings,
    pub data: DataSettings,
    pub runner: RunnerSettings,
    pub engine: EngineSettings,
    #[serde(default)]
    pub s3: S3Settings,
    pub archive: ArchiveSettings,
    pub configuration: ConfigurationSettings,
    pub specification: SpecificationSettings,
    pub collection_log: CollectionLogSettings,
    #[serde(default)]
    pub datasette: DatasetteSettings,
    pub auth: AuthSettings,
    pub api: ApiSettings,
    pub log: LogSettings,
    pub metrics: MetricsSettings,
    /// Which of [`DEFAULTED_LOCATIONS`] hold their built-in default ([`Settings::is_default`]).
    #[serde(skip)]
    defaulted: Vec<String>,
    pub secrets: SecretsSettings,
}

/// How data store passwords are sealed at rest.
#[derive(Debug, Deserialize)]
pub struct SecretsSettings {
    /// The key passwords are sealed with: 32 bytes, base64. Empty: the key file's.
    #[serde(default)]
    pub key: SecretString,
    /// Its id, kept with each sealed password.
    pub key_id: String,
    /// Keys sealed passwords may still be under, `id:base64` comma-separated (while rotating).
    #[serde(default)]
    pub previous_keys: SecretString,
    /// Where the key is kept when `key` is empty, made on first start; empty: `key` is needed.
    #[serde(default)]
    pub key_file: String,
}

/// `GET /metrics`.
#[derive(Debug, Deserialize)]
pub struct MetricsSettings {
    pub enabled: bool,
    /// When not empty, a scrape must send it as `Authorization: Bearer …`.
    #[serde(default)]
    pub bearer_token: SecretString,
}

/// What every API version shares.
#[derive(Debug, Deserialize)]
pub struct ApiSettings {
    /// How long the answer to a request sent with an `Idempotency-Key` is kept for its retries.
    pub idempotency_keep_hours: u64,
    /// When `/v1` is (or was) deprecated, RFC 3339; sent as `Deprecation` on every `/v1` answer.
    #[serde(default)]
    pub v1_deprecated_at: Option<String>,
    /// When `/v1` goes away, RFC 3339; sent as `Sunset`.
    #[serde(default)]
    pub v1_sunset_at: Option<String>,
    /// Requests a second each API key (or client address without one) may make; 0 for no limit.
    pub rate_limit_per_second: u32,
    /// Requests a client may make at once above the rate; 0 for as many as the rate.
    pub rate_limit_burst: u32,
}

impl ApiSettings {
    pub fn rate_limits(&self) -> sluice_api::RateLimits {
        sluice_api::RateLimits {
            per_second: self.rate_limit_per_second,
            burst: self.rate_limit_burst,
        }
    }

    /// # Errors
    /// A message naming the setting that is not an RFC 3339 date-time.
    pub fn v1_deprecation(&self) -> Result<sluice_api::Deprecation, String> {
        let parse = |name: &str, raw: &Option<String>| -> Result<_, String> {
            raw.as_deref()
                .map(str::trim)
                .filter(|raw| !raw.is_empty())
                .map(|raw| {
                    chrono::DateTime::parse_from_rfc3339(raw)
                        .map(|at| at.to_utc())
                        .map_err(|e| format!("api.{name} must be an RFC 3339 date-time such as 2027-06-30T00:00:00Z: {e}"))
                })
                .transpose()
        };
        Ok(sluice_api::Deprecation {
            deprecated_at: parse("v1_deprecated_at", &self.v1_deprecated_at)?,
            sunset_at: parse("v1_sunset_at", &self.v1_sunset_at)?,
        })
    }
}

/// Who may call the versioned API (docs/security.md).
#[derive(Debug, Deserialize)]
pub struct AuthSettings {
    /// Every `/v1` and `/v2` request needs an API key.
    pub required: bool,
    /// Reads need no key even when keys are required.
    pub public_read: bool,
    /// How long a checked key is remembered before the state database is asked again: a key
    /// revoked through another process is refused here at most this long after.
    pub key_cache_secs: u64,
}

impl AuthSettings {
    pub fn policy(&self) -> sluice_api::AuthPolicy {
        sluice_api::AuthPolicy {
            required: self.required,
            public_read: self.public_read,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ServerSettings {
    pub address: String,
    /// How long a client may take to send a request body, in seconds.
    pub body_read_timeout_secs: u64,
    /// How long a client may take to send a request's head, in seconds.
    pub head_read_timeout_secs: u64,
    /// Requests one client address may have in flight at once; 0 for no limit.
    pub max_requests_per_client: usize,
    /// Connections each worker thread holds at once.
    pub max_connections_per_worker: usize,
    /// Origins allowed to call the API from a browser, comma-separated; empty for none.
    #[serde(default)]
    pub cors_allowed_origins: String,
    /// How long a stopping process keeps serving after `/readyz` turns 503.
    pub shutdown_delay_secs: u64,
}

impl ServerSettings {
    pub fn request_limits(&self) -> sluice_api::RequestLimits {
        sluice_api::RequestLimits {
            body_read_timeout: std::time::Duration::from_secs(self.body_read_timeout_secs.max(1)),
            max_requests_per_client: self.max_requests_per_client,
        }
    }

    pub fn cors_origins(&self) -> Vec<String> {
        split(Some(&self.cors_allowed_origins))
            .map(str::to_owned)
            .collect()
    }
}

#[derive(Debug, Deserialize)]
pub struct DatabaseSettings {
    /// May hold a password: kept secret, never logged.
    pub url: Option<SecretString>,
    /// The SQLite state database used when `url` is unset. Outside the data folder, so that no
    /// data store can name it.
    #[serde(default = "default_state_file")]
    pub path: PathBuf,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: None,
            path: default_state_file(),
        }
    }
}

fn default_state_file() -> PathBuf {
    PathBuf::from("state/sluice.sqlite")
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
    /// How long a claim on a running flow lasts unless its process renews it.
    pub lease_secs: u64,
    /// How long a stopping process lets its running flows finish before handing them back.
    pub drain_secs: u64,
    /// How long a failed attempt of a flow waits before the next, doubled after each.
    pub retry_backoff_ms: u64,
    /// How many processes may die running one flow before it is failed rather than run again.
    #[serde(default = "default_max_crashes")]
    pub max_crashes: u32,
}

fn default_max_crashes() -> u32 {
    2
}

/// How each flow runs.
#[derive(Debug, Deserialize)]
pub struct EngineSettings {
    /// How much memory the tables one flow keeps may hold before they go to scratch files.
    pub memory_per_flow_mb: usize,
    /// How much memory one flow's joins, aggregates and sorts may take together; 0 for no limit.
    pub operator_memory_per_flow_mb: usize,
    /// Where flows' scratch folders are made; empty for the system's temporary folder.
    pub scratch_dir: String,
    /// How much one flow's sorts, aggregates and joins may write to its scratch folder.
    #[serde(default = "default_scratch_per_flow_mb")]
    pub scratch_per_flow_mb: u64,
    /// Whether a transform reading only tables of one PostgreSQL or MySQL store runs in that
    /// database (docs/flows.md).
    pub push_down: bool,
    #[serde(default)]
    pub ballista: BallistaSettings,
}

/// The Ballista cluster flow inputs with `engine: "ballista"` run on.
#[derive(Debug, Default, Deserialize)]
pub struct BallistaSettings {
    /// The scheduler's gRPC address (`df://scheduler:50050` or `http://…`); empty for none, and
    /// then such inputs are refused.
    #[serde(default)]
    pub url: String,
}

impl BallistaSettings {
    pub fn url(&self) -> Option<String> {
        Some(self.url.trim().to_owned()).filter(|url| !url.is_empty())
    }
}

/// How file and columnar stores on S3 (`s3://bucket/key` paths) are reached.
#[derive(Debug, Default, Deserialize)]
pub struct S3Settings {
    /// An S3-compatible server to use instead of AWS.
    pub endpoint: Option<String>,
    /// Address buckets as `endpoint/bucket/key`, as most S3-compatible servers need.
    #[serde(default)]
    pub path_style: bool,
}

fn default_scratch_per_flow_mb() -> u64 {
    4096
}

impl EngineSettings {
    pub fn to_engine(&self, s3: &S3Settings) -> sluice_engine::EngineSettings {
        let defaults = sluice_engine::EngineSettings::default();
        sluice_engine::EngineSettings {
            memory_per_flow: self.memory_per_flow_mb.max(1).saturating_mul(1 << 20),
            operator_memory_per_flow: self.operator_memory_per_flow_mb.saturating_mul(1 << 20),
            scratch: if self.scratch_dir.trim().is_empty() {
                defaults.scratch.clone()
            } else {
                PathBuf::from(self.scratch_dir.trim())
            },
            scratch_per_flow: self.scratch_per_flow_mb.max(1).saturating_mul(1 << 20),
            s3: sluice_engine::S3Settings {
                endpoint: s3.endpoint.clone().filter(|e| !e.trim().is_empty()),
                path_style: s3.path_style,
            },
            push_down: self.push_down,
            ballista_url: self.ballista.url(),
            ..defaults
        }
    }
}

/// The Parquet collection archive the metadata endpoints read.
#[derive(Debug, Deserialize)]
pub struct ArchiveSettings {
    /// A folder (relative to the working directory) or `s3://bucket/prefix`.
    pub url: String,
    /// An S3-compatible server to use instead of AWS.
    pub endpoint: Option<String>,
    pub issue_path: String,
    pub performance_path: String,
    pub specification_path: String,
    /// How long a listing of the archive's files is reused before new files are looked for.
    pub listing_refresh_secs: u64,
    /// How much memory the Parquet footers kept between queries may take.
    pub footer_cache_mb: usize,
    /// A local folder where what Sluice learns of the archive's files is kept across restarts;
    /// empty to learn it again in each process.
    #[serde(default)]
    pub index_dir: String,
}

impl ArchiveSettings {
    pub fn to_adapter(&self) -> sluice_parquet::ArchiveSettings {
        sluice_parquet::ArchiveSettings {
            url: self.url.clone(),
            endpoint: self.endpoint.clone().filter(|e| !e.is_empty()),
            issue_path: self.issue_path.clone(),
            performance_path: self.performance_path.clone(),
            specification_path: self.specification_path.clone(),
            listing_refresh: std::time::Duration::from_secs(self.listing_refresh_secs),
            footer_cache_bytes: self.footer_cache_mb.saturating_mul(1 << 20),
            index_dir: self.index_dir().map(PathBuf::from),
        }
    }

    /// The archive index's folder, when one is set.
    pub fn index_dir(&self) -> Option<&str> {
        Some(self.index_dir.trim()).filter(|dir| !dir.is_empty())
    }
}

/// The pipeline configuration's CSV folders.
#[derive(Debug, Deserialize)]
pub struct ConfigurationSettings {
    /// A folder (relative to the working directory) or `s3://bucket/prefix`.
    pub url: String,
}

/// The specification's CSV tables.
#[derive(Debug, Deserialize)]
pub struct SpecificationSettings {
    /// A folder (relative to the working directory) or `s3://bucket/prefix`.
    pub url: String,
}

/// The collection log's CSV folder (`log.csv`, `resource.csv`).
#[derive(Debug, Deserialize)]
pub struct CollectionLogSettings {
    /// A folder (relative to the working directory) or `s3://bucket/prefix`.
    pub url: String,
}

/// Datasette-style SQLite databases to read the metadata from instead of the archive.
#[derive(Debug, Default, Deserialize)]
pub struct DatasetteSettings {
    /// SQLite files, comma-separated.
    pub paths: Option<String>,
    /// Database pages of a running Datasette, comma-separated (`http://host:8001/digital-land`).
    pub url: Option<String>,
}

impl DatasetteSettings {
    pub fn paths(&self) -> Vec<PathBuf> {
        split(self.paths.as_deref()).map(PathBuf::from).collect()
    }

    pub fn urls(&self) -> Vec<String> {
        split(self.url.as_deref()).map(str::to_owned).collect()
    }
}

fn split(list: Option<&str>) -> impl Iterator<Item = &str> {
    list.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
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
        let file = File::with_name(&format!("config/{environment}")).required(false);
        let variables = Environment::with_prefix("SLUICE")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true);
        // What the operator set, without the built-in defaults: tells a default from a choice.
        let chosen = Config::builder()
            .add_source(file.clone())
            .add_source(variables.clone())
            .build()?;
        let mut settings: Self = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .add_source(file)
            .add_source(variables)
            .build()?
            .try_deserialize()?;
        settings.defaulted = DEFAULTED_LOCATIONS
            .iter()
            .filter(|key| chosen.get::<config::Value>(key).is_err())
            .map(|key| (*key).to_owned())
            .collect();
        Ok(settings)
    }

    /// Whether `key` (`archive.url`, say: one of [`DEFAULTED_LOCATIONS`]) holds its built-in
    /// default, set neither in `config/<environment>.toml` nor in the environment.
    pub fn is_default(&self, key: &str) -> bool {
        self.defaulted.iter().any(|k| k == key)
    }

    /// The state database's URL; by default the SQLite file `database.path`.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.expose_secret().to_owned(),
            None => format!("sqlite://{}?mode=rwc", self.database.path.display()),
        }
    }

    /// The state database's file when it is SQLite.
    pub fn state_file(&self) -> Option<PathBuf> {
        crate::own_files::sqlite_file(&self.database_url())
    }

    /// The kind of state database, for logs (the URL may hold a password).
    pub fn database_backend(&self) -> &'static str {
        match &self.database.url {
            Some(url) if url.expose_secret().starts_with("postgres") => "postgres",
            _ => "sqlite",
        }
    }
}
