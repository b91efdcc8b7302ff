//! PostgreSQL: sources read by binary `COPY` ([`copy`]) over several connections for a large
//! table, targets written by binary `COPY` into a staging table inside one transaction, and
//! transforms pushed down in PostgreSQL's SQL ([`DIALECT`]).

mod copy;
mod source;
mod target;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::sql::unparser::dialect::PostgreSqlDialect;
use sluice_domain::data_store::{ServerConnection, ServerKind};
use sluice_domain::flow::FlowId;
use sluice_domain::flow_input::SourceRead;

use super::identifiers::quote;
use super::source::relational_sql;
use super::{Connector, SourceConnector, TableWrite};
use crate::Result;
use crate::location::Locator;
use crate::pushdown::{Described, Dialect, PushDownDatabase};
use source::PostgresSource;

/// Where PostgreSQL's SQL means what DataFusion's does. It orders text by its collation
/// (`en_US` puts `a` before `B`), which every database's check keeps in Sluice, but compares it
/// by bytes; it rounds a float cast to an integer where Arrow truncates (a narrowing cast, kept
/// in Sluice for all).
pub static DIALECT: Dialect = Dialect {
    server: ServerKind::Postgres,
    name: "PostgreSQL",
    unparser: &PostgreSqlDialect {},
    text_equal_as_bytes: true,
    full_join: true,
    places_nulls: true,
    divides_as_datafusion: true,
    concatenates_text: true,
    keeps_negative_zero: true,
    casts_instants: true,
    ranks: true,
};

/// A PostgreSQL database.
pub struct Postgres {
    server: ServerConnection,
}

impl Postgres {
    pub fn new(server: ServerConnection) -> Self {
        Self { server }
    }

    fn source_of(&self, read: &SourceRead) -> Result<PostgresSource> {
        let table = match read {
            SourceRead::Table(table) => Some(quote(table)),
            SourceRead::Query(_) | SourceRead::File => None,
        };
        let sql = relational_sql(read, "postgres", quote)?;
        Ok(PostgresSource::new(self.server.clone(), sql, table))
    }
}

#[async_trait]
impl Connector for Postgres {
    fn kind(&self) -> &'static str {
        "PostgreSQL"
    }

    fn source(&self, read: &SourceRead, _locator: &Locator) -> Result<Box<dyn SourceConnector>> {
        Ok(Box::new(self.source_of(read)?))
    }

    async fn begin_tables(&self, _locator: &Locator, flow: FlowId) -> Result<Box<dyn TableWrite>> {
        Ok(Box::new(
            target::PostgresWrite::begin(self.server.clone(), flow).await?,
        ))
    }

    fn push_down(&self) -> Option<&dyn PushDownDatabase> {
        Some(self)
    }
}

#[async_trait]
impl PushDownDatabase for Postgres {
    fn dialect(&self) -> &'static Dialect {
        &DIALECT
    }

    async fn describe(&self, read: &SourceRead) -> Result<Described> {
        let source = self.source_of(read)?;
        let columns = source.describe().await?;
        Ok(Described {
            schema: copy::schema_of(&columns),
            relation: source.pushed_down_relation(&columns),
        })
    }

    async fn pushed_down(
        &self,
        sql: String,
        schema: SchemaRef,
    ) -> (Box<dyn SourceConnector>, Result<usize>) {
        let source = PostgresSource::pushed_down(self.server.clone(), sql, schema);
        let columns = source.describe().await.map(|columns| columns.len());
        (Box::new(source), columns)
    }
}
