//! One statement's share of the server's memory pool: a [`MemoryPool`] that
//! draws every reservation from the server's pool (so all statements
//! together stay within `--memory-limit`) and refuses a statement that
//! would hold more than `--query-memory` of it. Operators that can spill
//! spill first; an operator that cannot fails its statement alone, and the
//! other statements go on.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::common::{DataFusionError, Result};
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};

/// One statement's share of a shared pool.
#[derive(Debug)]
pub struct StatementPool {
    /// The server's pool, which every statement draws from.
    shared: Arc<dyn MemoryPool>,
    /// The most this statement may hold, in bytes.
    limit: usize,
    /// What it holds now.
    used: AtomicUsize,
}

impl StatementPool {
    /// A statement's pool of at most `limit` bytes, drawn from `shared`.
    pub fn new(shared: Arc<dyn MemoryPool>, limit: usize) -> Self {
        StatementPool {
            shared,
            limit,
            used: AtomicUsize::new(0),
        }
    }
}

impl fmt::Display for StatementPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "statement pool of {} bytes in {}",
            self.limit, self.shared
        )
    }
}

impl MemoryPool for StatementPool {
    fn name(&self) -> &str {
        "statement"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.shared.register(consumer);
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.shared.unregister(consumer);
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.used.fetch_add(additional, Ordering::SeqCst);
        self.shared.grow(reservation, additional);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.used.fetch_sub(shrink, Ordering::SeqCst);
        self.shared.shrink(reservation, shrink);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        let before = self.used.fetch_add(additional, Ordering::SeqCst);
        if before + additional > self.limit {
            self.used.fetch_sub(additional, Ordering::SeqCst);
            return Err(DataFusionError::ResourcesExhausted(format!(
                "the statement needs more than its share of the server's memory ({} MiB, --query-memory); {} of {} would hold {} MiB more than it has ({} MiB): filter or aggregate more, or raise --query-memory",
                self.limit >> 20,
                reservation.consumer().name(),
                reservation.size() >> 20,
                additional >> 20,
                before >> 20,
            )));
        }
        if let Err(e) = self.shared.try_grow(reservation, additional) {
            self.used.fetch_sub(additional, Ordering::SeqCst);
            return Err(e);
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.used.load(Ordering::SeqCst)
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::memory_pool::GreedyMemoryPool;

    #[test]
    fn a_statement_holds_at_most_its_share_and_all_of_them_the_pool() {
        let shared: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(100));
        let first: Arc<dyn MemoryPool> = Arc::new(StatementPool::new(Arc::clone(&shared), 60));
        let second: Arc<dyn MemoryPool> = Arc::new(StatementPool::new(Arc::clone(&shared), 60));
        let a = MemoryConsumer::new("a").register(&first);
        let b = MemoryConsumer::new("b").register(&second);
        a.try_grow(50).unwrap();
        // Beyond the statement's share: refused, naming the flag.
        let error = a.try_grow(20).unwrap_err().to_string();
        assert!(error.contains("--query-memory"), "{error}");
        assert_eq!((first.reserved(), shared.reserved()), (50, 50));
        // Within the share but beyond what the pool has left.
        b.try_grow(40).unwrap();
        assert!(b.try_grow(15).is_err());
        assert_eq!((second.reserved(), shared.reserved()), (40, 90));
        // Freed memory goes back to both.
        a.shrink(30);
        b.try_grow(15).unwrap();
        assert_eq!(
            (first.reserved(), second.reserved(), shared.reserved()),
            (20, 55, 75)
        );
        drop(a);
        drop(b);
        assert_eq!(shared.reserved(), 0);
    }
}
