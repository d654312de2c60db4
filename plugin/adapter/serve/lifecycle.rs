//! Start and stop of `serve`: the shutdown signal every source listens to, and the count
//! of connections still finishing their last request, which a drain waits for.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, watch};

/// Shared by every source and connection.
#[derive(Clone)]
pub struct Lifecycle {
    stop: watch::Receiver<bool>,
    active: Arc<(AtomicUsize, Notify)>,
}

/// The side that says stop.
pub struct Stopper {
    tx: watch::Sender<bool>,
    active: Arc<(AtomicUsize, Notify)>,
}

/// Held while a connection is open; the drain waits for all of them.
pub struct Active {
    active: Arc<(AtomicUsize, Notify)>,
}

impl Drop for Active {
    fn drop(&mut self) {
        if self.active.0.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.active.1.notify_waiters();
        }
    }
}

/// A new lifecycle and its stopper.
pub fn new() -> (Lifecycle, Stopper) {
    let (tx, rx) = watch::channel(false);
    let active = Arc::new((AtomicUsize::new(0), Notify::new()));
    (
        Lifecycle {
            stop: rx,
            active: active.clone(),
        },
        Stopper { tx, active },
    )
}

impl Lifecycle {
    /// Resolves when serve is stopping.
    pub async fn stopped(&self) {
        let mut rx = self.stop.clone();
        let _ = rx.wait_for(|s| *s).await;
    }

    pub fn is_stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Marks a connection open until the guard drops.
    pub fn enter(&self) -> Active {
        self.active.0.fetch_add(1, Ordering::AcqRel);
        Active {
            active: self.active.clone(),
        }
    }
}

impl Stopper {
    /// Tells every source to stop accepting.
    pub fn stop(&self) {
        let _ = self.tx.send(true);
    }

    /// Waits until no connection is open, or `limit` passes; returns how many are left.
    pub async fn drain(&self, limit: Duration) -> usize {
        let wait = async {
            loop {
                let notified = self.active.1.notified();
                if self.active.0.load(Ordering::Acquire) == 0 {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(limit, wait).await;
        self.active.0.load(Ordering::Acquire)
    }
}
