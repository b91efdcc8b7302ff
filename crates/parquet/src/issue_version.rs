//! The version of a partitioned issue log, by dataset: what `ETag`s of issue answers are made
//! from, so that a client holding a current answer is told so without the answer being read.
//!
//! A dataset's version is the fingerprint of each of its partitions as last listed (the files'
//! paths, sizes and times), so it changes within the listing refresh of any file being added,
//! replaced or removed. Listing a dataset that changed also makes the context list again (see
//! [`crate::issue_partitions`]), so an answer is never read from files older than its version.

use sha2::{Digest, Sha256};
use sluice_domain::metadata::IssueFilters;

use crate::ParquetArchive;

impl ParquetArchive {
    /// The version of the datasets `filters` name (of every dataset when it names none); `None`
    /// for a flat log or names only the general path reads.
    ///
    /// # Errors
    /// `DataFusion` when the archive cannot be listed or a footer read.
    pub(crate) async fn issue_version(
        &self,
        filters: &IssueFilters,
    ) -> crate::Result<Option<String>> {
        let Some((counts, datasets)) = self.partitioned_datasets(filters).await? else {
            return Ok(None);
        };
        let mut version = Sha256::new();
        version.update(self.url_of("").as_bytes());
        for dataset in datasets {
            let Some(partitions) = counts.of(&dataset).await? else {
                return Ok(None);
            };
            version.update([0]);
            version.update(dataset.as_bytes());
            for partition in partitions.iter() {
                version.update([1]);
                version.update(partition.resource.as_bytes());
                version.update(partition.fingerprint.to_le_bytes());
            }
        }
        Ok(Some(hex::encode(&version.finalize()[..16])))
    }
}
