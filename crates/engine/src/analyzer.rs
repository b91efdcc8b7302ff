//! Reads transform SQL with DataFusion's own parser, so what validation accepts is what runs.

use datafusion::execution::context::SQLOptions;
use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::planner::object_name_to_table_reference;
use datafusion::sql::resolve::resolve_table_references;
use datafusion::sql::sqlparser::ast::{Statement as SqlStatement, visit_relations};
use sluice_domain::ports::SqlAnalyzer;
use std::collections::HashMap;
use std::ops::ControlFlow;

/// How a transform's SQL is planned, locally or for a Ballista cluster. Validation admits only
/// queries; planning refuses anything else too, so that no transform can create tables, write
/// files or change the session.
pub fn queries_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

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

/// How many times a query scans each table it names, as far as its text tells: each mention
/// counts once, and a query with common table expressions (`WITH`), which may be scanned several
/// times, counts every table twice. Empty for text that is not one query.
pub fn scans_per_table(sql: &str) -> HashMap<String, usize> {
    let mut scans = HashMap::new();
    let Ok(mut statements) = DFParser::parse_sql(sql) else {
        return scans;
    };
    let (Some(statement), None) = (statements.pop_front(), statements.pop_front()) else {
        return scans;
    };
    let Ok((_, ctes)) = resolve_table_references(&statement, true) else {
        return scans;
    };
    let per_mention = if ctes.is_empty() { 1 } else { 2 };
    if let Statement::Statement(query) = &statement {
        let _ = visit_relations(query.as_ref(), |relation| {
            if let Ok(table) = object_name_to_table_reference(relation.clone(), true) {
                *scans.entry(table.table().to_owned()).or_default() += per_mention;
            }
            ControlFlow::<()>::Continue(())
        });
    }
    scans
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
    fn counts_each_mention_of_a_table_and_doubles_under_with() {
        let scans = scans_per_table(
            "SELECT * FROM a JOIN B ON true WHERE x IN (SELECT y FROM a) AND z IN (SELECT z FROM \"C\")",
        );
        assert_eq!(
            scans,
            HashMap::from([("a".into(), 2), ("b".into(), 1), ("C".into(), 1)])
        );
        let scans = scans_per_table("WITH c AS (SELECT * FROM a) SELECT * FROM c JOIN c ON true");
        assert_eq!(scans["a"], 2);
        assert!(scans_per_table("SELECT 1; SELECT 2").is_empty());
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
