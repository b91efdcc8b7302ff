//! A SQLite file, opened read-only.

use async_trait::async_trait;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};
use sea_orm::sqlx::{AssertSqlSafe, Row, TypeInfo, ValueRef};
use serde_json::Value as Json;
use std::path::Path;
use std::time::Duration;

use crate::backend::Database;
use crate::query::{Placeholders, Sql, quoted};
use crate::{Error, Result};

pub(crate) struct SqliteFile {
    pool: SqlitePool,
}

impl SqliteFile {
    pub async fn open(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::Open(
                path.display().to_string(),
                "no such file".into(),
            ));
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .busy_timeout(Duration::from_secs(5))
            .pragma("trusted_schema", "OFF")
            .pragma("query_only", "ON");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| Error::Open(path.display().to_string(), e.to_string()))?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl Database for SqliteFile {
    fn placeholders(&self) -> Placeholders {
        Placeholders::Numbered
    }

    async fn query(&self, sql: &Sql) -> Result<Vec<Vec<Json>>> {
        let mut query = sea_orm::sqlx::query(AssertSqlSafe(sql.text.clone()));
        for param in &sql.params {
            query = query.bind(param.clone());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(values).collect()
    }

    async fn scan(&self, table: &str, columns: &[&str]) -> Result<Vec<Vec<Json>>> {
        let mut sql = Sql::new(Placeholders::Numbered);
        let list: Vec<String> = columns.iter().map(|c| quoted(c)).collect();
        sql.push(&format!(
            "SELECT {} FROM {}",
            list.join(", "),
            quoted(table)
        ));
        self.query(&sql).await
    }
}

/// A row's values by the storage class each one has (SQLite types values, not columns).
fn values(row: &SqliteRow) -> Result<Vec<Json>> {
    (0..row.columns().len())
        .map(|i| {
            let raw = row.try_get_raw(i)?;
            if raw.is_null() {
                return Ok(Json::Null);
            }
            let class = raw.type_info().name().to_owned();
            Ok(match class.as_str() {
                "INTEGER" => Json::from(row.try_get::<i64, _>(i)?),
                "REAL" => serde_json::Number::from_f64(row.try_get::<f64, _>(i)?)
                    .map_or(Json::Null, Json::Number),
                "BLOB" => Json::String(
                    String::from_utf8_lossy(&row.try_get::<Vec<u8>, _>(i)?).into_owned(),
                ),
                _ => Json::String(row.try_get::<String, _>(i)?),
            })
        })
        .collect()
}
