//! SQLite files opened for a source: read-only, exactly one statement, and nothing a statement
//! can do but read the file's own tables. SQLite enforces it, not string matching: an authorizer
//! admits only reading (no `ATTACH`, no pragmas, no writes, no `load_extension`), the limit on
//! attached databases is zero, the schema is untrusted (a view or trigger cannot call functions
//! with side effects) and the connection is defensive.

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::{Connection, OpenFlags, Statement};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{Error, Result};

/// A read-only connection that runs only reading statements.
pub struct SandboxedSqlite {
    connection: Connection,
    /// What the authorizer last refused, to say it in plain words.
    refused: Arc<Mutex<Option<String>>>,
}

impl SandboxedSqlite {
    /// # Errors
    /// `Sqlite` when the file cannot be opened as a database.
    pub fn open(path: &Path) -> Result<Self> {
        // No SQLITE_OPEN_URI: the path is a file name, never a URI with options of its own.
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = Connection::open_with_flags(path, flags)
            .map_err(|e| Error::Sqlite(format!("the sqlite database cannot be opened: {e}")))?;
        let refused = Arc::new(Mutex::new(None));
        lock_down(&connection, refused.clone())?;
        Ok(Self {
            connection,
            refused,
        })
    }

    /// Compiles `sql`, which must be exactly one statement that only reads.
    ///
    /// # Errors
    /// `Sqlite` saying what the statement may not do, or SQLite's own parse error.
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        let statement = self.connection.prepare(sql).map_err(|err| {
            match self
                .refused
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
            {
                // The refusal may come from a statement after the first: SQLite compiles what
                // follows a ';' to see whether there is more.
                Some(action) => Error::Sqlite(format!(
                    "a source query is one statement that only reads the database's tables: \
                     {action} is not allowed"
                )),
                None if matches!(err, rusqlite::Error::MultipleStatement) => Error::Sqlite(
                    "a source query is exactly one statement: remove what follows the first ';'"
                        .into(),
                ),
                None => Error::Sqlite(format!("the source query is not valid SQLite: {err}")),
            }
        })?;
        if !statement.readonly() {
            return Err(Error::Sqlite(
                "a source query may only read the database's tables".into(),
            ));
        }
        Ok(statement)
    }

    /// Makes a running statement give up at its next check when `stop` says so: a cancelled
    /// flow's query stops, however long it would have run.
    ///
    /// # Errors
    /// `Sqlite` when the handler cannot be set.
    pub fn stop_when(&self, stop: impl Fn() -> bool + Send + 'static) -> Result<()> {
        self.connection
            .progress_handler(10_000, Some(stop))
            .map_err(|e| Error::Sqlite(format!("the sqlite database cannot be read: {e}")))
    }
}

fn lock_down(connection: &Connection, refused: Arc<Mutex<Option<String>>>) -> Result<()> {
    let failed =
        |e: rusqlite::Error| Error::Sqlite(format!("the sqlite database cannot be opened: {e}"));
    connection
        .set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0)
        .map_err(failed)?;
    use rusqlite::config::DbConfig;
    for (setting, on) in [
        (DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true),
        (DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false),
        (DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, false),
    ] {
        connection.set_db_config(setting, on).map_err(failed)?;
    }
    connection
        .busy_timeout(Duration::from_secs(30))
        .map_err(failed)?;
    connection
        .authorizer(Some(move |context: AuthContext<'_>| {
            match refusal(&context.action) {
                None => Authorization::Allow,
                Some(action) => {
                    *refused
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(action);
                    Authorization::Deny
                }
            }
        }))
        .map_err(failed)?;
    Ok(())
}

/// What a reading statement may not do, named for the error; `None` when it may.
fn refusal(action: &AuthAction<'_>) -> Option<String> {
    match action {
        // The pragma functions read only, but some say where the file lies on the server.
        AuthAction::Read { table_name, .. } if table_name.starts_with("pragma_") => {
            Some(format!("the pragma function {table_name}"))
        }
        AuthAction::Select | AuthAction::Read { .. } | AuthAction::Recursive => None,
        AuthAction::Function { function_name } => {
            let name = function_name.to_ascii_lowercase();
            // Loading code, and a tokenizer pointer that can be abused to run it.
            ["load_extension", "fts3_tokenizer"]
                .contains(&name.as_str())
                .then(|| format!("the function {name}()"))
        }
        AuthAction::Attach { .. } => Some("ATTACH".into()),
        AuthAction::Detach { .. } => Some("DETACH".into()),
        AuthAction::Pragma { pragma_name, .. } => Some(format!("PRAGMA {pragma_name}")),
        AuthAction::Transaction { .. } | AuthAction::Savepoint { .. } => {
            Some("a transaction".into())
        }
        AuthAction::Insert { .. } | AuthAction::Update { .. } | AuthAction::Delete { .. } => {
            Some("writing to a table".into())
        }
        _ => Some("changing the database".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shop.sqlite");
        let connection = Connection::open(&path).unwrap();
        connection
            .execute_batch(
                "CREATE TABLE t (id INTEGER, name TEXT); INSERT INTO t VALUES (1, 'a');
                 CREATE VIEW v AS SELECT id FROM t;",
            )
            .unwrap();
        std::fs::write(dir.path().join("other.sqlite"), b"").unwrap();
        (dir, path)
    }

    fn refused(sql: &str) -> String {
        let (_dir, path) = database();
        let sandbox = SandboxedSqlite::open(&path).unwrap();
        match sandbox.prepare(sql) {
            Ok(_) => panic!("admitted: {sql}"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn reading_statements_are_admitted() {
        let (_dir, path) = database();
        let sandbox = SandboxedSqlite::open(&path).unwrap();
        for sql in [
            "SELECT * FROM t",
            "SELECT id FROM v WHERE id > 0",
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3) SELECT x FROM n",
            "SELECT upper(name), count(*) FROM t GROUP BY 1",
        ] {
            sandbox
                .prepare(sql)
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }

    #[test]
    fn attaching_another_file_is_impossible() {
        let message = refused("ATTACH DATABASE 'other.sqlite' AS x");
        assert!(message.contains("ATTACH"), "{message}");
        let message = refused("SELECT * FROM t; ATTACH DATABASE 'other.sqlite' AS x");
        assert!(message.contains("one statement"), "{message}");
        assert!(message.contains("ATTACH"), "{message}");
    }

    #[test]
    fn pragmas_writes_and_extensions_are_impossible() {
        for (sql, said) in [
            ("PRAGMA journal_mode = delete", "PRAGMA"),
            ("SELECT * FROM pragma_database_list", "pragma function"),
            ("INSERT INTO t VALUES (2, 'b')", "writing"),
            ("DELETE FROM t", "writing"),
            ("CREATE TABLE u (x)", "not allowed"),
            ("SELECT load_extension('/tmp/x.so')", "load_extension"),
            ("BEGIN", ""),
            ("VACUUM INTO '/tmp/copy.sqlite'", ""),
        ] {
            let message = refused(sql);
            assert!(message.contains(said), "{sql}: {message}");
        }
    }

    #[test]
    fn several_statements_are_refused() {
        let message = refused("SELECT 1; SELECT 2");
        assert!(message.contains("one statement"), "{message}");
    }
}
