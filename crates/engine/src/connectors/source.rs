//! What every source shares: the reading of one source of a flow into the engine's session,
//! and the query that reads a relational source.

use async_trait::async_trait;
use datafusion::prelude::SessionContext;
use sluice_domain::flow_input::SourceRead;

use crate::rows::RowSink;
use crate::{Error, Result};

#[async_trait]
pub trait SourceConnector: Send + Sync {
    /// Reads the source's rows into `rows` batch by batch as they arrive, so that memory stays
    /// bounded by a batch, and stops early when they are no longer wanted. The engine reads each
    /// source once: every transform reading it sees the same snapshot.
    async fn read(&self, ctx: &SessionContext, rows: &mut dyn RowSink) -> Result<()>;
}

/// The query that reads a relational source: its table whole, or the query it was given.
pub fn relational_sql(
    read: &SourceRead,
    engine: &str,
    quote: fn(&str) -> String,
) -> Result<String> {
    match read {
        SourceRead::Table(table) => Ok(format!("SELECT * FROM {}", quote(table))),
        SourceRead::Query(query) => Ok(query.clone()),
        SourceRead::File => Err(Error::Unsupported(format!(
            "a {engine} source needs a table or a query"
        ))),
    }
}
