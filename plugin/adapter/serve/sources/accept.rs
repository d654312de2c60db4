//! The accept loop every listening source shares: at most `max_connections` open (more
//! wait in the kernel's listen queue), each connection in its own task and counted as
//! active until it ends (the drain on shutdown waits for them), and no new connection once
//! serve stops.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::super::lifecycle::Lifecycle;
use super::super::metrics::Component;

/// Accepts connections until serve stops, running `handle` on each in its own task.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    max_connections: usize,
    component: &Component,
    life: &Lifecycle,
    handle: F,
) where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
    loop {
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => s.expect("never closed"),
            _ = life.stopped() => return,
        };
        let stream = tokio::select! {
            a = listener.accept() => match a {
                Ok((s, _)) => s,
                Err(e) => {
                    component.error("accept_failed", "receiving");
                    tracing::warn!(source = %component.id, "accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = life.stopped() => return,
        };
        let _ = stream.set_nodelay(true);
        let active = life.enter();
        let work = handle(stream);
        tokio::spawn(async move {
            let _slot = slot;
            let _active = active;
            work.await;
        });
    }
}
