//! `[filter]`: which sockets enter the pipeline. Applied in the tier's
//! poll, before the delta store, so excluded sockets cost no memory.

use crate::config::FilterConfig;
use crate::record::{STATE_COUNT, SocketRecord};

#[derive(Clone, Debug)]
pub struct SocketFilter {
    excluded: [bool; STATE_COUNT],
    local_ports: Vec<u16>,
    remote_ports: Vec<u16>,
}

impl SocketFilter {
    pub fn new(cfg: &FilterConfig) -> SocketFilter {
        let mut excluded = [false; STATE_COUNT];
        for st in &cfg.exclude_states {
            excluded[st.index()] = true;
        }
        SocketFilter {
            excluded,
            local_ports: cfg.local_ports.clone(),
            remote_ports: cfg.remote_ports.clone(),
        }
    }

    /// Kept when the state is not excluded and, if any port list is set,
    /// the local port is in `local_ports` or the remote port in
    /// `remote_ports`.
    pub fn keep(&self, r: &SocketRecord) -> bool {
        if self.excluded[r.state.index()] {
            return false;
        }
        if self.local_ports.is_empty() && self.remote_ports.is_empty() {
            return true;
        }
        self.local_ports.contains(&r.local.port()) || self.remote_ports.contains(&r.remote.port())
    }

    pub fn is_pass_all(&self) -> bool {
        !self.excluded.contains(&true)
            && self.local_ports.is_empty()
            && self.remote_ports.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::TcpState;

    fn rec(l: u16, r: u16, st: TcpState) -> SocketRecord {
        SocketRecord::new(
            0,
            format!("127.0.0.1:{l}").parse().unwrap(),
            format!("127.0.0.1:{r}").parse().unwrap(),
            st,
        )
    }

    #[test]
    fn states_and_ports() {
        let all = SocketFilter::new(&FilterConfig::default());
        assert!(all.is_pass_all() && all.keep(&rec(1, 2, TcpState::TimeWait)));
        let f = SocketFilter::new(&FilterConfig {
            exclude_states: vec![TcpState::TimeWait],
            local_ports: vec![443],
            remote_ports: vec![5432],
        });
        assert!(!f.is_pass_all());
        assert!(f.keep(&rec(443, 50000, TcpState::Established)));
        assert!(f.keep(&rec(40000, 5432, TcpState::Established)));
        assert!(!f.keep(&rec(40000, 80, TcpState::Established)));
        assert!(!f.keep(&rec(443, 50000, TcpState::TimeWait)));
    }
}
