//! netpulse: samples every TCP socket on a host on tiered intervals and
//! writes JSON Lines, CSV and protobuf.
//!
//! Data flows top to bottom through the modules:
//! `platform` (sources) → `pipeline` (scheduler, delta store) → `output`.

pub mod config;
pub mod output;
pub mod pipeline;
pub mod platform;
pub mod record;
