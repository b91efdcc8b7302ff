//! MySQL and MariaDB: sources read as text rows turned into Arrow ([`arrow`]), targets written
//! by batched `INSERT`s into a staging table renamed into place, and transforms pushed down in
//! MySQL's SQL ([`DIALECT`]).

mod arrow;
mod decimal_text;
mod kept_type;
mod source;
mod target;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::sql::unparser::dialect::MySqlDialect;
use sluice_domain::data_store::{ServerConnection, ServerKind};
use sluice_domain::flow::FlowId;
use sluice_domain::flow_input::SourceRead;

use super::identifiers::quote_mysql;
use super::source::relational_sql;
use super::{Connector, SourceConnector, TableWrite};
use crate::Result;
use crate::location::Locator;
use crate::pushdown::{Described, Dialect, PushDownDatabase};
use source::MysqlSource;

/// Where MySQL's (and MariaDB's) SQL parts from DataFusion's. Their default collations compare
/// text case- and accent-insensitively and ignore trailing spaces; `/` of integers or decimals
/// is a decimal rounded to 4 more places; float arithmetic answers 0 where IEEE makes -0.0;
/// NULLs sort first ascending with no way to say otherwise; MariaDB drops a text instant's zone
/// offset; the unparser's frame for ranking window functions is refused.
pub static DIALECT: Dialect = Dialect {
    server: ServerKind::Mysql,
    name: "MySQL",
    unparser: &MySqlDialect {},
    text_equal_as_bytes: false,
    full_join: false,
    places_nulls: false,
    divides_as_datafusion: false,
    concatenates_text: false,
    keeps_negative_zero: false,
    casts_instants: false,
    ranks: false,
};

/// A MySQL or MariaDB database.
pub struct Mysql {
    server: ServerConnection,
}

impl Mysql {
    pub fn new(server: ServerConnection) -> Self {
        Self { server }
    }

    fn sql_of(read: &SourceRead) -> Result<String> {
        relational_sql(read, "mysql", quote_mysql)
    }
}

#[async_trait]
impl Connector for Mysql {
    fn kind(&self) -> &'static str {
        "MySQL"
    }

    fn source(&self, read: &SourceRead, _locator: &Locator) -> Result<Box<dyn SourceConnector>> {
        Ok(Box::new(MysqlSource::new(
            self.server.clone(),
            Self::sql_of(read)?,
        )))
    }

    async fn begin_tables(&self, _locator: &Locator, flow: FlowId) -> Result<Box<dyn TableWrite>> {
        Ok(Box::new(
            target::MysqlWrite::begin(self.server.clone(), flow).await?,
        ))
    }

    /// MySQL's DDL commits on its own, so a MySQL write stages in real tables a killed process
    /// leaves behind.
    async fn discard_leftovers(&self, _locator: &Locator, flow: FlowId) -> Result<()> {
        target::discard_leftovers(self.server.clone(), flow).await
    }

    fn push_down(&self) -> Option<&dyn PushDownDatabase> {
        Some(self)
    }
}

#[async_trait]
impl PushDownDatabase for Mysql {
    fn dialect(&self) -> &'static Dialect {
        &DIALECT
    }

    async fn describe(&self, read: &SourceRead) -> Result<Described> {
        let sql = Self::sql_of(read)?;
        let schema = MysqlSource::new(self.server.clone(), sql.clone())
            .describe()
            .await?;
        let relation = match read {
            SourceRead::Table(table) => quote_mysql(table),
            SourceRead::Query(_) | SourceRead::File => format!("({sql})"),
        };
        Ok(Described { schema, relation })
    }

    async fn pushed_down(
        &self,
        sql: String,
        schema: SchemaRef,
    ) -> (Box<dyn SourceConnector>, Result<usize>) {
        let source = MysqlSource::pushed_down(self.server.clone(), sql, schema);
        let columns = source.describe().await.map(|schema| schema.fields().len());
        (Box::new(source), columns)
    }
}
