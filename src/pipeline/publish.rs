//! What the delta store hands every batch to besides the sinks (the live
//! endpoint), as a trait so the pipeline does not depend on the endpoint.

use std::sync::Arc;

use crate::record::Batch;

/// Receives every batch the delta store routes. Must never block.
pub trait Publisher: Send + Sync {
    /// Take `batch`; give back a socket-table batch nothing else reads any
    /// more, so its table can be reused.
    fn publish(&self, batch: Arc<Batch>) -> Option<Arc<Batch>>;
}
