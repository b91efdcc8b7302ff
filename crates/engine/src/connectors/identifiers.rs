//! Identifiers quoted for the SQL of each database Sluice writes.

/// Quoted the SQL standard's way, as SQLite and PostgreSQL take it: in double quotes, a double
/// quote doubled.
pub fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// Quoted for MySQL and MariaDB: in backticks, a backtick doubled.
pub fn quote_mysql(identifier: &str) -> String {
    format!("`{}`", identifier.replace('`', "``"))
}
