//! Data stores: where flows read from and write to, with the connection info to reach them.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use std::fmt;

use crate::names::DataStoreName;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DataStoreId(pub i64);

impl fmt::Display for DataStoreId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataStoreKind {
    RelationalDb,
    ColumnarDb,
    File,
}

impl DataStoreKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RelationalDb => "relational_db",
            Self::ColumnarDb => "columnar_db",
            Self::File => "file",
        }
    }
}

/// A location inside the data folder, as the client gave it. It has been checked against the data
/// folder (no `..`, nothing outside it) by the [`crate::ports::LocationPolicy`] before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPath(String);

impl DataPath {
    /// A lexical check only: the data folder policy resolves symlinks and absolute paths.
    ///
    /// # Errors
    /// A message saying what is wrong with the path.
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.trim().is_empty() {
            return Err("must not be empty".into());
        }
        // Bounded so that checking a path is cheap: every check walks its components.
        if raw.len() > MAX_PATH_BYTES {
            return Err(format!("must be at most {MAX_PATH_BYTES} bytes long"));
        }
        if raw.split(['/', '\\']).count() > MAX_PATH_COMPONENTS {
            return Err(format!(
                "must have at most {MAX_PATH_COMPONENTS} components ('/'-separated parts)"
            ));
        }
        if raw
            .split(['/', '\\'])
            .any(|part| part.len() > MAX_NAME_BYTES)
        {
            return Err(format!(
                "each '/'-separated part must be at most {MAX_NAME_BYTES} bytes long"
            ));
        }
        if raw.contains('\0') {
            return Err("must not contain NUL characters".into());
        }
        if raw.split(['/', '\\']).any(|part| part == "..") {
            return Err("must not contain '..': paths stay inside the data folder".into());
        }
        if let Some(rest) = raw.strip_prefix(S3_SCHEME) {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() || key.trim_matches('/').is_empty() {
                return Err("an S3 location is s3://bucket/key".into());
            }
        } else if raw.contains("://") {
            return Err("must be a path in the data folder or an s3://bucket/key location".into());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The bucket and key of an `s3://bucket/key` location; `None` for a data-folder path.
    pub fn s3(&self) -> Option<(&str, &str)> {
        let rest = self.0.strip_prefix(S3_SCHEME)?;
        let (bucket, key) = rest.split_once('/')?;
        Some((bucket, key.trim_matches('/')))
    }
}

const S3_SCHEME: &str = "s3://";

/// The longest path a store may have, in bytes: far beyond any real one, and cheap to check.
pub const MAX_PATH_BYTES: usize = 1024;
/// The most `/`-separated parts a path may have.
pub const MAX_PATH_COMPONENTS: usize = 64;
/// The longest part of a path, as file systems allow (NAME_MAX).
pub const MAX_NAME_BYTES: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Parquet,
}

impl FileFormat {
    pub const ALL: [Self; 2] = [Self::Csv, Self::Parquet];

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "csv" => Some(Self::Csv),
            "parquet" => Some(Self::Parquet),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Parquet => "parquet",
        }
    }
}

/// Which database server a store is: PostgreSQL, or MySQL (MariaDB too). Not to be confused
/// with the [`crate::flow_input::ExecutionEngine`] a flow's transforms run on; both reach the
/// wire as `engine`, each in its own object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerKind {
    Postgres,
    Mysql,
}

impl ServerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Mysql => "mysql",
        }
    }
}

/// A database server's address and credentials. The password is a secret: it is never returned by
/// the API and never logged (its `Debug` is redacted).
#[derive(Debug, Clone)]
pub struct ServerConnection {
    pub engine: ServerKind,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<SecretString>,
    pub database: String,
    /// Why the stored password could not be opened (the key it was sealed under is not this
    /// process's, say), never the password itself. The store can still be shown, changed and
    /// deleted; a flow that needs it fails saying this.
    pub password_unreadable: Option<String>,
}

impl ServerConnection {
    /// A host name or an IP address (IPv6 in brackets or bare): no spaces, no paths (a local
    /// socket is not a place a store may point), no user or port parts.
    ///
    /// # Errors
    /// A message saying what is wrong with it.
    pub fn parse_host(raw: &str) -> Result<String, String> {
        const MAX_HOST_BYTES: usize = 253;
        if raw.is_empty() {
            return Err("is required".into());
        }
        if raw.len() > MAX_HOST_BYTES {
            return Err(format!("must be at most {MAX_HOST_BYTES} bytes long"));
        }
        if raw.parse::<std::net::IpAddr>().is_ok() {
            return Ok(raw.to_owned());
        }
        if let Some(inner) = raw.strip_prefix('[').and_then(|r| r.strip_suffix(']'))
            && inner.parse::<std::net::Ipv6Addr>().is_ok()
        {
            return Ok(inner.to_owned());
        }
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if raw.trim_end_matches('.').split('.').all(label_ok) {
            Ok(raw.to_owned())
        } else {
            Err("must be a host name (letters, digits, '-', '.') or an IP address".into())
        }
    }

