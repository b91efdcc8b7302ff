//! A database behind a running Datasette, read through its JSON API.

use async_trait::async_trait;
use serde_json::Value as Json;

use crate::backend::Database;
use crate::query::{Placeholders, Sql};
use crate::{Error, Result};

pub(crate) struct DatasetteDatabase {
    /// The database's page, e.g. `http://127.0.0.1:8001/digital-land`.
    url: String,
    client: reqwest::Client,
}

impl DatasetteDatabase {
    pub fn new(url: &str, client: reqwest::Client) -> Self {
        Self {
            url: url.trim_end_matches('/').to_owned(),
            client,
        }
    }

    fn error(&self, message: impl Into<String>) -> Error {
        Error::Http {
            url: self.url.clone(),
            message: message.into(),
        }
    }

    async fn get(&self, url: &str, query: &[(String, String)]) -> Result<Json> {
        let response = self
            .client
            .get(url)
            .query(query)
            .send()
            .await
            .map_err(|e| self.error(e.to_string()))?;
        let status = response.status();
        let body: Json = response
            .json()
            .await
            .map_err(|e| self.error(format!("answered {status} without JSON: {e}")))?;
        if !status.is_success() || body.get("ok") == Some(&Json::Bool(false)) {
            let message = body
                .get("error")
                .and_then(Json::as_str)
                .unwrap_or("no error message");
            return Err(self.error(format!("answered {status}: {message}")));
        }
        Ok(body)
    }
}

fn rows_of(body: &mut Json) -> Option<Vec<Vec<Json>>> {
    let rows = body.get_mut("rows")?.as_array_mut()?;
    rows.drain(..)
        .map(|row| match row {
            Json::Array(values) => Some(values),
            _ => None,
        })
        .collect()
}

#[async_trait]
impl Database for DatasetteDatabase {
    fn placeholders(&self) -> Placeholders {
        Placeholders::Named
    }

    async fn query(&self, sql: &Sql) -> Result<Vec<Vec<Json>>> {
        let mut query = vec![
            ("sql".to_owned(), sql.text.clone()),
            ("_shape".to_owned(), "arrays".to_owned()),
        ];
        for (n, value) in sql.params.iter().enumerate() {
            query.push((format!("p{}", n + 1), value.clone()));
        }
        let mut body = self.get(&format!("{}.json", self.url), &query).await?;
        // Datasette cuts a query's answer at its max_returned_rows; a cut answer is a wrong one.
        if body.get("truncated") == Some(&Json::Bool(true)) {
            return Err(self.error("the answer was truncated at Datasette's max_returned_rows"));
        }
        rows_of(&mut body).ok_or_else(|| self.error("the answer has no rows"))
    }

    /// The table's rows page by page, following `next_url` to the end.
    async fn scan(&self, table: &str, columns: &[&str]) -> Result<Vec<Vec<Json>>> {
        let mut url = format!("{}/{table}.json", self.url);
        let mut query: Vec<(String, String)> = vec![
            ("_shape".into(), "arrays".into()),
            ("_size".into(), "max".into()),
        ];
        query.extend(columns.iter().map(|c| ("_col".to_owned(), (*c).to_owned())));
        let mut rows = Vec::new();
        loop {
            let mut body = self.get(&url, &query).await?;
            let names: Vec<String> = body
                .get("columns")
                .and_then(Json::as_array)
                .map(|c| {
                    c.iter()
                        .filter_map(Json::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .ok_or_else(|| self.error("the answer names no columns"))?;
            let positions: Vec<usize> = columns
                .iter()
                .map(|c| {
                    names
                        .iter()
                        .position(|n| n == c)
                        .ok_or_else(|| self.error(format!("{table} has no column {c}")))
                })
                .collect::<Result<_>>()?;
            for row in rows_of(&mut body).ok_or_else(|| self.error("the answer has no rows"))? {
                rows.push(
                    positions
                        .iter()
                        .map(|&p| row.get(p).cloned().unwrap_or(Json::Null))
                        .collect(),
                );
            }
            match body.get("next_url").and_then(Json::as_str) {
                Some(next) if !next.is_empty() => {
                    url = next.to_owned();
                    // next_url carries every parameter itself.
                    query.clear();
                }
                _ => return Ok(rows),
            }
        }
    }
}
