//! The memory pool of one flow's operators: fair among the operators that can spill, with a
//! share always left for those that cannot.
//!
//! DataFusion's `FairSpillPool` lets the operators that can spill (sorts, aggregates) take all of
//! the pool between them. The operators that cannot (the merge that reads a sort's spill files
//! back, a sort-preserving merge, a hash join's build side) come later in a plan's run and then
//! find nothing left: a sort whose rows outgrow the pool failed the flow instead of spilling.
//! Here spilling operators share at most [`SPILLING_SHARE`] of the pool, fairly, as
//! `FairSpillPool` shares all of it; the others may take whatever is free, up to the whole pool.

use std::fmt;
use std::sync::Mutex;

use datafusion::common::{DataFusionError, human_readable_size};
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};

/// The part of the pool operators that can spill may hold between them, in quarters.
const SPILLING_SHARE: (usize, usize) = (3, 4);

#[derive(Debug, Default)]
struct Use {
    /// Operators that can spill, registered now.
    spillers: usize,
    spillable: usize,
    unspillable: usize,
}

#[derive(Debug)]
pub struct FlowMemoryPool {
    size: usize,
    used: Mutex<Use>,
}

impl FlowMemoryPool {
    pub fn new(size: usize) -> Self {
        Self {
            size,
            used: Mutex::default(),
        }
    }

    fn used(&self) -> std::sync::MutexGuard<'_, Use> {
        // The counts are plain numbers: a panic elsewhere while holding the lock leaves them whole.
        self.used
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn refused(
        &self,
        reservation: &MemoryReservation,
        additional: usize,
        available: usize,
    ) -> DataFusionError {
        DataFusionError::ResourcesExhausted(format!(
            "Failed to allocate additional {} for {} with {} already allocated for this \
             reservation - {} remain available for the total memory pool: {self}",
            human_readable_size(additional),
            reservation.consumer().name(),
            human_readable_size(reservation.size()),
            human_readable_size(available),
        ))
    }
}

impl fmt::Display for FlowMemoryPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "flow(pool_size: {})", human_readable_size(self.size))
    }
}

impl MemoryPool for FlowMemoryPool {
    fn name(&self) -> &str {
        "flow"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        if consumer.can_spill() {
            self.used().spillers += 1;
        }
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        if consumer.can_spill() {
            let mut used = self.used();
            used.spillers = used.spillers.saturating_sub(1);
        }
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        let mut used = self.used();
        match reservation.consumer().can_spill() {
            true => used.spillable += additional,
            false => used.unspillable += additional,
        }
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        let mut used = self.used();
        match reservation.consumer().can_spill() {
            true => used.spillable = used.spillable.saturating_sub(shrink),
            false => used.unspillable = used.unspillable.saturating_sub(shrink),
        }
    }

    fn try_grow(
        &self,
        reservation: &MemoryReservation,
        additional: usize,
    ) -> Result<(), DataFusionError> {
        let mut used = self.used();
        let free = self.size.saturating_sub(used.spillable + used.unspillable);
        if reservation.consumer().can_spill() {
            // Each spilling operator's fair part of the spilling share, less what the others
            // that cannot spill hold now; and never more than is free.
            let share = self.size / SPILLING_SHARE.1 * SPILLING_SHARE.0;
            let each = share.saturating_sub(used.unspillable) / used.spillers.max(1);
            let available = each.saturating_sub(reservation.size()).min(free);
            if additional > available {
                return Err(self.refused(reservation, additional, available));
            }
            used.spillable += additional;
        } else {
            if additional > free {
                return Err(self.refused(reservation, additional, free));
            }
            used.unspillable += additional;
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        let used = self.used();
        used.spillable + used.unspillable
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const MB: usize = 1 << 20;

    fn pool(size: usize) -> Arc<dyn MemoryPool> {
        Arc::new(FlowMemoryPool::new(size))
    }

    #[test]
    fn spilling_operators_leave_a_quarter_for_those_that_cannot_spill() {
        let pool = pool(100 * MB);
        let sort = MemoryConsumer::new("sort")
            .with_can_spill(true)
            .register(&pool);
        let other_sort = MemoryConsumer::new("other sort")
            .with_can_spill(true)
            .register(&pool);
        // Two spillers share 75 MB: 37.5 MB each.
        sort.try_grow(37 * MB).unwrap();
        assert!(sort.try_grow(MB).is_err());
        other_sort.try_grow(37 * MB).unwrap();
        // What is left is the merge's, which cannot spill.
        let merge = MemoryConsumer::new("merge").register(&pool);
        merge.try_grow(25 * MB).unwrap();
        assert!(merge.try_grow(2 * MB).is_err());
        assert_eq!(pool.reserved(), 99 * MB);
    }

    #[test]
    fn operators_that_cannot_spill_may_take_the_whole_pool_and_spillers_then_get_none() {
        let pool = pool(100 * MB);
        let build = MemoryConsumer::new("hash join build").register(&pool);
        build.try_grow(90 * MB).unwrap();
        assert!(build.try_grow(11 * MB).is_err());
        let sort = MemoryConsumer::new("sort")
            .with_can_spill(true)
            .register(&pool);
        assert!(sort.try_grow(MB).is_err());
        build.shrink(90 * MB);
        sort.try_grow(75 * MB).unwrap();
        let refused = sort.try_grow(MB).unwrap_err().to_string();
        assert!(
            refused.contains("Failed to allocate additional 1024.0 KB for sort"),
            "{refused}"
        );
    }

    #[test]
    fn a_spiller_that_unregisters_gives_its_part_back() {
        let pool = pool(80 * MB);
        let first = MemoryConsumer::new("first")
            .with_can_spill(true)
            .register(&pool);
        let second = MemoryConsumer::new("second")
            .with_can_spill(true)
            .register(&pool);
        assert!(first.try_grow(31 * MB).is_err());
        drop(second);
        first.try_grow(60 * MB).unwrap();
        drop(first);
        assert_eq!(pool.reserved(), 0);
    }
}
