//! A transform's plan written back as the SQL of the database that holds its sources.
//!
//! The plan reads the flow's source aliases; the database knows its tables, or the queries the
//! sources were given. Each source's scan is renamed to a placeholder made for this one plan,
//! unparsed with the database's dialect, and the placeholder then replaced by the source's table
//! (quoted) or query (in parentheses): the alias stays, so every column reference still holds.

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Result as DfResult, TableReference};
use datafusion::logical_expr::{LogicalPlan, SubqueryAlias, TableScan, TableScanBuilder};
use datafusion::sql::unparser::Unparser;
use std::collections::HashMap;
use std::sync::Arc;

use super::gaps::Dialect;

/// What stands for a source in the database's SQL: its table, quoted, or its query in
/// parentheses.
pub type Relation = String;

/// `plan` as `dialect`'s SQL, each source alias in `relations` read from its relation.
///
/// # Errors
/// The unparser cannot write some part of the plan (the transform then runs in Sluice).
pub fn to_sql(
    plan: &LogicalPlan,
    dialect: &Dialect,
    relations: &HashMap<String, Relation>,
) -> Result<String, String> {
    // Lowercase letters and digits only, so the unparser writes it unquoted, and random, so that
    // nothing in the transform's own text can be taken for it.
    let marker = format!("sluice_source_{}", uuid::Uuid::new_v4().simple());
    let mut placeholders = HashMap::new();
    let renamed = rename_scans(plan.clone(), relations, &marker, &mut placeholders)
        .map_err(|err| format!("the plan could not be prepared for the database: {err}"))?;
    let statement = Unparser::new(dialect.unparser)
        .plan_to_sql(&renamed.data)
        .map_err(|err| format!("the plan cannot be written as SQL: {err}"))?;
    let mut sql = statement.to_string();
    for (placeholder, relation) in &placeholders {
        // Quoted as the dialect quotes identifiers (PostgreSQL's always, MySQL's when needed).
        let written = ['"', '`']
            .iter()
            .map(|quote| format!("{quote}{placeholder}{quote}"))
            .find(|quoted| sql.contains(quoted.as_str()))
            .unwrap_or_else(|| placeholder.clone());
        if sql.matches(written.as_str()).count() != 1 {
            return Err("a source's scan was written more than once".into());
        }
        sql = sql.replace(written.as_str(), relation);
    }
    if sql.contains(&marker) {
        return Err("a source was left unnamed".into());
    }
    Ok(sql)
}

/// Renames every scan of a source to a placeholder of its own, keeping the name the plan reads
/// it by as an alias.
fn rename_scans(
    plan: LogicalPlan,
    relations: &HashMap<String, Relation>,
    marker: &str,
    placeholders: &mut HashMap<String, Relation>,
) -> DfResult<Transformed<LogicalPlan>> {
    let mut placeholder = |table: &TableReference| -> Option<TableReference> {
        let relation = relations.get(table.table())?;
        let name = format!("{marker}_{}", placeholders.len());
        placeholders.insert(name.clone(), relation.clone());
        Some(TableReference::bare(name))
    };
    match plan {
        // `FROM orders o`: the scan is renamed under the transform's own alias.
        LogicalPlan::SubqueryAlias(alias)
            if matches!(alias.input.as_ref(), LogicalPlan::TableScan(_)) =>
        {
            let LogicalPlan::TableScan(scan) = alias.input.as_ref() else {
                unreachable!("matched above");
            };
            let Some(name) = placeholder(&scan.table_name) else {
                return Ok(Transformed::no(LogicalPlan::SubqueryAlias(alias)));
            };
            let renamed = renamed(scan, name)?;
            let aliased = SubqueryAlias::try_new(
                Arc::new(LogicalPlan::TableScan(renamed)),
                alias.alias.clone(),
            )?;
            Ok(Transformed::yes(LogicalPlan::SubqueryAlias(aliased)))
        }
        // `FROM orders`: the scan is renamed and aliased by the source's name.
        LogicalPlan::TableScan(scan) => {
            let Some(name) = placeholder(&scan.table_name) else {
                return Ok(Transformed::no(LogicalPlan::TableScan(scan)));
            };
            let alias = scan.table_name.clone();
            let renamed = renamed(&scan, name)?;
            let aliased = SubqueryAlias::try_new(Arc::new(LogicalPlan::TableScan(renamed)), alias)?;
            Ok(Transformed::yes(LogicalPlan::SubqueryAlias(aliased)))
        }
        other => other.map_children(|child| rename_scans(child, relations, marker, placeholders)),
    }
}

fn renamed(scan: &TableScan, name: TableReference) -> DfResult<TableScan> {
    TableScanBuilder::new(name, Arc::clone(&scan.source))
        .with_projection(scan.projection.clone())
        .with_filters(scan.filters.clone())
        .with_fetch(scan.fetch)
        .build()
}
