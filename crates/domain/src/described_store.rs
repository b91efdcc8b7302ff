//! A data store as a client describes it, and the rules that turn a description into a
//! [`NewDataStore`]: what each type of store takes, which fields are required, the default ports.
//! Every API version fills a [`DescribedConnection`] from its own wire format and calls these, so
//! no version can drift from the rules.

use secrecy::{ExposeSecret, SecretString};

use crate::data_store::{
    Connection, DataPath, DataStoreKind, FileFormat, NewDataStore, RelationalConnection,
    ServerConnection, ServerKind,
};
use crate::error::{FieldPath, Violation};
use crate::names::DataStoreName;

/// The fields of a `connection` a client sent; `None` where it sent none.
#[derive(Debug, Default, Clone)]
pub struct DescribedConnection {
    pub path: Option<String>,
    pub format: Option<String>,
    pub engine: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    pub password: Option<SecretString>,
    pub database: Option<String>,
}

/// One field of an RFC 7396 merge patch: left as it is (absent), set, or removed (`null`).
#[derive(Debug, Default, Clone)]
pub enum FieldPatch<T> {
    #[default]
    Keep,
    Set(T),
    Remove,
}

impl<T> FieldPatch<T> {
    fn apply(self, field: &mut Option<T>) {
        match self {
            Self::Keep => {}
            Self::Set(value) => *field = Some(value),
            Self::Remove => *field = None,
        }
    }
}

/// A merge patch of a store's connection: the fields it changes, the others kept.
#[derive(Debug, Default, Clone)]
pub struct ConnectionPatch {
    pub path: FieldPatch<String>,
    pub format: FieldPatch<String>,
    pub engine: FieldPatch<String>,
    pub host: FieldPatch<String>,
    pub port: FieldPatch<u16>,
    pub user: FieldPatch<String>,
    pub password: FieldPatch<SecretString>,
    pub database: FieldPatch<String>,
}

impl DescribedConnection {
    /// A stored connection as a client would describe it, its password included.
    pub fn of(connection: &Connection) -> Self {
        match connection {
            Connection::File { path, format } => Self {
                path: Some(path.as_str().to_owned()),
                format: Some(format.as_str().to_owned()),
                ..Self::default()
            },
            Connection::Columnar { path } => Self {
                path: Some(path.as_str().to_owned()),
                ..Self::default()
            },
            Connection::Relational(RelationalConnection::Sqlite { path }) => Self {
                engine: Some("sqlite".into()),
                path: Some(path.as_str().to_owned()),
                ..Self::default()
            },
            Connection::Relational(RelationalConnection::Server(server)) => Self {
                engine: Some(server.engine.as_str().into()),
                host: Some(server.host.clone()),
                port: Some(server.port),
                user: Some(server.user.clone()),
                password: server.password.clone(),
                database: Some(server.database.clone()),
                ..Self::default()
            },
        }
    }

    /// This description with `patch` applied: what it sets replaces, what it removes is gone.
    #[must_use]
    pub fn patched(mut self, patch: ConnectionPatch) -> Self {
        patch.path.apply(&mut self.path);
        patch.format.apply(&mut self.format);
        patch.engine.apply(&mut self.engine);
        patch.host.apply(&mut self.host);
        patch.port.apply(&mut self.port);
        patch.user.apply(&mut self.user);
        patch.password.apply(&mut self.password);
        patch.database.apply(&mut self.database);
        self
    }
}

/// The longest password a server store takes, in bytes (PostgreSQL and MySQL take far less).
pub const MAX_PASSWORD_BYTES: usize = 1024;

fn at(field: &'static str) -> FieldPath {
    FieldPath::new("connection").field(field)
}

/// Collects every violation, so the client hears of all of them at once.
#[derive(Default)]
struct Violations(Vec<Violation>);

impl Violations {
    fn check<T>(&mut self, path: FieldPath, parsed: Result<T, String>) -> Option<T> {
        parsed
            .map_err(|message| self.0.push(Violation::new(path, message)))
            .ok()
    }

    fn push(&mut self, path: FieldPath, message: impl Into<String>) {
        self.0.push(Violation::new(path, message));
    }

    /// A field this kind of connection does not take.
    fn refuse(&mut self, field: &'static str, given: bool, message: &str) {
        if given {
            self.push(at(field), message);
        }
    }
}

impl NewDataStore {
    /// The store `name` of type `kind` reached through `connection`.
    ///
    /// # Errors
    /// A violation per wrong field: a bad name, a missing or malformed path, format, engine,
    /// host, port, user or database, and any field the type does not take.
    pub fn describe(
        name: &str,
        kind: DataStoreKind,
        connection: DescribedConnection,
    ) -> Result<Self, Vec<Violation>> {
        let mut violations = Violations::default();
        let name = violations.check(FieldPath::new("name"), DataStoreName::new_name(name));
        let connection = match kind {
            DataStoreKind::File => file(connection, &mut violations),
            DataStoreKind::ColumnarDb => columnar(connection, &mut violations),
            DataStoreKind::RelationalDb => relational(connection, &mut violations),
        };
        match (name, connection) {
            (Some(name), Some(connection)) if violations.0.is_empty() => {
                Ok(Self { name, connection })
            }
            _ => Err(violations.0),
        }
    }
}

fn data_path(raw: Option<String>, violations: &mut Violations) -> Option<DataPath> {
    match raw {
        Some(raw) => violations.check(at("path"), DataPath::parse(&raw)),
        None => {
            violations.push(at("path"), "is required");
            None
        }
    }
}

