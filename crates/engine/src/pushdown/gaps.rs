//! What may run in a source database: the parts of a transform's plan whose meaning there is
//! the same as in DataFusion. Anything else is a dialect gap, and the transform runs in Sluice.
//!
//! The list is of what is allowed, not of what is not: a node, an operator, a function or a type
//! left out stays in Sluice, so a wrong answer needs a mistake in this file rather than a gap
//! nobody thought of. Where the two engines differ:
//!
//! - Text order: PostgreSQL orders and compares text by its collation (`en_US` puts `a` before
//!   `B`), DataFusion by bytes; so no sort, `MIN`/`MAX` or range comparison on text goes down.
//!   MySQL and MariaDB also compare equal text case- and accent-insensitively and ignore trailing
//!   spaces (their default collations), so no text comparison, grouping or join key goes there.
//! - Division: MySQL's `/` of integers or decimals is a decimal rounded to 4 more places, where
//!   DataFusion truncates integers; decimal division rounds differently in each engine. MySQL's
//!   float arithmetic answers 0 where IEEE arithmetic makes -0.0 (`-7.5 * 0`).
//! - `AVG` of decimals has engine-specific scale and rounding (DataFusion averages integers as
//!   floats, and says so with a cast); `round()` is half-even on PostgreSQL's floats.
//! - `NULL` order: MySQL sorts NULLs first ascending and cannot say otherwise.
//! - Casts: PostgreSQL rounds a float cast to an integer, Arrow truncates; MariaDB drops the
//!   zone offset of a text instant.
//! - Floats: DataFusion sorts -0.0 before 0.0, takes -0.0 as the `MIN` of the two and groups them
//!   apart; the databases take them as equal. So no sort, `MIN`/`MAX` or grouping of floats goes
//!   down; comparisons do (`=`, `<`, `BETWEEN` take -0.0 and 0.0 as equal in both).

use datafusion::arrow::datatypes::DataType;
use datafusion::common::NullEquality;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::expr::{AggregateFunction, Cast, InList, Like, WindowFunction};
use datafusion::logical_expr::{
    BinaryExpr, Distinct, Expr, ExprSchemable, JoinType, LogicalPlan, Operator, SortExpr,
    WindowFunctionDefinition,
};
use datafusion::sql::unparser::dialect::Dialect as UnparserDialect;
use sluice_domain::data_store::ServerKind;

/// A database's SQL as a pushed-down transform is written in it, and where its meaning parts
/// from DataFusion's. Each connector of a database that can run transforms has one (see
/// `connectors/postgres/mod.rs`); a difference not named here is one every database has, checked
/// for all of them.
pub struct Dialect {
    /// The server, as a step's place names it.
    pub server: ServerKind,
    /// Its name in a gap's reason.
    pub name: &'static str,
    /// How DataFusion's unparser writes its SQL.
    pub unparser: &'static (dyn UnparserDialect + Sync),
    /// Whether equal text is equal bytes there, for `=`, `IN`, `LIKE`, grouping and join keys
    /// (not so under a collation that ignores case, accents or trailing spaces).
    pub text_equal_as_bytes: bool,
    /// Whether it takes `FULL JOIN`.
    pub full_join: bool,
    /// Whether a sort can say where NULLs go (`NULLS FIRST`/`LAST`).
    pub places_nulls: bool,
    /// Whether `/` of two integers truncates and of two floats is IEEE's, as in DataFusion.
    pub divides_as_datafusion: bool,
    /// Whether it takes `||` for text.
    pub concatenates_text: bool,
    /// Whether float arithmetic makes -0.0 where IEEE arithmetic does.
    pub keeps_negative_zero: bool,
    /// Whether a cast between instants of one zone, or of a text literal with an offset to an
    /// instant, means what it means in DataFusion.
    pub casts_instants: bool,
    /// Whether `row_number`, `rank` and `dense_rank` may go down with the frame the unparser
    /// writes for them.
    pub ranks: bool,
}

impl std::fmt::Debug for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Why a plan cannot run in the database: the first gap found, for the flow's log.
pub type Gap = String;

