//! The transform graph: which tables each transform's SQL reads, checked against the sources and
//! the other transforms, and ordered into layers whose transforms can run concurrently.

use std::collections::{BTreeSet, HashMap};

use crate::error::{FieldPath, Violation};
use crate::flow_input::Transform;
use crate::names::TableName;
use crate::ports::SqlAnalyzer;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformGraph {
    /// For each transform (by index), the tables its SQL reads.
    dependencies: Vec<Vec<TableName>>,
    /// Transform indexes in dependency order: each layer reads only sources and earlier layers.
    layers: Vec<Vec<usize>>,
}

impl TransformGraph {
    /// Builds the graph, or says everything that is wrong with it, each violation pointing at the
    /// transform it is about (`/transforms/{i}/sql` or `/transforms/{i}/name`).
    ///
    /// # Errors
    /// SQL that does not parse, a table that is neither a source nor a transform, a transform named
    /// like a source or another transform, and a cycle (named in full).
    pub fn build(
        source_names: &[TableName],
        transforms: &[Transform],
        analyzer: &dyn SqlAnalyzer,
    ) -> Result<Self, Vec<Violation>> {
        let mut violations = Vec::new();
        let mut index_of: HashMap<&TableName, usize> = HashMap::new();
        for (i, transform) in transforms.iter().enumerate() {
            if source_names.contains(&transform.name) {
                violations.push(Violation::new(
                    FieldPath::new("transforms").index(i).field("name"),
                    format!("'{}' is already the name of a source", transform.name),
                ));
            } else if index_of.insert(&transform.name, i).is_some() {
                violations.push(Violation::new(
                    FieldPath::new("transforms").index(i).field("name"),
                    format!("'{}' names another transform too", transform.name),
                ));
            }
        }

        let mut dependencies = Vec::with_capacity(transforms.len());
        for (i, transform) in transforms.iter().enumerate() {
            let pointer = FieldPath::new("transforms").index(i).field("sql");
            let tables = match analyzer.tables_read(&transform.sql) {
                Ok(tables) => tables,
                Err(message) => {
                    violations.push(Violation::new(pointer, message));
                    dependencies.push(Vec::new());
                    continue;
                }
            };
            let mut reads = BTreeSet::new();
            for table in tables {
                match TableName::parse(&table) {
                    Ok(name) if source_names.contains(&name) || index_of.contains_key(&name) => {
                        reads.insert(name);
                    }
                    _ => violations.push(Violation::new(
                        pointer.clone(),
                        format!("reads table '{table}', which is neither a source nor a transform"),
                    )),
                }
            }
            dependencies.push(reads.into_iter().collect());
        }
        if !violations.is_empty() {
            return Err(violations);
        }

        let transform_deps: Vec<Vec<usize>> = dependencies
            .iter()
            .map(|reads: &Vec<TableName>| {
                reads
                    .iter()
                    .filter_map(|t| index_of.get(t).copied())
                    .collect()
            })
            .collect();
        match layers_of(&transform_deps) {
            Ok(layers) => Ok(Self {
                dependencies,
                layers,
            }),
            Err(cycle) => {
                let names: Vec<&str> = cycle.iter().map(|&i| transforms[i].name.as_str()).collect();
                let message = format!("forms a cycle: {} -> {}", names.join(" -> "), names[0]);
                Err(vec![Violation::new(
                    FieldPath::new("transforms").index(cycle[0]).field("sql"),
                    message,
                )])
            }
        }
    }

    pub fn dependencies(&self, transform: usize) -> &[TableName] {
        &self.dependencies[transform]
    }

    pub fn layers(&self) -> &[Vec<usize>] {
        &self.layers
    }
}

/// Kahn's algorithm by layers; on a cycle, returns the transforms of one cycle in order.
fn layers_of(deps: &[Vec<usize>]) -> Result<Vec<Vec<usize>>, Vec<usize>> {
    let mut placed = vec![false; deps.len()];
    let mut layers = Vec::new();
    let mut remaining = deps.len();
    while remaining > 0 {
        let layer: Vec<usize> = (0..deps.len())
            .filter(|&i| !placed[i] && deps[i].iter().all(|&d| placed[d]))
            .collect();
        if layer.is_empty() {
            return Err(find_cycle(deps, &placed));
        }
        for &i in &layer {
            placed[i] = true;
        }
        remaining -= layer.len();
        layers.push(layer);
    }
    Ok(layers)
}