/// Refuses every server field: stores in files take only a path (and a file its format).
fn refuse_server_fields(c: &DescribedConnection, violations: &mut Violations, message: &str) {
    for (field, given) in [
        ("engine", c.engine.is_some()),
        ("host", c.host.is_some()),
        ("port", c.port.is_some()),
        ("user", c.user.is_some()),
        ("password", c.password.is_some()),
        ("database", c.database.is_some()),
    ] {
        violations.refuse(field, given, message);
    }
}

fn file(c: DescribedConnection, violations: &mut Violations) -> Option<Connection> {
    refuse_server_fields(
        &c,
        violations,
        "a file store takes only 'path' and 'format'",
    );
    let format = match c.format {
        Some(raw) => violations.check(
            at("format"),
            FileFormat::parse(&raw).ok_or_else(|| "must be 'csv' or 'parquet'".to_owned()),
        ),
        None => {
            violations.push(at("format"), "is required");
            None
        }
    };
    let path = data_path(c.path, violations);
    Some(Connection::File {
        path: path?,
        format: format?,
    })
}

fn columnar(c: DescribedConnection, violations: &mut Violations) -> Option<Connection> {
    refuse_server_fields(&c, violations, "a columnar store takes only a 'path'");
    violations.refuse(
        "format",
        c.format.is_some(),
        "a columnar store takes only a 'path'",
    );
    data_path(c.path, violations).map(|path| Connection::Columnar { path })
}

fn relational(c: DescribedConnection, violations: &mut Violations) -> Option<Connection> {
    violations.refuse(
        "format",
        c.format.is_some(),
        "a relational store takes no 'format'",
    );
    let engine = match c.engine.as_deref() {
        Some("sqlite") => {
            for (field, given) in [
                ("host", c.host.is_some()),
                ("port", c.port.is_some()),
                ("user", c.user.is_some()),
                ("password", c.password.is_some()),
                ("database", c.database.is_some()),
            ] {
                violations.refuse(field, given, "a sqlite store takes only a 'path'");
            }
            return data_path(c.path, violations)
                .map(|path| Connection::Relational(RelationalConnection::Sqlite { path }));
        }
        Some("postgres") => ServerKind::Postgres,
        Some("mysql") => ServerKind::Mysql,
        Some(_) => {
            violations.push(at("engine"), "must be 'postgres', 'mysql' or 'sqlite'");
            return None;
        }
        None => {
            violations.push(at("engine"), "is required: 'postgres', 'mysql' or 'sqlite'");
            return None;
        }
    };
    violations.refuse(
        "path",
        c.path.is_some(),
        "a database server takes host, port, user, password and database, not a path",
    );
    let mut required = |field: &'static str, value: Option<String>| {
        let value = value.filter(|v| !v.trim().is_empty());
        if value.is_none() {
            violations.push(at(field), "is required");
        }
        value
    };
    let host = required("host", c.host);
    let user = required("user", c.user);
    let database = required("database", c.database);
    // An empty password is no password (`null` says so); a longer one than any server takes is
    // a mistake, not a secret worth sealing.
    if let Some(password) = &c.password {
        let length = password.expose_secret().len();
        if length == 0 {
            violations.push(
                at("password"),
                "must not be empty: null (or leaving it out) is no password",
            );
        } else if length > MAX_PASSWORD_BYTES {
            violations.push(
                at("password"),
                format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
            );
        }
    }
    let host =
        host.and_then(|host| violations.check(at("host"), ServerConnection::parse_host(&host)));
    let port = violations.check(
        at("port"),
        ServerConnection::check_port(c.port.unwrap_or(match engine {
            ServerKind::Postgres => 5432,
            ServerKind::Mysql => 3306,
        })),
    );
    Some(Connection::Relational(RelationalConnection::Server(
        ServerConnection {
            engine,
            host: host?,
            port: port?,
            user: user?,
            password: c.password,
            database: database?,
            password_unreadable: None,
        },
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pointers(result: Result<NewDataStore, Vec<Violation>>) -> Vec<String> {
        result
            .unwrap_err()
            .iter()
            .map(|v| v.path.to_string())
            .collect()
    }

    #[test]
    fn a_server_store_gets_its_engine_default_port() {
        let store = NewDataStore::describe(
            "dwh",
            DataStoreKind::RelationalDb,
            DescribedConnection {
                engine: Some("mysql".into()),
                host: Some("db".into()),
                user: Some("etl".into()),
                database: Some("sales".into()),
                ..Default::default()
            },
        )
        .unwrap();
        match store.connection {
            Connection::Relational(RelationalConnection::Server(server)) => {
                assert_eq!(server.port, 3306);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_wrong_field_is_named_at_once() {
        let result = NewDataStore::describe(
            "bad name",
            DataStoreKind::RelationalDb,
            DescribedConnection {
                engine: Some("postgres".into()),
                path: Some("x".into()),
                port: Some(0),
                ..Default::default()
            },
        );
        assert_eq!(
            pointers(result),
            [
                "/name",
                "/connection/path",
                "/connection/host",
                "/connection/user",
                "/connection/database",
                "/connection/port"
            ]
        );
    }

    #[test]
    fn a_file_store_takes_no_server_fields_and_needs_a_format() {
        let result = NewDataStore::describe(
            "orders",
            DataStoreKind::File,
            DescribedConnection {
                path: Some("orders.csv".into()),
                host: Some("db".into()),
                ..Default::default()
            },
        );
        assert_eq!(pointers(result), ["/connection/host", "/connection/format"]);
    }
}