/// Ok when every part of `plan` means the same in `dialect` as in DataFusion.
pub fn check(plan: &LogicalPlan, dialect: &Dialect) -> Result<(), Gap> {
    first_gap(plan, |node| check_node(node, dialect))
}

/// The first gap `check` finds in `tree`, its nodes visited top down.
fn first_gap<N: TreeNode>(
    tree: &N,
    mut check: impl FnMut(&N) -> Result<(), Gap>,
) -> Result<(), Gap> {
    let mut gap = None;
    let _ = tree.apply(|node| match check(node) {
        Ok(()) => Ok(TreeNodeRecursion::Continue),
        Err(found) => {
            gap = Some(found);
            Ok(TreeNodeRecursion::Stop)
        }
    });
    gap.map_or(Ok(()), Err)
}

fn check_node(node: &LogicalPlan, dialect: &Dialect) -> Result<(), Gap> {
    fn checker<'s>(schema: &'s DFSchema, dialect: &'s Dialect) -> Exprs<'s> {
        Exprs { schema, dialect }
    }
    match node {
        LogicalPlan::TableScan(scan) => {
            if scan.filters.is_empty() && scan.fetch.is_none() {
                Ok(())
            } else {
                Err("a scan with filters of its own".into())
            }
        }
        LogicalPlan::SubqueryAlias(_) => Ok(()),
        LogicalPlan::Projection(projection) => {
            checker(projection.input.schema(), dialect).all(&projection.expr)
        }
        LogicalPlan::Filter(filter) => {
            let exprs = checker(filter.input.schema(), dialect);
            exprs.boolean(&filter.predicate)?;
            exprs.check(&filter.predicate)
        }
        LogicalPlan::Aggregate(aggregate) => {
            let exprs = checker(aggregate.input.schema(), dialect);
            for key in &aggregate.group_expr {
                exprs.check(key)?;
                exprs.groupable(key, "grouped by")?;
            }
            exprs.all(&aggregate.aggr_expr)
        }
        LogicalPlan::Sort(sort) => checker(sort.input.schema(), dialect).sorted_by(&sort.expr),
        LogicalPlan::Limit(limit) => {
            let exprs = checker(limit.input.schema(), dialect);
            for value in [&limit.skip, &limit.fetch].into_iter().flatten() {
                match value.as_ref() {
                    Expr::Literal(ScalarValue::Int64(Some(_)), _) => {}
                    other => return Err(format!("a LIMIT or OFFSET of {other}")),
                }
                exprs.check(value)?;
            }
            Ok(())
        }
        LogicalPlan::Distinct(Distinct::All(input)) => {
            let exprs = checker(input.schema(), dialect);
            for (_, field) in input.schema().iter() {
                exprs.groupable_type(field.data_type(), "made DISTINCT")?;
            }
            Ok(())
        }
        LogicalPlan::Union(union) => {
            if union.inputs.len() < 2 {
                return Err("a UNION of one input".into());
            }
            Ok(())
        }
        LogicalPlan::Join(join) => {
            let allowed = match join.join_type {
                JoinType::Inner | JoinType::Left | JoinType::Right => true,
                JoinType::Full => dialect.full_join,
                _ => false,
            };
            if !allowed {
                return Err(format!("a {} join", join.join_type));
            }
            if join.null_equality != NullEquality::NullEqualsNothing {
                return Err("a join on which NULL equals NULL".into());
            }
            let exprs = checker(&join.schema, dialect);
            for (left, right) in &join.on {
                for key in [left, right] {
                    exprs.check(key)?;
                    exprs.groupable(key, "joined on")?;
                }
            }
            if let Some(filter) = &join.filter {
                exprs.boolean(filter)?;
                exprs.check(filter)?;
            }
            Ok(())
        }
        LogicalPlan::Window(window) => {
            checker(window.input.schema(), dialect).all(&window.window_expr)
        }
        other => Err(format!("a {} step", other.display())),
    }
}

/// Checks expressions over one input's columns.
struct Exprs<'s> {
    schema: &'s DFSchema,
    dialect: &'s Dialect,
}

