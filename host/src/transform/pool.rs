//! A bounded pool for blocking libvips work.
//!
//! At most `workers` jobs run at once, each on a blocking thread, and the
//! jobs running hold at most `memory` between them by their own estimate (a
//! job that asks for more than all of it is refused); at most `queue` more
//! may wait, each for at most `wait`, and beyond either a job is refused (the
//! HTTP layer answers 503 with `Retry-After`) instead of piling up memory. A job that runs past its time
//! limit is answered as timed out and its libvips evaluation is killed; it
//! keeps its worker and its memory until libvips returns, so the bounds hold
//! even then.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rs_vips::VipsImage;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("every transformation worker is busy and the queue is full")]
    Overloaded,
    #[error("no transformation worker came free within {0:?}")]
    WaitedTooLong(Duration),
    #[error("the job needs {needed_mib} MiB, more than the {budget_mib} MiB budget of the whole pool")]
    TooLarge { needed_mib: u64, budget_mib: u32 },
    #[error("the transformation took longer than {0:?}")]
    TimedOut(Duration),
    #[error("a transformation worker failed: {0}")]
    Crashed(String),
}

pub struct Pool {
    workers: Arc<Semaphore>,
    worker_count: usize,
    /// One permit per MiB of the memory budget.
    memory: Arc<Semaphore>,
    memory_mib: u32,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    max_wait: Duration,
    timeout: Duration,
}

/// How many jobs may wait for a worker, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct Queue {
    pub length: usize,
    pub wait: Duration,
}

/// Lets a job hand its final lazy image to the pool, which kills its
/// evaluation when the time limit passes.
#[derive(Default)]
pub struct Watchdog {
    image: Mutex<Option<VipsImage>>,
}

impl Watchdog {
    pub fn watch(&self, image: &VipsImage) {
        if let Ok(mut slot) = self.image.lock() {
            *slot = Some(image.clone());
        }
    }

    fn kill(&self) {
        if let Ok(slot) = self.image.lock()
            && let Some(image) = slot.as_ref()
        {
            image.set_kill(true);
        }
    }
}

