//! Reads transform SQL with DataFusion's own parser, so what validation accepts is what runs.

use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::resolve::resolve_table_references;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use sluice_domain::ports::SqlAnalyzer;

#[derive(Debug, Clone, Copy, Default)]
pub struct DataFusionSqlAnalyzer;

impl SqlAnalyzer for DataFusionSqlAnalyzer {
    fn tables_read(&self, sql: &str) -> Result<Vec<String>, String> {
        let mut statements = DFParser::parse_sql(sql)
            .map_err(|e| format!("does not parse: {}", strip_prefix(&e.to_string())))?;
        if statements.len() != 1 {
            return Err(format!(
                "must be exactly one query, found {} statements",
                statements.len()
            ));
        }
        let statement = statements.pop_front().expect("one statement");
        if !matches!(&statement, Statement::Statement(s) if matches!(s.as_ref(), SqlStatement::Query(_)))
        {
            return Err(
                "must be a query (SELECT, WITH, VALUES), not another kind of statement".into(),
            );
        }
        let (tables, _ctes) =
            resolve_table_references(&statement, true).map_err(|e| e.to_string())?;
        tables
            .into_iter()
            .map(|table| match table.schema() {
                None => Ok(table.table().to_owned()),
                Some(_) => Err(format!(
                    "reads '{table}': name tables without a schema or catalog"
                )),
            })
            .collect()
    }
}

fn strip_prefix(message: &str) -> &str {
    message.strip_prefix("SQL error: ").unwrap_or(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tables_of_joins_and_subqueries_but_not_ctes() {
        let tables = DataFusionSqlAnalyzer
            .tables_read("WITH c AS (SELECT * FROM Orders) SELECT * FROM c JOIN customers ON true WHERE x IN (SELECT y FROM \"Extra\")")
            .unwrap();
        assert_eq!(tables, ["Extra", "customers", "orders"]);
    }

    #[test]
    fn refuses_bad_sql_statements_and_qualified_names() {
        assert!(
            DataFusionSqlAnalyzer
                .tables_read("SELEC 1")
                .unwrap_err()
                .starts_with("does not parse")
        );
        assert!(DataFusionSqlAnalyzer.tables_read("DROP TABLE x").is_err());
        assert!(
            DataFusionSqlAnalyzer
                .tables_read("SELECT 1; SELECT 2")
                .is_err()
        );
        assert!(
            DataFusionSqlAnalyzer
                .tables_read("SELECT * FROM s.t")
                .is_err()
        );
    }
}