impl Exprs<'_> {
    fn all(&self, exprs: &[Expr]) -> Result<(), Gap> {
        exprs.iter().try_for_each(|expr| self.check(expr))
    }

    fn type_of(&self, expr: &Expr) -> Result<DataType, Gap> {
        expr.get_type(self.schema)
            .map_err(|_| format!("the type of {expr} is not known"))
    }

    fn boolean(&self, expr: &Expr) -> Result<(), Gap> {
        match self.type_of(expr)? {
            DataType::Boolean => Ok(()),
            other => Err(format!("a condition of type {other}")),
        }
    }

    /// Whether equality of `data_type` values is the same in the database.
    fn comparable_type(&self, data_type: &DataType, what: &str) -> Result<(), Gap> {
        if is_text(data_type) && !self.dialect.text_equal_as_bytes {
            return Err(format!(
                "text {what} ({} compares text by its collation, often ignoring case)",
                self.dialect.name
            ));
        }
        if matches!(data_type, DataType::Binary | DataType::LargeBinary) {
            return Err(format!("bytes {what}"));
        }
        if !is_number(data_type)
            && !is_text(data_type)
            && !is_time(data_type)
            && data_type != &DataType::Boolean
        {
            return Err(format!("values of type {data_type} {what}"));
        }
        Ok(())
    }

    /// Whether grouping by `data_type` values (GROUP BY, DISTINCT, join and partition keys)
    /// makes the same groups in the database.
    fn groupable_type(&self, data_type: &DataType, what: &str) -> Result<(), Gap> {
        if is_float(data_type) {
            // DataFusion keeps -0.0 and 0.0 apart, the databases do not.
            return Err(format!("floats {what}"));
        }
        self.comparable_type(data_type, what)
    }

    fn groupable(&self, expr: &Expr, what: &str) -> Result<(), Gap> {
        self.groupable_type(&self.type_of(expr)?, what)
    }

    fn comparable(&self, expr: &Expr, what: &str) -> Result<(), Gap> {
        self.comparable_type(&self.type_of(expr)?, what)
    }

    /// Whether the order of `expr`'s values is the same in the database.
    fn ordered(&self, expr: &Expr, what: &str) -> Result<(), Gap> {
        let data_type = self.type_of(expr)?;
        if is_text(&data_type) {
            return Err(format!(
                "text {what} (databases order text by their collation, DataFusion by bytes)"
            ));
        }
        if data_type == DataType::Boolean {
            return Err(format!("booleans {what}"));
        }
        self.comparable_type(&data_type, what)
    }

    fn sorted_by(&self, keys: &[SortExpr]) -> Result<(), Gap> {
        for key in keys {
            self.check(&key.expr)?;
            self.ordered(&key.expr, "sorted")?;
            if is_float(&self.type_of(&key.expr)?) {
                return Err(
                    "floats sorted (DataFusion sorts -0.0 before 0.0, databases as equals)".into(),
                );
            }
            // MySQL puts NULLs first ascending and last descending, and has no NULLS FIRST/LAST.
            let mysql_order = key.asc == key.nulls_first;
            let nullable = key.expr.nullable(self.schema).unwrap_or(true);
            if !self.dialect.places_nulls && nullable && !mysql_order {
                return Err(format!(
                    "a sort with NULLs {} ({} cannot say where NULLs go)",
                    if key.nulls_first { "first" } else { "last" },
                    self.dialect.name
                ));
            }
        }
        Ok(())
    }

    /// Every part of `expr`, all the way down.
    fn check(&self, expr: &Expr) -> Result<(), Gap> {
        first_gap(expr, |part| self.check_one(part))
    }

    fn check_one(&self, expr: &Expr) -> Result<(), Gap> {
        match expr {
            Expr::Column(_) | Expr::Alias(_) | Expr::Not(_) => Ok(()),
            Expr::IsNull(_) | Expr::IsNotNull(_) => Ok(()),
            Expr::Negative(inner) => {
                let data_type = self.type_of(inner)?;
                self.float_arithmetic(&data_type, &data_type)
            }
            Expr::Literal(value, _) => literal(value),
            Expr::BinaryExpr(binary) => self.binary(binary),
            Expr::Between(between) => self.ordered(&between.expr, "compared by range"),
            Expr::InList(InList { expr, .. }) => self.comparable(expr, "compared"),
            Expr::Like(like) => self.like(like),
            Expr::Case(case) => match &case.expr {
                Some(operand) => self.comparable(operand, "compared by CASE"),
                None => Ok(()),
            },
            Expr::Cast(cast) => self.cast(cast),
            Expr::ScalarFunction(function) => match function.name() {
                "coalesce" | "nullif" | "abs" => Ok(()),
                other => Err(format!("the function {other}()")),
            },
            Expr::AggregateFunction(aggregate) => self.aggregate(aggregate),
            Expr::WindowFunction(window) => self.window(window),
            other => Err(format!("the expression {other}")),
        }
    }

    fn binary(&self, binary: &BinaryExpr) -> Result<(), Gap> {
        let left = self.type_of(&binary.left)?;
        let right = self.type_of(&binary.right)?;
        match binary.op {
            Operator::And | Operator::Or => Ok(()),
            Operator::Eq | Operator::NotEq => self.comparable_type(&left, "compared"),
            Operator::IsDistinctFrom | Operator::IsNotDistinctFrom => {
                self.comparable_type(&left, "compared")
            }
            Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq => {
                self.ordered(&binary.left, "compared by order")
            }
            Operator::Plus | Operator::Minus | Operator::Multiply | Operator::Modulo => {
                if !is_number(&left) || !is_number(&right) {
                    return Err(format!("{} of {left} and {right}", binary.op));
                }
                self.float_arithmetic(&left, &right)
            }
            Operator::Divide => {
                let floats = is_float(&left) && is_float(&right);
                let integers = is_integer(&left) && is_integer(&right);
                if self.dialect.divides_as_datafusion && (floats || integers) {
                    Ok(())
                } else {
                    Err(format!(
                        "a division of {left} by {right} (it rounds differently there)"
                    ))
                }
            }
            Operator::StringConcat if self.dialect.concatenates_text => Ok(()),
            other => Err(format!("the operator {other}")),
        }
    }

    /// MySQL answers 0 where float arithmetic makes -0.0 (a negative times zero).
    fn float_arithmetic(&self, left: &DataType, right: &DataType) -> Result<(), Gap> {
        if !self.dialect.keeps_negative_zero && (is_float(left) || is_float(right)) {
            return Err(format!(
                "float arithmetic ({} answers 0 where it makes -0.0)",
                self.dialect.name
            ));
        }
        Ok(())
    }

    fn like(&self, like: &Like) -> Result<(), Gap> {
        if !self.dialect.text_equal_as_bytes {
            return Err(format!(
                "LIKE ({} matches by its collation, often ignoring case)",
                self.dialect.name
            ));
        }
        if like.case_insensitive || like.escape_char.is_some() {
            return Err("ILIKE or LIKE with an ESCAPE".into());
        }
        Ok(())
    }

    fn cast(&self, cast: &Cast) -> Result<(), Gap> {
        let from = self.type_of(&cast.expr)?;
        let to = cast.field.data_type();
        let literal_text =
            matches!(cast.expr.as_ref(), Expr::Literal(value, _) if is_text(&value.data_type()));
        let widens = match (&from, to) {
            (a, b) if a == b => true,
            (a, b) if is_integer(a) && (is_integer(b) || is_float(b)) => {
                integer_rank(a) <= integer_rank(b)
            }
            (a, DataType::Decimal128(..)) if is_integer(a) => true,
            (DataType::Float32, DataType::Float64) => true,
            (DataType::Decimal128(_, from_scale), DataType::Decimal128(_, to_scale)) => {
                from_scale <= to_scale
            }
            (DataType::Decimal128(..), DataType::Float64) => true,
            (_, DataType::Date32) => literal_text,
            // DataFusion compares instants in nanoseconds: a change of unit, not of meaning.
            (DataType::Timestamp(_, from_zone), DataType::Timestamp(_, to_zone)) => {
                from_zone == to_zone && self.dialect.casts_instants
            }
            // MariaDB reads a literal's zone offset as garbage after the time and drops it.
            (_, DataType::Timestamp(..)) => literal_text && self.dialect.casts_instants,
            _ => false,
        };
        if widens {
            Ok(())
        } else {
            Err(format!("a cast of {from} to {to}"))
        }
    }

    fn aggregate(&self, aggregate: &AggregateFunction) -> Result<(), Gap> {
        let params = &aggregate.params;
        if params.filter.is_some() || !params.order_by.is_empty() || params.null_treatment.is_some()
        {
            return Err(format!(
                "{}() with FILTER, ORDER BY or a NULL treatment",
                aggregate.func.name()
            ));
        }
        let argument = self.first_argument(&params.args)?;
        if let (true, Some(argument)) = (params.distinct, &argument) {
            self.groupable_type(argument, "counted DISTINCT")?;
        }
        self.aggregate_of(aggregate.func.name(), argument.as_ref())
    }

    /// The type of an aggregate's argument (`count(*)` has none).
    fn first_argument(&self, args: &[Expr]) -> Result<Option<DataType>, Gap> {
        args.first().map(|arg| self.type_of(arg)).transpose()
    }

    fn aggregate_of(&self, name: &str, argument: Option<&DataType>) -> Result<(), Gap> {
        let argument = argument.cloned().unwrap_or(DataType::Null);
        let allowed = match name {
            "count" => true,
            "sum" => is_number(&argument),
            // Of -0.0 and 0.0, DataFusion's min is -0.0; a database's is either.
            "min" | "max" => (is_number(&argument) && !is_float(&argument)) || is_time(&argument),
            // DataFusion casts an integer argument to a float first, which the SQL says.
            "avg" => is_float(&argument),
            _ => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(format!("{name}() of {argument}"))
        }
    }

    fn window(&self, window: &WindowFunction) -> Result<(), Gap> {
        let params = &window.params;
        if params.filter.is_some() || params.null_treatment.is_some() || params.distinct {
            return Err("a window function with FILTER, DISTINCT or a NULL treatment".into());
        }
        for key in &params.partition_by {
            self.groupable(key, "partitioned by")?;
        }
        self.sorted_by(&params.order_by)?;
        match &window.fun {
            WindowFunctionDefinition::WindowUDF(function) => match function.name() {
                // The unparser writes a frame for them, which MySQL refuses for ranking.
                "row_number" | "rank" | "dense_rank" if self.dialect.ranks => Ok(()),
                other => Err(format!("the window function {other}()")),
            },
            WindowFunctionDefinition::AggregateUDF(function) => {
                let argument = self.first_argument(&params.args)?;
                self.aggregate_of(function.name(), argument.as_ref())
            }
        }
    }
}

