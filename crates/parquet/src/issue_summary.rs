//! How many issues each resource partition holds by field and issue type: the summary that
//! answers issue counts, and finds where a filtered page falls, without scanning rows.
//!
//! Every column a count groups on or a filter names is one of dataset, resource, field and issue
//! type, and a partition's rows all share their dataset and resource; so a partition's counts by
//! (field, issue type) answer any of those queries by addition. A partition is summarised by one
//! grouped scan of its two small columns the first time a query needs it, and again only when
//! its files change (a new fingerprint in the listing), so new files show within the listing
//! refresh as they do everywhere else.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::functions_aggregate::expr_fn::count;
use datafusion::prelude::{ident, lit};
use serde::{Deserialize, Serialize};
use sluice_domain::metadata::{FilterValue, IssueColumn, IssueFilters};

use crate::ParquetArchive;
use crate::arrow_values::{integers, strings};
use crate::issue_partitions::{Partition, PartitionCounts};

/// One group of a partition's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Group {
    pub field: Option<String>,
    pub issue_type: Option<String>,
    pub rows: u64,
}

/// A partition as summarised: its dataset and resource and its groups.
#[derive(Debug, Clone)]
pub(crate) struct Summary {
    pub dataset: String,
    pub resource: String,
    pub groups: Arc<Vec<Group>>,
}

impl Summary {
    /// The value of `column` in `group` of this partition.
    pub fn value<'a>(&'a self, group: &'a Group, column: IssueColumn) -> Option<&'a str> {
        match column {
            IssueColumn::Dataset => Some(&self.dataset),
            IssueColumn::Resource => Some(&self.resource),
            IssueColumn::Field => group.field.as_deref(),
            IssueColumn::IssueType => group.issue_type.as_deref(),
        }
    }

    /// The groups of this partition that pass `filters`.
    pub fn admitted<'a>(&'a self, filters: &'a IssueFilters) -> impl Iterator<Item = &'a Group> {
        self.groups.iter().filter(move |group| {
            IssueColumn::ALL
                .into_iter()
                .all(|column| filters.admits(column, self.value(group, column)))
        })
    }
}

/// The most partitions summarised by a scan that names them in a list; more are summarised by a
/// scan of their whole dataset.
const PARTITIONS_PER_SCAN: usize = 512;

/// The most partitions whose summaries are kept; past it the index starts again (every summary
/// is a scan away), so made-up datasets cannot grow it for ever.
const MAX_SUMMARIES: usize = 1 << 20;

/// A partition's summary and the fingerprint of the files it was made from.
type Kept = (u64, Arc<Vec<Group>>);

/// Summaries by dataset, then resource.
#[derive(Default)]
pub(crate) struct SummaryIndex {
    summaries: Mutex<HashMap<String, HashMap<String, Kept>>>,
    /// How many summaries were made: what the index file has to catch up with.
    learnt: AtomicU64,
}

/// A summary as kept on disk: dataset, resource, fingerprint and groups.
pub(crate) type KnownSummary = (String, String, u64, Arc<Vec<Group>>);

impl SummaryIndex {
    /// Summaries made before (the index file), as if they had been made now.
    pub fn learn(&self, known: impl IntoIterator<Item = KnownSummary>) {
        let mut summaries = self.summaries.lock().unwrap();
        for (dataset, resource, fingerprint, groups) in known {
            summaries
                .entry(dataset)
                .or_default()
                .insert(resource, (fingerprint, groups));
        }
    }

    /// Every summary kept.
    pub fn known(&self) -> Vec<KnownSummary> {
        let summaries = self.summaries.lock().unwrap();
        summaries
            .iter()
            .flat_map(|(dataset, of_dataset)| {
                of_dataset.iter().map(|(resource, (fingerprint, groups))| {
                    (
                        dataset.clone(),
                        resource.clone(),
                        *fingerprint,
                        groups.clone(),
                    )
                })
            })
            .collect()
    }

    /// How many summaries were made so far.
    pub fn learnt(&self) -> u64 {
        self.learnt.load(Ordering::Relaxed)
    }

    /// The summary of each of `partitions` of `dataset` that is kept and still fits its files.
    fn get(&self, dataset: &str, partitions: &[&Partition]) -> Vec<Option<Arc<Vec<Group>>>> {
        let summaries = self.summaries.lock().unwrap();
        let of_dataset = summaries.get(dataset);
        partitions
            .iter()
            .map(|partition| {
                of_dataset?
                    .get(&partition.resource)
                    .filter(|(fingerprint, _)| *fingerprint == partition.fingerprint)
                    .map(|(_, groups)| groups.clone())
            })
            .collect()
    }

    fn put(&self, dataset: &str, partition: &Partition, groups: Arc<Vec<Group>>) {
        self.learnt.fetch_add(1, Ordering::Relaxed);
        let mut summaries = self.summaries.lock().unwrap();
        let kept: usize = summaries.values().map(HashMap::len).sum();
        if kept >= MAX_SUMMARIES {
            summaries.clear();
        }
        summaries
            .entry(dataset.to_owned())
            .or_default()
            .insert(partition.resource.clone(), (partition.fingerprint, groups));
    }
}

