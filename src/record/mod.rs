//! Records shared by every platform source and every output.

mod batch;
mod counters;
mod short_name;
mod socket;
mod state;
mod system;
mod tier;

pub use batch::{Batch, now_ns};
pub use counters::{TcpCounterDeltas, TcpCounters};
pub use short_name::ShortName;
pub use socket::{SSTHRESH_INFINITE, SocketRecord};
pub use state::{STATE_COUNT, StateCounts, TcpState, count_states};
pub use system::SystemRecord;
pub use tier::Tier;