/// Walks unplaced dependencies from an unplaced transform until one repeats: every unplaced
/// transform depends on another unplaced one, so the walk must close a cycle.
fn find_cycle(deps: &[Vec<usize>], placed: &[bool]) -> Vec<usize> {
    let start = placed
        .iter()
        .position(|p| !p)
        .expect("a cycle leaves transforms unplaced");
    let mut path = vec![start];
    let mut current = start;
    loop {
        let next = *deps[current]
            .iter()
            .find(|&&d| !placed[d])
            .expect("an unplaced transform depends on an unplaced transform");
        if let Some(pos) = path.iter().position(|&p| p == next) {
            let mut cycle = path.split_off(pos);
            // Start the cycle at its first-declared transform so the message is stable.
            let min_pos = cycle
                .iter()
                .enumerate()
                .min_by_key(|(_, i)| **i)
                .map(|(p, _)| p)
                .unwrap_or(0);
            cycle.rotate_left(min_pos);
            return cycle;
        }
        path.push(next);
        current = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the words after FROM and JOIN: enough SQL for the graph's own tests.
    struct WordAnalyzer;

    impl SqlAnalyzer for WordAnalyzer {
        fn tables_read(&self, sql: &str) -> Result<Vec<String>, String> {
            if sql.contains("SELEC ") {
                return Err("syntax error".into());
            }
            let words: Vec<&str> = sql.split_whitespace().collect();
            Ok(words
                .windows(2)
                .filter(|w| w[0].eq_ignore_ascii_case("from") || w[0].eq_ignore_ascii_case("join"))
                .map(|w| w[1].to_owned())
                .collect())
        }
    }

    fn name(raw: &str) -> TableName {
        TableName::parse(raw).unwrap()
    }

    fn transform(n: &str, sql: &str) -> Transform {
        Transform {
            name: name(n),
            sql: sql.into(),
        }
    }

    #[test]
    fn independent_transforms_share_a_layer_and_dependents_follow() {
        let sources = [name("orders"), name("customers")];
        let transforms = [
            transform("joined", "SELECT * FROM big JOIN known"),
            transform("big", "SELECT * FROM orders"),
            transform("known", "SELECT * FROM customers"),
        ];
        let graph = TransformGraph::build(&sources, &transforms, &WordAnalyzer).unwrap();
        assert_eq!(graph.layers(), &[vec![1, 2], vec![0]]);
        assert_eq!(graph.dependencies(0), &[name("big"), name("known")]);
    }

    #[test]
    fn a_cycle_is_named_in_full() {
        let transforms = [
            transform("a", "SELECT * FROM c"),
            transform("b", "SELECT * FROM a"),
            transform("c", "SELECT * FROM b"),
        ];
        let err = TransformGraph::build(&[], &transforms, &WordAnalyzer).unwrap_err();
        assert_eq!(
            err,
            vec![Violation::new(
                FieldPath::new("transforms").index(0).field("sql"),
                "forms a cycle: a -> c -> b -> a"
            )]
        );
    }

    #[test]
    fn unknown_tables_duplicates_and_bad_sql_all_point_at_their_transform() {
        let sources = [name("orders")];
        let transforms = [
            transform("orders", "SELECT * FROM orders"),
            transform("x", "SELECT * FROM nowhere"),
            transform("x", "SELECT * FROM orders"),
            transform("y", "SELEC * FROM orders"),
        ];
        let err = TransformGraph::build(&sources, &transforms, &WordAnalyzer).unwrap_err();
        let pointers: Vec<String> = err.iter().map(|v| v.path.to_string()).collect();
        assert_eq!(
            pointers,
            [
                "/transforms/0/name",
                "/transforms/2/name",
                "/transforms/1/sql",
                "/transforms/3/sql"
            ]
        );
    }

    #[test]
    fn a_self_reference_is_a_cycle() {
        let err = TransformGraph::build(&[], &[transform("a", "SELECT * FROM a")], &WordAnalyzer)
            .unwrap_err();
        assert_eq!(err[0].message, "forms a cycle: a -> a");
    }
}
