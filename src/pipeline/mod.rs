//! The pipeline between sources and outputs.

pub mod change_filter;
pub mod delta;
pub mod filter;
pub mod health;
pub mod last_lines;
pub mod log_limit;
pub mod memory_guard;
pub mod poll;
pub mod publish;
pub mod sample;
pub mod scheduler;
pub mod sink_task;
pub mod snapshot;
pub mod start_gate;
pub mod store;
pub mod table_pool;
