//! Reads transform SQL with DataFusion's own parser, so what validation accepts is what runs.

use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::planner::object_name_to_table_reference;
use datafusion::sql::resolve::resolve_table_references;
use datafusion::sql::sqlparser::ast::{
    Expr, Query, Statement as SqlStatement, Visit, Visitor, visit_relations,
};
use datafusion::sql::sqlparser::parser::ParserError;
use sluice_domain::flow_input::MAX_EXPRESSION_DEPTH;
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

/// The stack of the thread a transform is read on. The parser builds a chain of operators
/// (`a + a + … + a`) without recursing, but walking and dropping the tree it makes recurse once
/// per level: up to [`sluice_domain::flow_input::MAX_SQL_BYTES`] / 2 levels for the longest
/// text allowed, far more than a worker thread's stack holds.
const READING_STACK_BYTES: usize = 256 << 20;

impl SqlAnalyzer for DataFusionSqlAnalyzer {
    fn tables_read(&self, sql: &str) -> Result<Vec<String>, String> {
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("sluice-sql-reading".into())
                .stack_size(READING_STACK_BYTES)
                .spawn_scoped(scope, || tables_read(sql))
                .map_err(|err| format!("could not be read: {err}"))?
                .join()
                .unwrap_or_else(|_| Err("could not be read".into()))
        })
    }
}

fn tables_read(sql: &str) -> Result<Vec<String>, String> {
    let mut statements = DFParser::parse_sql(sql).map_err(|e| parse_failure(&e))?;
    if statements.len() != 1 {
        return Err(format!(
            "must be exactly one query, found {} statements",
            statements.len()
        ));
    }
    let statement = statements.pop_front().expect("one statement");
    let Statement::Statement(query) = &statement else {
        return Err(NOT_A_QUERY.into());
    };
    if !matches!(query.as_ref(), SqlStatement::Query(_)) {
        return Err(NOT_A_QUERY.into());
    }
    let mut size = Size::default();
    if query.visit(&mut size).is_break() {
        return Err(if size.tables > MAX_TABLE_REFERENCES {
            format!(
                "names more than {MAX_TABLE_REFERENCES} tables (each join, subquery and union \
                 counts the tables it reads); split it into several transforms"
            )
        } else {
            format!(
                "nests expressions and queries more than {MAX_EXPRESSION_DEPTH} levels deep \
                 (a chain like a + b + c counts a level per operator); split it into several \
                 expressions or transforms"
            )
        });
    }
    let (tables, _ctes) = resolve_table_references(&statement, true).map_err(|e| e.to_string())?;
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

const NOT_A_QUERY: &str = "must be a query (SELECT, WITH, VALUES), not another kind of statement";

/// Why the text does not parse, in the parser's words, never its debug form.
fn parse_failure(error: &DataFusionError) -> String {
    // The parser's error may come wrapped (in a diagnostic with its place in the text, say).
    let why = match error.find_root() {
        DataFusionError::SQL(parser_error, _) => match parser_error.as_ref() {
            ParserError::TokenizerError(message) | ParserError::ParserError(message) => {
                message.clone()
            }
            ParserError::RecursionLimitExceeded => {
                "it nests parentheses, subqueries or function calls too deeply".into()
            }
        },
        other => strip_prefix(&other.to_string()).to_owned(),
    };
    format!("does not parse: {why}")
}

/// How many tables a transform may name, counting each mention (a self-join names its table
/// twice). Planning a join is far from linear in its tables: 999 joined tables took over 15 GB
/// and minutes of planning that a cancel could not interrupt, where 200 planned in moments.
const MAX_TABLE_REFERENCES: usize = 256;

/// Stops at the first expression or query nested deeper than [`MAX_EXPRESSION_DEPTH`], so the
/// walk itself recurses at most that far, or at the table mention past
/// [`MAX_TABLE_REFERENCES`].
#[derive(Default)]
struct Size {
    now: usize,
    tables: usize,
}

impl Size {
    fn enter(&mut self) -> ControlFlow<()> {
        self.now += 1;
        if self.now > MAX_EXPRESSION_DEPTH {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn leave(&mut self) -> ControlFlow<()> {
        self.now -= 1;
        ControlFlow::Continue(())
    }
}

impl Visitor for Size {
    type Break = ();

    fn pre_visit_relation(
        &mut self,
        _: &datafusion::sql::sqlparser::ast::ObjectName,
    ) -> ControlFlow<()> {
        self.tables += 1;
        if self.tables > MAX_TABLE_REFERENCES {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn pre_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
        self.enter()
    }

    fn post_visit_query(&mut self, _: &Query) -> ControlFlow<()> {
        self.leave()
    }

    fn pre_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> {
        self.enter()
    }

    fn post_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> {
        self.leave()
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
        let unclosed = DataFusionSqlAnalyzer
            .tables_read("SELECT 'x FROM t")
            .unwrap_err();
        assert!(!unclosed.contains("TokenizerError"), "{unclosed}");
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

    fn chain(terms: usize) -> String {
        let sum = vec!["id"; terms].join("+");
        format!("SELECT {sum} AS s FROM a")
    }

    #[test]
    fn a_chain_up_to_the_bound_is_read_and_a_longer_one_refused_in_words() {
        assert_eq!(
            DataFusionSqlAnalyzer.tables_read(&chain(900)).unwrap(),
            ["a"]
        );
        let refused = DataFusionSqlAnalyzer
            .tables_read(&chain(MAX_EXPRESSION_DEPTH + 1))
            .unwrap_err();
        assert!(refused.contains("levels deep"), "{refused}");
        // The longest text allowed, one long chain, is read without overflowing any stack.
        let longest = chain(sluice_domain::flow_input::MAX_SQL_BYTES / 3);
        assert!(DataFusionSqlAnalyzer.tables_read(&longest).is_err());
    }

    #[test]
    fn a_join_of_too_many_tables_is_refused_and_errors_keep_no_debug_text() {
        let joins: String = (1..300).map(|i| format!(" JOIN a a{i} ON true")).collect();
        let refused = DataFusionSqlAnalyzer
            .tables_read(&format!("SELECT a0.id FROM a a0{joins}"))
            .unwrap_err();
        assert!(refused.contains("more than 256 tables"), "{refused}");
        let collated = DataFusionSqlAnalyzer
            .tables_read("SELECT 'x' COLLATE \"C\" COLLATE \"C\" AS s FROM a")
            .unwrap_err();
        assert!(!collated.contains("ParserError"), "{collated}");
    }

    #[test]
    fn deep_parentheses_and_long_cases_are_refused_in_words() {
        let parentheses = format!(
            "SELECT {}1{} FROM a",
            "(".repeat(10_000),
            ")".repeat(10_000)
        );
        let refused = DataFusionSqlAnalyzer.tables_read(&parentheses).unwrap_err();
        assert!(refused.contains("too deeply"), "{refused}");
        assert!(!refused.contains("RecursionLimit"), "{refused}");
        let branches: String = (0..10_000)
            .map(|i| format!(" WHEN id = {i} THEN {i}"))
            .collect();
        let case = format!("SELECT CASE{branches} END AS c FROM a");
        // Ten thousand branches side by side are wide, not deep (the domain refuses a text this
        // long before it is read).
        assert_eq!(DataFusionSqlAnalyzer.tables_read(&case).unwrap(), ["a"]);
    }
}
