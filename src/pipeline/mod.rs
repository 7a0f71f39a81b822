//! The pipeline between sources and outputs.

pub mod snapshot;
