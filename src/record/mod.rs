//! Records shared by every platform source and every output.

mod batch;
mod counters;
#[cfg(test)]
pub(crate) mod field_samples;
mod short_name;
mod socket;
mod socket_fields;
mod state;
mod state_fingerprint;
mod system;
mod system_fields;
mod tier;

pub use batch::{Batch, now_ns};
pub(crate) use counters::tcp_counter_rows;
pub use counters::{TcpCounterDeltas, TcpCounters};
pub use short_name::ShortName;
pub(crate) use socket::set_field;
pub use socket::{DELTA_COUNTERS, SSTHRESH_INFINITE, SetFields, SocketRecord};
pub(crate) use socket_fields::socket_fields;
pub use socket_fields::{FIELDS, FieldInfo, FieldKind};
pub use state::{STATE_COUNT, StateCounts, TcpState, count_states};
pub use system::SystemRecord;
pub use system_fields::SYSTEM_FIELDS;
pub(crate) use system_fields::system_fields;
pub use tier::Tier;
