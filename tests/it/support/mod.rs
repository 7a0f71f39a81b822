//! What the integration tests share. Synthetic records and the raw HTTP
//! client live in the `netpulse-testkit` crate, which the benchmarks use
//! too.

pub mod c_program;
pub mod daemon;
pub mod fixtures;
pub mod nats;
pub mod replay;
pub mod sockopt;
pub mod wait;
