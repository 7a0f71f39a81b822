//! netpulse: samples every TCP socket on a host on tiered intervals and
//! writes JSON Lines, CSV and protobuf.
//!
//! Data flows top to bottom through the modules:
//! `platform` (sources) → `pipeline` (scheduler, delta store) → `output`,
//! with `agent` wiring them (and the live `endpoint`) together at the top.

pub mod agent;
pub mod bounded_read;
pub mod config;
pub mod endpoint;
pub mod fd_budget;
pub mod file_kind;
pub mod output;
pub mod pipeline;
pub mod platform;
pub mod record;
