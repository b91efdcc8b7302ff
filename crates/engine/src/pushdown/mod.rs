//! Transforms pushed down to the database that holds their sources.
//!
//! A transform that reads only sources of one PostgreSQL or MySQL/MariaDB store runs in that
//! database: its SQL is planned by DataFusion over the sources' columns (asked of the database,
//! no rows read), checked part by part against what means the same there ([`gaps`]), written
//! back as the database's SQL by DataFusion's unparser ([`unparse`]), and prepared by the
//! database; only its result then crosses the network, read like a source query. A transform
//! that fails any of these runs in Sluice as before, and the flow's log says why.
//!
//! SQLite stores are not pushed down: the file is read in-process, so there is no network to
//! save, and SQLite's typing (a column may hold any type) would make the checks weaker.

mod gaps;
mod unparse;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::TreeNode;
use datafusion::datasource::empty::EmptyTable;
use datafusion::logical_expr::{Expr, LogicalPlan, Projection};
use datafusion::prelude::{SessionConfig, SessionContext};
use sluice_domain::data_store::DataStore;
use sluice_domain::flow_input::{SourceRead, Transform};
use sluice_domain::ports::{FlowPlan, PlannedSource, StepPlace};
use std::collections::HashMap;
use std::sync::Arc;

use crate::connectors::{Connector, SourceConnector, connector_for};
pub use gaps::Dialect;

/// A database a transform reading only its sources may run in. Its connector says how
/// ([`Connector::push_down`]).
#[async_trait]
pub trait PushDownDatabase: Send + Sync {
    /// Its SQL, and where that parts from DataFusion's.
    fn dialect(&self) -> &'static Dialect;

    /// `read`'s columns, asked of the database (no rows read), and how its SQL names it.
    ///
    /// # Errors
    /// The database cannot be reached, or refuses the table or query.
    async fn describe(&self, read: &SourceRead) -> crate::Result<Described>;

    /// A reader of `sql`'s rows, cast to `schema`, and how many columns the database says `sql`
    /// has (it prepares the statement; no rows are read), or why it refused it.
    async fn pushed_down(
        &self,
        sql: String,
        schema: SchemaRef,
    ) -> (Box<dyn SourceConnector>, crate::Result<usize>);
}

/// A transform the database holding its sources runs.
pub struct PushedDown {
    pub place: StepPlace,
    /// The SQL the database runs.
    pub sql: String,
    /// DataFusion's plan of the transform, for the debug log.
    pub plan: String,
    /// The transform's columns as Sluice would have made them: the database's rows are cast to
    /// them, so readers see the same table either way.
    pub schema: SchemaRef,
    /// Reads the SQL's rows from the database.
    pub connector: Box<dyn SourceConnector>,
}

/// Where each transform of a flow runs.
pub enum Placement {
    /// In Sluice; with the reason it was not pushed down when all it reads is in one database.
    InSluice(Option<String>),
    PushedDown(PushedDown),
}

/// A source as a pushed-down query reads it.
#[derive(Clone)]
pub struct Described {
    pub schema: SchemaRef,
    /// Its table or query, as the database's SQL names it.
    pub relation: String,
}

/// Where each of `plan`'s transforms runs, in the plan's order. `config` is the flow session's,
/// so the transform's SQL is read the same way as in Sluice.
pub async fn place(plan: &FlowPlan, config: &SessionConfig) -> Vec<Placement> {
    let mut described: HashMap<String, Result<Described, String>> = HashMap::new();
    let mut placements = Vec::with_capacity(plan.transforms.len());
    for (i, transform) in plan.transforms.iter().enumerate() {
        let Some((store, connector, read)) = one_database(plan, i) else {
            placements.push(Placement::InSluice(None));
            continue;
        };
        let Some(database) = connector.push_down() else {
            placements.push(Placement::InSluice(None));
            continue;
        };
        let mut relations = HashMap::new();
        let mut schemas = Vec::new();
        let mut failed = None;
        for source in read {
            let entry = match described.get(source.alias.as_str()) {
                Some(entry) => entry.clone(),
                None => {
                    let entry = database.describe(&source.read).await.map_err(|err| {
                        format!("source '{}' could not be described: {err}", source.alias)
                    });
                    described.insert(source.alias.to_string(), entry.clone());
                    entry
                }
            };
            match entry {
                Ok(found) => {
                    relations.insert(source.alias.to_string(), found.relation);
                    schemas.push((source.alias.to_string(), found.schema));
                }
                Err(why) => {
                    failed = Some(why);
                    break;
                }
            }
        }
        let placement = match failed {
            Some(why) => Err(Some(why)),
            None => push_down(store, database, transform, &schemas, &relations, config).await,
        };
        placements.push(match placement {
            Ok(pushed) => Placement::PushedDown(pushed),
            Err(why) => Placement::InSluice(why),
        });
    }
    placements
}