/// Counts a job as waiting for as long as it lives.
struct Waiting(Arc<AtomicUsize>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A running job's share of the pool, given back when it is dropped.
struct Admission {
    _memory: OwnedSemaphorePermit,
    _worker: OwnedSemaphorePermit,
}

const MIB: u64 = 1024 * 1024;

/// `bytes` in whole MiB, at most `cap`.
fn whole_mib(bytes: u64, cap: u32) -> u32 {
    u32::try_from(bytes.div_ceil(MIB)).map_or(cap, |m| m.min(cap))
}

impl Pool {
    pub fn new(workers: usize, memory_bytes: u64, queue: Queue, timeout: Duration) -> Self {
        // Far below the semaphore's own limit on any platform: 256 TiB.
        let memory_mib = whole_mib(memory_bytes, u32::MAX >> 4).max(1);
        Self {
            workers: Arc::new(Semaphore::new(workers.max(1))),
            worker_count: workers.max(1),
            memory: Arc::new(Semaphore::new(memory_mib as usize)),
            memory_mib,
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting: queue.length,
            max_wait: queue.wait,
            timeout,
        }
    }

    /// Workers at work, and jobs waiting for one.
    pub fn load(&self) -> (usize, usize) {
        let busy = self.worker_count.saturating_sub(self.workers.available_permits());
        (busy, self.waiting.load(Ordering::SeqCst))
    }

    /// The memory budget in bytes.
    pub fn memory_bytes(&self) -> u64 {
        u64::from(self.memory_mib) * MIB
    }

    /// Runs `job`, which is expected to hold up to `memory_bytes` at its peak.
    pub async fn run<T, F>(&self, memory_bytes: u64, job: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce(&Watchdog) -> T + Send + 'static,
    {
        let needed_mib = memory_bytes.div_ceil(MIB);
        if needed_mib > u64::from(self.memory_mib) {
            return Err(PoolError::TooLarge {
                needed_mib,
                budget_mib: self.memory_mib,
            });
        }
        let mib = whole_mib(memory_bytes, self.memory_mib);
        let admission = match self.try_admit(mib) {
            Some(admission) => admission,
            None => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(PoolError::Overloaded);
                }
                let _waiting = Waiting(self.waiting.clone());
                tokio::time::timeout(self.max_wait, self.admit(mib))
                    .await
                    .map_err(|_| PoolError::WaitedTooLong(self.max_wait))??
            }
        };
        let watchdog = Arc::new(Watchdog::default());
        let watched = watchdog.clone();
        let task = tokio::task::spawn_blocking(move || {
            let result = job(&watched);
            drop(admission);
            result
        });
        match tokio::time::timeout(self.timeout, task).await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(join)) => Err(PoolError::Crashed(join.to_string())),
            Err(_) => {
                watchdog.kill();
                Err(PoolError::TimedOut(self.timeout))
            }
        }
    }

    /// Memory is always taken before a worker, so no job holds a worker
    /// while it waits for memory.
    fn try_admit(&self, mib: u32) -> Option<Admission> {
        let memory = self.memory.clone().try_acquire_many_owned(mib).ok()?;
        let worker = self.workers.clone().try_acquire_owned().ok()?;
        Some(Admission {
            _memory: memory,
            _worker: worker,
        })
    }

    async fn admit(&self, mib: u32) -> Result<Admission, PoolError> {
        let crashed = |e: tokio::sync::AcquireError| PoolError::Crashed(e.to_string());
        let memory = self.memory.clone().acquire_many_owned(mib).await.map_err(crashed)?;
        let worker = self.workers.clone().acquire_owned().await.map_err(crashed)?;
        Ok(Admission {
            _memory: memory,
            _worker: worker,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounded_and_timed() {
        let queue = Queue {
            length: 1,
            wait: Duration::from_secs(10),
        };
        let pool = Arc::new(Pool::new(1, 64 * MIB, queue, Duration::from_millis(300)));
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let busy = {
            let (pool, gate) = (pool.clone(), gate.clone());
            tokio::spawn(async move { pool.run(0, move |_| gate.lock().unwrap().recv().ok()).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let queued = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(0, |_| 7).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            matches!(pool.run(0, |_| 0).await, Err(PoolError::Overloaded)),
            "one running, one waiting: full"
        );
        release.send(()).unwrap();
        assert!(busy.await.unwrap().is_ok());
        assert_eq!(queued.await.unwrap().unwrap(), 7);
        let slow = pool.run(0, |_| std::thread::sleep(Duration::from_millis(600))).await;
        assert!(matches!(slow, Err(PoolError::TimedOut(_))));
    }

    /// The most jobs of `mib` MiB each that `pool` runs at once, out of `jobs`.
    async fn most_at_once(pool: &Arc<Pool>, jobs: usize, mib: u64) -> usize {
        let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let handles: Vec<_> = (0..jobs)
            .map(|_| {
                let (pool, running, peak) = (pool.clone(), running.clone(), peak.clone());
                tokio::spawn(async move {
                    pool.run(mib * MIB, move |_| {
                        peak.fetch_max(running.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(150));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        for handle in handles {
            handle.await.unwrap().unwrap();
        }
        peak.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn memory_bounds_what_runs_at_once() {
        let queue = Queue {
            length: 16,
            wait: Duration::from_secs(10),
        };
        let pool = Arc::new(Pool::new(4, 100 * MIB, queue, Duration::from_secs(10)));
        assert_eq!(most_at_once(&pool, 6, 40).await, 2, "two of 40 MiB fit in 100");
        assert_eq!(most_at_once(&pool, 6, 1).await, 4, "small jobs: every worker");
        assert_eq!(most_at_once(&pool, 2, 100).await, 1, "the whole budget: alone");
        assert!(matches!(
            pool.run(101 * MIB, |_| ()).await,
            Err(PoolError::TooLarge { needed_mib: 101, .. })
        ));
    }

    #[tokio::test]
    async fn waiting_ends_at_its_deadline() {
        let queue = Queue {
            length: 8,
            wait: Duration::from_millis(200),
        };
        let pool = Arc::new(Pool::new(1, 64 * MIB, queue, Duration::from_secs(10)));
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let busy = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(0, move |_| gate.recv().ok()).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(matches!(pool.run(0, |_| ()).await, Err(PoolError::WaitedTooLong(_))));
        assert_eq!(
            pool.waiting.load(Ordering::SeqCst),
            0,
            "the waiter is no longer counted"
        );
        release.send(()).unwrap();
        assert!(busy.await.unwrap().is_ok());
    }
}
