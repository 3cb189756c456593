//! Worker thread pools for batch calls: a few pools, reused across calls, safe across `fork`.
//!
//! * Bounded: the most recently used pools are kept (at most [`MAX_POOLS`], and no more than
//!   [`MAX_KEPT_THREADS`] threads in all); older ones are dropped, and their threads exit once
//!   their last call finishes. A pool per distinct `num_threads`, never freed, held 3,570 OS
//!   threads after `num_threads` 2..84 and then failed to start more.
//! * Fork-safe: the registry lock is taken before `fork` and released after it in both processes
//!   (`pthread_atfork`), so a child never inherits it locked by a thread that does not exist
//!   there (a child forked while another thread built a pool blocked forever on it). Pools
//!   inherited by a child have no threads in it; the child leaks them (dropping them would signal
//!   threads that are not there) and builds its own.

use std::sync::{Arc, Mutex, MutexGuard, Once};

use rayon::ThreadPool;

use crate::error::{Error, Result};

/// Pools kept for reuse.
const MAX_POOLS: usize = 4;
/// Threads kept in all the reused pools together (the pool just used is always kept).
const MAX_KEPT_THREADS: usize = 256;
/// Largest `num_threads` accepted.
pub const MAX_THREADS: usize = 1024;

#[derive(Default)]
struct Registry {
    /// The process the pools belong to.
    pid: u32,
    /// `(threads, pool)`, most recently used first.
    pools: Vec<(usize, Arc<ThreadPool>)>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    pid: 0,
    pools: Vec::new(),
});

fn lock() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A pool of exactly `threads` worker threads, shared with other calls of the same size.
pub fn thread_pool(threads: usize) -> Result<Arc<ThreadPool>> {
    if threads == 0 || threads > MAX_THREADS {
        return Err(Error::InvalidArgument(format!(
            "num_threads must be between 1 and {MAX_THREADS}, got {threads}"
        )));
    }
    fork::install();
    let evicted;
    let pool = {
        let mut registry = lock();
        let pid = std::process::id();
        if registry.pid != pid {
            std::mem::forget(std::mem::take(&mut registry.pools));
            registry.pid = pid;
        }
        if let Some(i) = registry.pools.iter().position(|(n, _)| *n == threads) {
            let entry = registry.pools.remove(i);
            let pool = entry.1.clone();
            registry.pools.insert(0, entry);
            return Ok(pool);
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("tokenforge-{i}"))
            .build()
            .map(Arc::new)
            .map_err(|e| Error::InvalidArgument(format!("cannot start {threads} threads: {e}")))?;
        registry.pools.insert(0, (threads, pool.clone()));
        let mut kept_threads = 0;
        let keep = registry
            .pools
            .iter()
            .take(MAX_POOLS)
            .take_while(|(n, _)| {
                kept_threads += n;
                kept_threads <= MAX_KEPT_THREADS
            })
            .count()
            .max(1);
        evicted = registry.pools.split_off(keep);
        pool
    };
    // Dropped outside the lock: a pool's threads are told to exit once idle (non-blocking).
    drop(evicted);
    Ok(pool)
}

/// Threads currently held by reused pools (for tests of the bound).
pub fn kept_threads() -> usize {
    let registry = lock();
    if registry.pid != std::process::id() {
        return 0;
    }
    registry.pools.iter().map(|(n, _)| n).sum()
}

#[cfg(unix)]
mod fork {
    use std::cell::RefCell;
    use std::sync::MutexGuard;

    use super::{lock, Once, Registry};

    extern "C" {
        fn pthread_atfork(
            prepare: Option<extern "C" fn()>,
            parent: Option<extern "C" fn()>,
            child: Option<extern "C" fn()>,
        ) -> std::ffi::c_int;
    }

    thread_local! {
        /// The registry lock held across `fork` by the forking thread (the handlers all run on it).
        static HELD: RefCell<Option<MutexGuard<'static, Registry>>> = const { RefCell::new(None) };
    }

    extern "C" fn prepare() {
        let guard = lock();
        HELD.with(|held| *held.borrow_mut() = Some(guard));
    }

    extern "C" fn release() {
        HELD.with(|held| drop(held.borrow_mut().take()));
    }

    pub(super) fn install() {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            // SAFETY: the handlers are plain functions that live as long as the process; they
            // only lock and unlock the registry on the forking thread. If registration fails
            // (ENOMEM), forks are still handled by the pid check, without the lock guarantee.
            unsafe {
                pthread_atfork(Some(prepare), Some(release), Some(release));
            }
        });
    }

    /// Registers `handler` to run in the child after every `fork`. It runs in a process with a
    /// single thread, so it must only touch atomics or state of its own.
    pub fn on_fork_child(handler: extern "C" fn()) {
        // SAFETY: `handler` is a plain function that lives as long as the process.
        unsafe {
            pthread_atfork(None, None, Some(handler));
        }
    }
}

#[cfg(unix)]
pub use fork::on_fork_child;

#[cfg(not(unix))]
mod fork {
    pub(super) fn install() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_checked_and_pools_are_bounded() {
        assert!(thread_pool(0).is_err());
        assert!(thread_pool(MAX_THREADS + 1).is_err());
        for threads in 1..=40 {
            let pool = thread_pool(threads).unwrap();
            assert_eq!(pool.current_num_threads(), threads);
            assert_eq!(pool.install(|| 7), 7);
            assert!(kept_threads() <= MAX_KEPT_THREADS.max(threads));
        }
        let a = thread_pool(3).unwrap();
        let b = thread_pool(3).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
    }
}