impl ParquetArchive {
    /// The partition counts of a partitioned log and the datasets `filters` name (every dataset
    /// when it names none), in order; `None` when the log is flat or a dataset or resource name
    /// is not plain, which only the general path reads right.
    ///
    /// # Errors
    /// `DataFusion` when the archive cannot be listed.
    pub(crate) async fn partitioned_datasets(
        &self,
        filters: &IssueFilters,
    ) -> crate::Result<Option<(&PartitionCounts, Vec<String>)>> {
        let Some(counts) = self.partition_counts() else {
            return Ok(None);
        };
        let datasets: Vec<String> = if filters.dataset.is_empty() {
            match counts.datasets().await? {
                Some(datasets) => datasets,
                None => return Ok(None),
            }
        } else {
            let mut named: Vec<String> = filters
                .dataset
                .iter()
                .map(|d| d.as_str().to_owned())
                .collect();
            named.sort();
            named
        };
        let plain = datasets
            .iter()
            .map(String::as_str)
            .chain(filters.resource.iter().map(FilterValue::as_str))
            .all(crate::issue_partitions::plain);
        Ok(plain.then_some((counts, datasets)))
    }

    /// The summaries of every partition of the datasets `filters` name (of every dataset when
    /// it names none), in dataset then resource order; `None` when the log is flat or a name
    /// is not plain, which only the general path reads right.
    ///
    /// # Errors
    /// `DataFusion` when the archive cannot be listed or read.
    pub(crate) async fn summaries(
        &self,
        filters: &IssueFilters,
    ) -> crate::Result<Option<Vec<Summary>>> {
        let Some((counts, datasets)) = self.partitioned_datasets(filters).await? else {
            return Ok(None);
        };
        let mut all = Vec::new();
        for dataset in datasets {
            let Some(partitions) = counts.of(&dataset).await? else {
                return Ok(None);
            };
            let wanted: Vec<&Partition> = partitions
                .iter()
                .filter(|p| filters.admits(IssueColumn::Resource, Some(&p.resource)))
                .collect();
            let kept = self.summary_index().get(&dataset, &wanted);
            let missing: Vec<&Partition> = wanted
                .iter()
                .zip(&kept)
                .filter(|(_, kept)| kept.is_none())
                .map(|(partition, _)| *partition)
                .collect();
            let mut made = Vec::with_capacity(missing.len());
            if missing.len() > PARTITIONS_PER_SCAN {
                // Most of a large dataset: one scan of all of it beats many scans of lists.
                made.extend(self.summarise(&dataset, &missing, None).await?);
            } else if !missing.is_empty() {
                made.extend(self.summarise(&dataset, &missing, Some(&missing)).await?);
            }
            let mut made = made.into_iter();
            for (partition, kept) in wanted.into_iter().zip(kept) {
                // A partition not kept was summarised above, in the same order.
                let Some(groups) = kept.or_else(|| made.next()) else {
                    continue;
                };
                all.push(Summary {
                    dataset: dataset.clone(),
                    resource: partition.resource.clone(),
                    groups,
                });
            }
        }
        Ok(Some(all))
    }

    /// Counts the rows of `partitions` by field and issue type, in one scan of those columns
    /// (of the partitions `scan` names, or of the whole dataset), and keeps the summaries;
    /// answers them in the order of `partitions`.
    async fn summarise(
        &self,
        dataset: &str,
        partitions: &[&Partition],
        scan: Option<&[&Partition]>,
    ) -> crate::Result<Vec<Arc<Vec<Group>>>> {
        let mut predicate = ident("dataset").eq(lit(dataset));
        if let Some(scan) = scan {
            let resources = scan.iter().map(|p| lit(p.resource.as_str())).collect();
            predicate = predicate.and(ident("resource").in_list(resources, false));
        }
        let batches = self
            .issue_frame()
            .await?
            .filter(predicate)?
            .aggregate(
                vec![ident("resource"), ident("field"), ident("issue-type")],
                vec![count(lit(1)).alias("rows")],
            )?
            .collect()
            .await?;
        metrics::counter!("sluice_archive_partitions_summarised_total")
            .increment(partitions.len() as u64);
        let mut groups: HashMap<String, Vec<Group>> = HashMap::new();
        for batch in &batches {
            let resource = strings(batch, 0)?;
            let field = strings(batch, 1)?;
            let issue_type = strings(batch, 2)?;
            let rows = integers(batch, 3)?;
            for row in 0..batch.num_rows() {
                groups
                    .entry(resource[row].clone().unwrap_or_default())
                    .or_default()
                    .push(Group {
                        field: field[row].clone(),
                        issue_type: issue_type[row].clone(),
                        rows: rows[row].unwrap_or(0).max(0) as u64,
                    });
            }
        }
        Ok(partitions
            .iter()
            .map(|partition| {
                let summary = Arc::new(groups.remove(&partition.resource).unwrap_or_default());
                self.summary_index()
                    .put(dataset, partition, summary.clone());
                summary
            })
            .collect())
    }
}