/// The store and sources transform `i` reads, when they are all sources of one store, with the
/// store's connector.
fn one_database(
    plan: &FlowPlan,
    i: usize,
) -> Option<(&DataStore, Box<dyn Connector>, Vec<&PlannedSource>)> {
    let reads = plan.graph.dependencies(i);
    let sources: Vec<&PlannedSource> = reads
        .iter()
        .map(|table| plan.sources.iter().find(|s| &s.alias == table))
        .collect::<Option<_>>()?;
    let store = &sources.first()?.store;
    if sources.iter().any(|s| s.store.id != store.id) {
        return None;
    }
    Some((store, connector_for(&store.connection), sources))
}

async fn push_down(
    store: &DataStore,
    database: &dyn PushDownDatabase,
    transform: &Transform,
    schemas: &[(String, SchemaRef)],
    relations: &HashMap<String, String>,
    config: &SessionConfig,
) -> Result<PushedDown, Option<String>> {
    let dialect = database.dialect();
    let plan = plan_of(transform, schemas, config).await.map_err(Some)?;
    if !leaves_rows_behind(&plan) {
        // A copy (or a sort) of whole tables moves every row either way, and Sluice reads a
        // large PostgreSQL table over several connections at once.
        return Err(None);
    }
    gaps::check(&plan, dialect).map_err(Some)?;
    let schema: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
    let typed = with_typed_numbers(plan.clone()).map_err(Some)?;
    let sql = unparse::to_sql(&typed, dialect, relations).map_err(Some)?;
    let (connector, columns) = database.pushed_down(sql.clone(), schema.clone()).await;
    check_width(columns, &schema).map_err(Some)?;
    Ok(PushedDown {
        place: StepPlace::Store {
            engine: dialect.server.as_str().to_owned(),
            name: store.name.to_string(),
        },
        sql,
        plan: plan.display_indent().to_string(),
        schema,
        connector,
    })
}

/// Whether the plan filters, aggregates, joins or limits: what makes the database's answer
/// smaller than its tables.
fn leaves_rows_behind(plan: &LogicalPlan) -> bool {
    plan.exists(|node| {
        Ok(matches!(
            node,
            LogicalPlan::Filter(_)
                | LogicalPlan::Aggregate(_)
                | LogicalPlan::Join(_)
                | LogicalPlan::Limit(_)
                | LogicalPlan::Distinct(_)
        ))
    })
    .unwrap_or(false)
}

/// The transform's plan over the sources' columns, with DataFusion's types made explicit (its
/// analyzer's casts), so the database computes in the types Sluice would.
async fn plan_of(
    transform: &Transform,
    schemas: &[(String, SchemaRef)],
    config: &SessionConfig,
) -> Result<LogicalPlan, String> {
    let ctx = SessionContext::new_with_config(config.clone());
    for (alias, schema) in schemas {
        let table: Arc<dyn TableProvider> = Arc::new(EmptyTable::new(Arc::clone(schema)));
        ctx.register_table(alias.as_str(), table)
            .map_err(|err| format!("planning failed: {err}"))?;
    }
    let state = ctx.state();
    let plan = state
        .create_logical_plan(&transform.sql)
        .await
        .map_err(|err| format!("planning failed: {err}"))?;
    state
        .analyzer()
        .execute_and_check(plan, state.config_options(), |_, _| {})
        .map_err(|err| format!("planning failed: {err}"))
}

/// The database must take the SQL (a prepared statement, no rows read) and give the
/// transform's columns.
fn check_width(columns: crate::Result<usize>, schema: &SchemaRef) -> Result<(), String> {
    match columns {
        Ok(width) if width == schema.fields().len() => Ok(()),
        Ok(width) => Err(format!(
            "the database's query has {width} columns where the transform has {}",
            schema.fields().len()
        )),
        Err(err) => Err(format!("the database refused the query: {err}")),
    }
}