    /// # Errors
    /// A message when the port is 0, which no server listens on.
    pub fn check_port(port: u16) -> Result<u16, String> {
        if port == 0 {
            Err("must be between 1 and 65535".into())
        } else {
            Ok(port)
        }
    }
}

#[derive(Debug, Clone)]
pub enum RelationalConnection {
    Sqlite { path: DataPath },
    Server(ServerConnection),
}

impl RelationalConnection {
    pub fn engine_name(&self) -> &'static str {
        match self {
            Self::Sqlite { .. } => "sqlite",
            Self::Server(server) => server.engine.as_str(),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Connection {
    Relational(RelationalConnection),
    /// A folder of tables, each a folder of Parquet files.
    Columnar {
        path: DataPath,
    },
    File {
        path: DataPath,
        format: FileFormat,
    },
}

impl Connection {
    pub fn kind(&self) -> DataStoreKind {
        match self {
            Self::Relational(_) => DataStoreKind::RelationalDb,
            Self::Columnar { .. } => DataStoreKind::ColumnarDb,
            Self::File { .. } => DataStoreKind::File,
        }
    }

    /// The data-folder path the store lives at, if it lives in the data folder.
    pub fn data_path(&self) -> Option<&DataPath> {
        match self {
            Self::Relational(RelationalConnection::Sqlite { path })
            | Self::Columnar { path }
            | Self::File { path, .. } => Some(path),
            Self::Relational(RelationalConnection::Server(_)) => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewDataStore {
    pub name: DataStoreName,
    pub connection: Connection,
}

#[derive(Debug, Clone)]
pub struct DataStore {
    pub id: DataStoreId,
    pub name: DataStoreName,
    pub connection: Connection,
    pub created_utc: DateTime<Utc>,
    /// How many times its connection was replaced: a change is made from one revision and
    /// refused when the store has moved past it.
    pub revision: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_locations_name_a_bucket_and_a_key() {
        let location = DataPath::parse("s3://lake/raw/orders.csv").unwrap();
        assert_eq!(location.s3(), Some(("lake", "raw/orders.csv")));
        assert_eq!(DataPath::parse("data/orders.csv").unwrap().s3(), None);
        for refused in [
            "s3://",
            "s3://lake",
            "s3://lake/",
            "s3:///key",
            "https://host/x",
        ] {
            assert!(DataPath::parse(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn hosts_are_names_or_addresses_and_ports_are_not_zero() {
        for host in [
            "db",
            "db.internal",
            "10.0.0.1",
            "::1",
            "[::1]",
            "my_db-1.example.com.",
        ] {
            assert!(ServerConnection::parse_host(host).is_ok(), "{host}");
        }
        for host in [
            "",
            "db host",
            "/var/run/postgresql",
            "u@db",
            "db:5432",
            "-db",
            "a..b",
        ] {
            assert!(ServerConnection::parse_host(host).is_err(), "{host}");
        }
        assert!(ServerConnection::check_port(0).is_err());
        assert!(ServerConnection::check_port(5432).is_ok());
    }

    #[test]
    fn data_paths_refuse_parent_components() {
        assert!(DataPath::parse("a/b.csv").is_ok());
        assert!(DataPath::parse("../etc/passwd").is_err());
        assert!(DataPath::parse("a/../../b").is_err());
        assert!(DataPath::parse("a\\..\\b").is_err());
        assert!(DataPath::parse(" ").is_err());
    }

    #[test]
    fn data_paths_are_bounded_in_length_and_parts() {
        assert!(DataPath::parse(&"a/".repeat(32)).is_ok());
        assert!(DataPath::parse(&"a/".repeat(350_000)).is_err());
        assert!(DataPath::parse(&"a/".repeat(65)).is_err());
        assert!(DataPath::parse(&"x".repeat(1025)).is_err());
        assert!(DataPath::parse(&"x".repeat(256)).is_err());
        assert!(DataPath::parse(&format!("s3://b/{}", "k/".repeat(100))).is_err());
    }
}
