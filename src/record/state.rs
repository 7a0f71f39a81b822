//! TCP connection states, named and ordered as FreeBSD's `TCPS_*`.
//!
//! Every platform maps its own state numbers onto this one enum so that
//! `state_counts` means the same thing on every host of a fleet.

use serde::{Serialize, Serializer};

/// A TCP state. The discriminant is FreeBSD's `TCPS_*` value and the index
/// into `state_counts`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum TcpState {
    Closed = 0,
    Listen = 1,
    SynSent = 2,
    SynReceived = 3,
    Established = 4,
    CloseWait = 5,
    FinWait1 = 6,
    Closing = 7,
    LastAck = 8,
    FinWait2 = 9,
    TimeWait = 10,
}

/// Number of slots in `state_counts`.
pub const STATE_COUNT: usize = 11;

impl TcpState {
    /// All states in `state_counts` order.
    pub const ALL: [TcpState; STATE_COUNT] = [
        TcpState::Closed,
        TcpState::Listen,
        TcpState::SynSent,
        TcpState::SynReceived,
        TcpState::Established,
        TcpState::CloseWait,
        TcpState::FinWait1,
        TcpState::Closing,
        TcpState::LastAck,
        TcpState::FinWait2,
        TcpState::TimeWait,
    ];

    /// The name used in every output (`"ESTABLISHED"`).
    pub const fn name(self) -> &'static str {
        match self {
            TcpState::Closed => "CLOSED",
            TcpState::Listen => "LISTEN",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynReceived => "SYN_RECEIVED",
            TcpState::Established => "ESTABLISHED",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::FinWait1 => "FIN_WAIT_1",
            TcpState::Closing => "CLOSING",
            TcpState::LastAck => "LAST_ACK",
            TcpState::FinWait2 => "FIN_WAIT_2",
            TcpState::TimeWait => "TIME_WAIT",
        }
    }

    /// Index into `state_counts` (FreeBSD `TCPS_*` value).
    pub const fn index(self) -> usize {
        self as usize
    }

    /// From FreeBSD's `t_state` (`TCPS_*`).
    pub const fn from_freebsd(v: u32) -> Option<TcpState> {
        if (v as usize) < STATE_COUNT {
            Some(Self::ALL[v as usize])
        } else {
            None
        }
    }

    /// From Linux's `TCP_*` state numbers (`include/net/tcp_states.h`).
    /// `TCP_NEW_SYN_RECV` (12) is a request socket, reported as SYN_RECEIVED.
    pub const fn from_linux(v: u8) -> Option<TcpState> {
        Some(match v {
            1 => TcpState::Established,
            2 => TcpState::SynSent,
            3 | 12 => TcpState::SynReceived,
            4 => TcpState::FinWait1,
            5 => TcpState::FinWait2,
            6 => TcpState::TimeWait,
            7 => TcpState::Closed,
            8 => TcpState::CloseWait,
            9 => TcpState::LastAck,
            10 => TcpState::Listen,
            11 => TcpState::Closing,
            _ => return None,
        })
    }

    /// Parse a state name as written in configs and outputs; case-insensitive,
    /// and `-` is accepted for `_` (`fin-wait-1`).
    pub fn from_name(s: &str) -> Option<TcpState> {
        let norm = s.trim().to_ascii_uppercase().replace('-', "_");
        Self::ALL.iter().copied().find(|st| st.name() == norm)
    }
}

impl std::fmt::Display for TcpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for TcpState {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Sockets per state, in `TcpState` order.
pub type StateCounts = [u64; STATE_COUNT];

/// Count states of an iterator of sockets.
pub fn count_states(states: impl IntoIterator<Item = TcpState>) -> StateCounts {
    let mut counts = [0u64; STATE_COUNT];
    for st in states {
        counts[st.index()] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freebsd_numbers_round_trip() {
        for (i, st) in TcpState::ALL.iter().enumerate() {
            assert_eq!(TcpState::from_freebsd(i as u32), Some(*st));
            assert_eq!(st.index(), i);
        }
        assert_eq!(TcpState::from_freebsd(11), None);
    }

    #[test]
    fn linux_numbers_map_to_names() {
        assert_eq!(TcpState::from_linux(1), Some(TcpState::Established));
        assert_eq!(TcpState::from_linux(10), Some(TcpState::Listen));
        assert_eq!(TcpState::from_linux(6), Some(TcpState::TimeWait));
        assert_eq!(TcpState::from_linux(12), Some(TcpState::SynReceived));
        assert_eq!(TcpState::from_linux(0), None);
        assert_eq!(TcpState::from_linux(13), None);
        // Linux's 11 states map onto 11 distinct names.
        let mut seen = std::collections::HashSet::new();
        for v in 1..=11 {
            assert!(seen.insert(TcpState::from_linux(v).unwrap()));
        }
    }

    #[test]
    fn names_parse_back() {
        for st in TcpState::ALL {
            assert_eq!(TcpState::from_name(st.name()), Some(st));
        }
        assert_eq!(TcpState::from_name("time-wait"), Some(TcpState::TimeWait));
        assert_eq!(TcpState::from_name("BOGUS"), None);
    }
}
