//! The tiers' first polls, one after another.
//!
//! Every tier polls once at start. Run together, the fast tier's socket
//! table, the process scan and the counting tiers' dumps all hold their
//! buffers at the same moment, and the agent's peak memory at start is
//! their sum. Through this gate each first poll waits for the one before
//! it to finish; later polls do not use it.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Clone)]
pub struct StartGate(Arc<Semaphore>);

/// Held while a first poll runs; the next one starts when it is dropped.
pub type StartTurn = OwnedSemaphorePermit;

impl StartGate {
    pub fn new() -> StartGate {
        StartGate(Arc::new(Semaphore::new(1)))
    }

    /// Wait for this tier's turn (tiers are served in the order they ask).
    pub async fn turn(&self) -> StartTurn {
        Arc::clone(&self.0)
            .acquire_owned()
            .await
            .expect("the start gate is never closed")
    }
}

impl Default for StartGate {
    fn default() -> StartGate {
        StartGate::new()
    }
}
