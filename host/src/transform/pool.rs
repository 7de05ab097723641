//! A bounded pool for blocking libvips work.
//!
//! At most `workers` jobs run at once, each on a blocking thread; at most
//! `queue` more may wait for a worker, and beyond that a job is refused at
//! once (the HTTP layer answers 503 with `Retry-After`) instead of piling up
//! memory. A job that runs past its time limit is answered as timed out and
//! its libvips evaluation is killed; it keeps its worker until libvips
//! returns, so the bound holds even then.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rs_vips::VipsImage;
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("every transformation worker is busy and the queue is full")]
    Overloaded,
    #[error("the transformation took longer than {0:?}")]
    TimedOut(Duration),
    #[error("a transformation worker failed: {0}")]
    Crashed(String),
}

pub struct Pool {
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    timeout: Duration,
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

impl Pool {
    pub fn new(workers: usize, max_waiting: usize, timeout: Duration) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(workers.max(1))),
            waiting: Arc::new(AtomicUsize::new(0)),
            max_waiting,
            timeout,
        }
    }

    pub async fn run<T, F>(&self, job: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce(&Watchdog) -> T + Send + 'static,
    {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.max_waiting {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(PoolError::Overloaded);
                }
                let _waiting = Waiting(self.waiting.clone());
                self.permits
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|e| PoolError::Crashed(e.to_string()))?
            }
        };
        let watchdog = Arc::new(Watchdog::default());
        let watched = watchdog.clone();
        let task = tokio::task::spawn_blocking(move || {
            let result = job(&watched);
            drop(permit);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounded_and_timed() {
        let pool = Arc::new(Pool::new(1, 1, Duration::from_millis(300)));
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let busy = {
            let (pool, gate) = (pool.clone(), gate.clone());
            tokio::spawn(async move { pool.run(move |_| gate.lock().unwrap().recv().ok()).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let queued = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(|_| 7).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            matches!(pool.run(|_| 0).await, Err(PoolError::Overloaded)),
            "one running, one waiting: full"
        );
        release.send(()).unwrap();
        assert!(busy.await.unwrap().is_ok());
        assert_eq!(queued.await.unwrap().unwrap(), 7);
        let slow = pool.run(|_| std::thread::sleep(Duration::from_millis(600))).await;
        assert!(matches!(slow, Err(PoolError::TimedOut(_))));
    }
}