/// The plan with each integer and float its outermost projection makes cast to the type
/// DataFusion gives it: a database may widen a sum or an average (PostgreSQL's `sum(bigint)` is
/// a `numeric`). Decimals are not cast: a cast rounds silently to the scale it names, where the
/// database's exact value, read as the planned decimal, is kept or fails the read naming the
/// column ([`PostgresSource::pushed_down`], [`MysqlSource::pushed_down`]).
fn with_typed_numbers(plan: LogicalPlan) -> Result<LogicalPlan, String> {
    let typed = |projection: Projection| -> Result<LogicalPlan, String> {
        let schema = Arc::clone(&projection.schema);
        let exprs = projection
            .expr
            .into_iter()
            .zip(schema.fields())
            .map(|(expr, field)| {
                // A column from a source is cast too (an aggregate's result is a column here as
                // well), at no cost to the database.
                let cast = matches!(field.data_type(), DataType::Int64 | DataType::Float64);
                if !cast {
                    return expr;
                }
                let (relation, name) = expr.qualified_name();
                let cast = Expr::Cast(datafusion::logical_expr::Cast::new(
                    Box::new(expr.unalias()),
                    field.data_type().clone(),
                ));
                cast.alias_qualified(relation, name)
            })
            .collect();
        Projection::try_new_with_schema(exprs, projection.input, schema)
            .map(LogicalPlan::Projection)
            .map_err(|err| format!("planning failed: {err}"))
    };
    match plan {
        LogicalPlan::Projection(projection) => typed(projection),
        LogicalPlan::Sort(mut sort) => {
            sort.input = Arc::new(with_typed_numbers(Arc::unwrap_or_clone(sort.input))?);
            Ok(LogicalPlan::Sort(sort))
        }
        LogicalPlan::Limit(mut limit) => {
            limit.input = Arc::new(with_typed_numbers(Arc::unwrap_or_clone(limit.input))?);
            Ok(LogicalPlan::Limit(limit))
        }
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::{MYSQL, POSTGRES};
    use datafusion::arrow::datatypes::{Field, Schema, TimeUnit};
    use sluice_domain::data_store::ServerKind;
    use sluice_domain::names::TableName;

    fn sources() -> Vec<(String, SchemaRef)> {
        let orders = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("region", DataType::Utf8, true),
            Field::new("amount", DataType::Decimal128(12, 2), true),
            Field::new("qty", DataType::Int32, true),
            Field::new("price", DataType::Float64, true),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
        ]);
        let customers = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]);
        vec![
            ("orders".into(), Arc::new(orders)),
            ("customers".into(), Arc::new(customers)),
        ]
    }

    /// The SQL `transform` is pushed down as, or why it is not.
    async fn pushed(dialect: &Dialect, transform: &str) -> Result<String, String> {
        let transform = Transform {
            name: TableName::parse("t").unwrap(),
            sql: transform.to_owned(),
        };
        let plan = plan_of(&transform, &sources(), &SessionConfig::new()).await?;
        gaps::check(&plan, dialect)?;
        let orders_table = match dialect.server {
            ServerKind::Postgres => "\"orders_table\"",
            ServerKind::Mysql => "`orders_table`",
        };
        let relations = HashMap::from([
            ("orders".to_owned(), orders_table.to_owned()),
            ("customers".to_owned(), "(SELECT * FROM people)".to_owned()),
        ]);
        unparse::to_sql(&with_typed_numbers(plan)?, dialect, &relations)
    }

    #[tokio::test]
    async fn a_filtered_aggregate_goes_down_reading_the_sources_relation() {
        let sql = pushed(
            &POSTGRES,
            "SELECT region, sum(amount) AS total, count(*) AS n FROM orders \
             WHERE qty > 2 AND region = 'north' GROUP BY region",
        )
        .await
        .unwrap();
        assert!(sql.contains(r#"FROM "orders_table" AS "orders""#), "{sql}");
        assert!(sql.contains("GROUP BY"), "{sql}");
        assert!(sql.contains("WHERE"), "{sql}");
        // The database's wider count is cast back to DataFusion's type; a decimal sum is not
        // (a cast would round), it is read as the planned decimal.
        assert!(sql.contains("CAST(count("), "{sql}");
        assert!(sql.contains("sum(\"orders\".\"amount\")"), "{sql}");
        assert!(!sql.contains("CAST(sum("), "{sql}");
        assert!(!sql.contains("sluice_source_"), "{sql}");
    }

    #[tokio::test]
    async fn a_join_reads_each_source_under_its_own_alias() {
        let sql = pushed(
            &MYSQL,
            "SELECT c.id, count(*) AS n FROM orders o JOIN customers c ON o.id = c.id \
             GROUP BY c.id",
        )
        .await
        .unwrap();
        assert!(sql.contains("`orders_table`"), "{sql}");
        assert!(sql.contains("(SELECT * FROM people)"), "{sql}");
        assert!(sql.contains("JOIN"), "{sql}");
    }

    #[tokio::test]
    async fn what_a_database_answers_differently_stays_in_sluice() {
        let cases = [
            (
                &MYSQL,
                "SELECT * FROM orders WHERE region = 'north'",
                "text compared",
            ),
            (
                &MYSQL,
                "SELECT region, count(*) FROM orders GROUP BY region",
                "text grouped",
            ),
            (
                &POSTGRES,
                "SELECT * FROM orders ORDER BY region",
                "text sorted",
            ),
            (&POSTGRES, "SELECT max(region) FROM orders", "max() of Utf8"),
            (&MYSQL, "SELECT qty / 2 FROM orders", "division"),
            (&POSTGRES, "SELECT amount / 3 FROM orders", "division"),
            (&POSTGRES, "SELECT avg(amount) FROM orders", "avg() of"),
            (&POSTGRES, "SELECT round(price) FROM orders", "round"),
            (
                &POSTGRES,
                "SELECT max(price) FROM orders WHERE qty > 1",
                "max() of Float64",
            ),
            (
                &MYSQL,
                "SELECT id FROM orders ORDER BY price LIMIT 3",
                "floats sorted",
            ),
            (&MYSQL, "SELECT id FROM orders ORDER BY qty", "NULLs last"),
            (
                &POSTGRES,
                "SELECT CAST(price AS INT) FROM orders",
                "cast of Float64",
            ),
            (
                &POSTGRES,
                "SELECT id FROM orders WHERE region = 'a\\b'",
                "backslash",
            ),
            (
                &POSTGRES,
                "SELECT id FROM orders WHERE id IN (SELECT id FROM customers)",
                "expression",
            ),
            (
                &MYSQL,
                "SELECT * FROM orders FULL JOIN customers ON orders.id = customers.id",
                "Full",
            ),
        ];
        for (dialect, sql, why) in cases {
            match pushed(dialect, sql).await {
                Ok(pushed) => panic!("{sql} went down to {dialect:?} as {pushed}"),
                Err(gap) => assert!(gap.contains(why), "{sql}: {gap}"),
            }
        }
    }

    #[tokio::test]
    async fn what_means_the_same_goes_down() {
        let cases = [
            (
                &POSTGRES,
                "SELECT id, qty / 2 AS half FROM orders ORDER BY id LIMIT 10",
            ),
            (
                &POSTGRES,
                "SELECT region, avg(qty) FROM orders GROUP BY region",
            ),
            (&MYSQL, "SELECT qty, avg(qty) FROM orders GROUP BY qty"),
            (
                &MYSQL,
                "SELECT id, qty * 2 FROM orders WHERE qty BETWEEN 1 AND 5",
            ),
            (&MYSQL, "SELECT id FROM orders ORDER BY id DESC LIMIT 3"),
            (
                &POSTGRES,
                "WITH big AS (SELECT * FROM orders WHERE amount > 100) \
                 SELECT count(*) FROM big WHERE at >= '2026-01-01T00:00:00Z'",
            ),
            (
                &POSTGRES,
                "SELECT id, row_number() OVER (PARTITION BY region ORDER BY id) FROM orders",
            ),
        ];
        for (dialect, sql) in cases {
            if let Err(gap) = pushed(dialect, sql).await {
                panic!("{sql} stayed in Sluice on {dialect:?}: {gap}");
            }
        }
    }
}
