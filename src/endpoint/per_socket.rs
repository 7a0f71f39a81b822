//! Which connections get per-socket series (`per_socket_metrics`). A
//! connection keeps its series for as long as it lives; only free places
//! go to the worst of the rest (recent retransmits, then RTT). Choosing
//! afresh every sample would replace most series every few seconds, and
//! each replaced series is a new one for Prometheus to store.

use std::collections::HashSet;
use std::net::SocketAddr;

use super::live::{has_path, top_n};
use crate::record::SocketRecord;

/// Rows of the socket table with series, in table order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PerSocket {
    pub rows: Vec<usize>,
    /// Connected sockets left without series by the limit.
    pub omitted: usize,
}

type Key = (SocketAddr, SocketAddr);

impl PerSocket {
    /// The 4-tuples of the chosen rows of `socks` (the table they index).
    pub fn keys<'a>(&'a self, socks: &'a [SocketRecord]) -> impl Iterator<Item = Key> + 'a {
        self.rows
            .iter()
            .filter_map(|&i| socks.get(i))
            .map(|r| (r.local, r.remote))
    }

    /// Choose up to `limit` connected sockets of `socks`, keeping those
    /// of `previous` that are still there.
    pub fn choose(
        previous: impl Iterator<Item = Key>,
        socks: &[SocketRecord],
        limit: usize,
    ) -> PerSocket {
        let previous: HashSet<Key> = previous.take(limit).collect();
        let mut rows = Vec::with_capacity(limit);
        let mut others = Vec::new();
        let mut candidates = 0;
        for (i, r) in socks.iter().enumerate() {
            if !has_path(r.state) {
                continue;
            }
            candidates += 1;
            if previous.contains(&(r.local, r.remote)) && rows.len() < limit {
                rows.push(i);
            } else {
                others.push(i);
            }
        }
        let free = limit - rows.len();
        rows.extend(top_n(others, free, |i| {
            let r = &socks[i];
            (r.rexmit_delta().unwrap_or(0), r.rtt_us().unwrap_or(0))
        }));
        rows.sort_unstable();
        PerSocket {
            omitted: candidates - rows.len(),
            rows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::TcpState;

    fn sock(port: u16, rexmit_delta: u64) -> SocketRecord {
        let mut r = SocketRecord::new(
            0,
            format!("127.0.0.1:{port}").parse().unwrap(),
            "127.0.0.1:80".parse().unwrap(),
            TcpState::Established,
        );
        r.set().rexmit_delta(Some(rexmit_delta));
        r
    }

    #[test]
    fn chosen_connections_keep_their_series_while_they_live() {
        let first = vec![sock(1, 5), sock(2, 4), sock(3, 0), sock(4, 0)];
        let a = PerSocket::choose(std::iter::empty(), &first, 2);
        assert_eq!((a.rows.clone(), a.omitted), (vec![0, 1], 2));
        // Next sample: 3 and 4 now retransmit more, 2 has closed.
        let second = vec![sock(1, 0), sock(3, 9), sock(4, 8)];
        let b = PerSocket::choose(a.keys(&first), &second, 2);
        let ports: Vec<u16> = b.rows.iter().map(|&i| second[i].local.port()).collect();
        assert_eq!(ports, [1, 3], "1 stays, the free place goes to the worst");
        assert_eq!(b.omitted, 1);
        let mut listener = sock(9, 100);
        listener.state = TcpState::Listen;
        let c = PerSocket::choose(std::iter::empty(), &[listener], 2);
        assert_eq!((c.rows.len(), c.omitted), (0, 0), "listeners have no path");
    }
}
