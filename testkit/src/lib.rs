//! Test data shared by netpulse's integration tests and benchmarks, so
//! both measure and check the same records. Nothing here is used by the
//! agent itself.

pub mod endpoint;
pub mod linux_like;
pub mod output;