/// Literals the unparser writes as the database reads them. Text with a backslash is not among
/// them: MySQL reads a backslash in a literal as an escape (as PostgreSQL does where
/// `standard_conforming_strings` is off), so the literal would end elsewhere.
fn literal(value: &ScalarValue) -> Result<(), Gap> {
    let data_type = value.data_type();
    if let ScalarValue::Utf8(Some(text))
    | ScalarValue::LargeUtf8(Some(text))
    | ScalarValue::Utf8View(Some(text)) = value
        && (text.contains('\\') || text.contains('\0'))
    {
        return Err("text with a backslash or a NUL".into());
    }
    if value.is_null()
        || is_number(&data_type)
        || is_text(&data_type)
        || is_time(&data_type)
        || data_type == DataType::Boolean
    {
        Ok(())
    } else {
        Err(format!("a literal of type {data_type}"))
    }
}

fn is_text(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

fn is_integer(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64
    )
}

fn integer_rank(data_type: &DataType) -> u8 {
    match data_type {
        DataType::Int8 => 1,
        DataType::Int16 => 2,
        DataType::Int32 => 3,
        DataType::Int64 => 4,
        // A float takes any integer, rounded to the nearest in both engines.
        _ => 5,
    }
}

fn is_float(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Float32 | DataType::Float64)
}

fn is_number(data_type: &DataType) -> bool {
    is_integer(data_type) || is_float(data_type) || matches!(data_type, DataType::Decimal128(..))
}

fn is_time(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Date32 | DataType::Timestamp(..))
}
