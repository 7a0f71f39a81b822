//! The pipeline between sources and outputs.

pub mod delta;
pub mod snapshot;
