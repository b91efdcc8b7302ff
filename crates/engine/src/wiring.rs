//! How a flow's steps connect: which tables are handed off from the step that makes them to the
//! step that reads them (see [`crate::handoff`]) and which are kept for several readers (see
//! [`crate::spool`]), and when each step's inputs are ready.
//!
//! A table is handed off when exactly one step reads it, exactly once: one transform whose SQL
//! names it once and has no `WITH` (a common table expression may be scanned several times), or
//! one output and nothing else. Every other table is kept.

use sluice_domain::names::TableName;
use sluice_domain::ports::FlowPlan;
use std::collections::{HashMap, HashSet};
use tokio::sync::watch;

use crate::analyzer::scans_per_table;
use crate::{Error, Result};

pub struct Wiring {
    handed_off: HashSet<TableName>,
    ready: HashMap<TableName, watch::Receiver<bool>>,
    /// Whether each table's maker has reported its end, so that a reader reports its own after
    /// it: a handed-off table's reader can see the last row before its maker has said so.
    reported: HashMap<TableName, watch::Sender<bool>>,
    /// The signals not yet given to the steps that make the tables.
    signals: HashMap<TableName, ReadySignal>,
}

/// Given by the step that makes a table once others may read it: when a kept table is complete,
/// when a handed-off table's columns are known.
pub struct ReadySignal(watch::Sender<bool>);

/// Held by a step that makes a table; see [`Wiring::reporting`].
pub struct ReportedOnDrop(Option<watch::Sender<bool>>);

impl Drop for ReportedOnDrop {
    fn drop(&mut self) {
        if let Some(reported) = &self.0 {
            reported.send_replace(true);
        }
    }
}

impl ReadySignal {
    pub fn give(self) {
        self.0.send_replace(true);
    }
}

impl Wiring {
    /// `pushed_down[i]` says whether transform `i` runs in its sources' database, reading
    /// nothing of Sluice's.
    pub fn of(plan: &FlowPlan, pushed_down: &[bool]) -> Self {
        let mut scans: HashMap<TableName, usize> = HashMap::new();
        let in_sluice = (plan.transforms.iter().enumerate())
            .filter(|(i, _)| !pushed_down.get(*i).copied().unwrap_or(false));
        for (_, transform) in in_sluice {
            for (table, count) in scans_per_table(&transform.sql) {
                if let Ok(table) = TableName::parse(&table) {
                    *scans.entry(table).or_default() += count;
                }
            }
        }
        for transform in plan.writes.transforms() {
            *scans.entry(transform.clone()).or_default() += 1;
        }
        let tables = plan
            .sources
            .iter()
            .map(|source| &source.alias)
            .chain(plan.transforms.iter().map(|transform| &transform.name));
        let mut handed_off = HashSet::new();
        let mut ready = HashMap::new();
        let mut signals = HashMap::new();
        let mut reported = HashMap::new();
        for table in tables {
            reported.insert(table.clone(), watch::channel(false).0);
            if scans.get(table) == Some(&1) {
                handed_off.insert(table.clone());
            }
            let (signal, receiver) = watch::channel(false);
            ready.insert(table.clone(), receiver);
            signals.insert(table.clone(), ReadySignal(signal));
        }
        Self {
            handed_off,
            ready,
            reported,
            signals,
        }
    }

    /// Marks `table`'s maker as done reporting when dropped, however the maker ended.
    pub fn reporting(&self, table: &TableName) -> ReportedOnDrop {
        ReportedOnDrop(self.reported.get(table).cloned())
    }

    /// Waits until the makers of `tables` have reported their end (or ended without one).
    pub async fn wait_for_reports(&self, tables: &[TableName]) {
        for table in tables {
            if let Some(reported) = self.reported.get(table) {
                let _ = reported.subscribe().wait_for(|done| *done).await;
            }
        }
    }

    /// The signal the step making `table` gives once others may read it.
    pub fn signal(&mut self, table: &TableName) -> ReadySignal {
        // Every source and transform has one, and their names are unique (validation sees to
        // it); a signal for anything else is one that nobody waits for.
        self.signals
            .remove(table)
            .unwrap_or_else(|| ReadySignal(watch::channel(false).0))
    }

    pub fn is_handed_off(&self, table: &TableName) -> bool {
        self.handed_off.contains(table)
    }

    /// The tables among `tables` that are handed off.
    pub fn handed_off<'t>(
        &self,
        tables: impl IntoIterator<Item = &'t TableName>,
    ) -> Vec<&'t TableName> {
        tables
            .into_iter()
            .filter(|table| self.is_handed_off(table))
            .collect()
    }

    /// Waits until every table in `tables` may be read.
    ///
    /// # Errors
    /// A table's maker ended without making it ready (it failed: the flow fails with its error).
    pub async fn wait_for(&self, tables: impl IntoIterator<Item = &TableName>) -> Result<()> {
        for table in tables {
            let Some(ready) = self.ready.get(table) else {
                return Err(Error::Unsupported(format!(
                    "'{table}' is not made by this flow"
                )));
            };
            ready
                .clone()
                .wait_for(|ready| *ready)
                .await
                .map_err(|_| Error::Unsupported(format!("'{table}' ended without its rows")))?;
        }
        Ok(())
    }
}
