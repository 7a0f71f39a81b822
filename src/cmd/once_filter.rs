//! Which sockets `netpulse once` prints: the `ss`/`sockstat`-style
//! options. Every option given must match (AND); a repeated option
//! matches any of its values (OR). Bad values are rejected by clap's
//! value parsers below, so the command exits 2 naming the value.

use std::net::IpAddr;

use netpulse::config::FilterConfig;
use netpulse::pipeline::filter::SocketFilter;
use netpulse::record::{SocketRecord, TcpState};

/// An address with an optional prefix length, `10.0.0.0/8`, `::1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrPrefix {
    addr: IpAddr,
    len: u8,
}

impl AddrPrefix {
    /// Whether `ip` lies in this prefix. An IPv4 address held in an IPv6
    /// socket (`::ffff:10.0.0.1`) matches an IPv4 prefix.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(&net.octets(), &ip.octets(), self.len),
            (IpAddr::V6(net), IpAddr::V6(ip)) => prefix_eq(&net.octets(), &ip.octets(), self.len),
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], len: u8) -> bool {
    let full = usize::from(len / 8);
    if a[..full] != b[..full] {
        return false;
    }
    let rest = len % 8;
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    a[full] & mask == b[full] & mask
}

/// clap value parser for `ADDR[/PREFIX]`.
pub fn parse_addr_prefix(s: &str) -> Result<AddrPrefix, String> {
    let (addr_text, len_text) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr_text = addr_text
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(addr_text);
    let addr: IpAddr = addr_text
        .parse()
        .map_err(|_| format!("`{addr_text}` is not an IPv4 or IPv6 address"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len_text {
        None => max,
        Some(l) => match l.parse::<u8>() {
            Ok(n) if n <= max => n,
            _ => {
                return Err(format!(
                    "prefix length `{l}` is not a number from 0 to {max}"
                ));
            }
        },
    };
    Ok(AddrPrefix {
        addr: addr.to_canonical(),
        len,
    })
}

/// clap value parser for a TCP state name, case-insensitive.
pub fn parse_state(s: &str) -> Result<TcpState, String> {
    TcpState::from_name(s).ok_or_else(|| {
        let names: Vec<String> = TcpState::ALL
            .iter()
            .map(|st| st.name().to_ascii_lowercase())
            .collect();
        format!("unknown TCP state; one of: {}", names.join(", "))
    })
}

/// clap value parser for a command name: not empty.
pub fn parse_command(s: &str) -> Result<String, String> {
    if s.is_empty() {
        Err("the command name is empty".into())
    } else {
        Ok(s.to_string())
    }
}

/// The selection the options describe.
#[derive(Clone, Debug, Default)]
pub struct OnceFilter {
    pub states: Vec<TcpState>,
    /// Either end.
    pub ports: Vec<u16>,
    pub local_ports: Vec<u16>,
    pub remote_ports: Vec<u16>,
    pub local: Vec<AddrPrefix>,
    pub remote: Vec<AddrPrefix>,
    pub pids: Vec<u32>,
    /// Exact match on the process's command name.
    pub commands: Vec<String>,
    pub ipv4: bool,
    pub ipv6: bool,
    /// A config file's `[filter]`, applied as well.
    pub config: Option<SocketFilter>,
}

/// Empty: matches everything; otherwise `v` must be one of them.
fn any_of<T>(list: &[T], pred: impl Fn(&T) -> bool) -> bool {
    list.is_empty() || list.iter().any(pred)
}

impl OnceFilter {
    /// Use the `[filter]` of a loaded config as well.
    pub fn with_config(mut self, cfg: &FilterConfig) -> OnceFilter {
        self.config = Some(SocketFilter::new(cfg));
        self
    }

    pub fn keep(&self, r: &SocketRecord) -> bool {
        let (lp, rp) = (r.local.port(), r.remote.port());
        let family_ok = match (self.ipv4, self.ipv6) {
            (true, false) => r.local.is_ipv4(),
            (false, true) => r.local.is_ipv6(),
            _ => true,
        };
        family_ok
            && any_of(&self.states, |s| *s == r.state)
            && any_of(&self.ports, |p| *p == lp || *p == rp)
            && any_of(&self.local_ports, |p| *p == lp)
            && any_of(&self.remote_ports, |p| *p == rp)
            && any_of(&self.local, |n| n.contains(r.local.ip()))
            && any_of(&self.remote, |n| n.contains(r.remote.ip()))
            && any_of(&self.pids, |p| r.pid() == Some(*p))
            && any_of(&self.commands, |c| {
                r.command().as_deref() == Some(c.as_str())
            })
            && self.config.as_ref().is_none_or(|f| f.keep(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(local: &str, remote: &str, st: TcpState) -> SocketRecord {
        SocketRecord::new(0, local.parse().unwrap(), remote.parse().unwrap(), st)
    }

    #[test]
    fn prefixes_match_by_their_leading_bits() {
        let net = parse_addr_prefix("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        let odd = parse_addr_prefix("192.168.0.128/25").unwrap();
        assert!(odd.contains("192.168.0.200".parse().unwrap()));
        assert!(!odd.contains("192.168.0.127".parse().unwrap()));
        let host6 = parse_addr_prefix("[::1]").unwrap();
        assert!(host6.contains("::1".parse().unwrap()));
        assert!(!host6.contains("127.0.0.1".parse().unwrap()));
        assert!(
            parse_addr_prefix("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
    }

    #[test]
    fn bad_values_are_rejected_with_the_reason() {
        assert!(
            parse_addr_prefix("10.0.0.0/33")
                .unwrap_err()
                .contains("0 to 32")
        );
        assert!(
            parse_addr_prefix("example.org")
                .unwrap_err()
                .contains("not an IPv4")
        );
        assert!(
            parse_addr_prefix("::/129")
                .unwrap_err()
                .contains("0 to 128")
        );
        assert!(
            parse_state("establish")
                .unwrap_err()
                .contains("established")
        );
        assert_eq!(parse_state("ESTABLISHED"), Ok(TcpState::Established));
        assert_eq!(parse_state("time-wait"), Ok(TcpState::TimeWait));
        assert!(parse_command("").is_err());
    }

    #[test]
    fn options_combine_with_and_values_with_or() {
        let est = rec("127.0.0.1:40000", "127.0.0.1:22", TcpState::Established);
        let listen = rec("0.0.0.0:22", "0.0.0.0:0", TcpState::Listen);
        let f = OnceFilter {
            states: vec![TcpState::Established, TcpState::SynSent],
            ports: vec![22],
            ..OnceFilter::default()
        };
        assert!(f.keep(&est));
        assert!(!f.keep(&listen));
        let sport = OnceFilter {
            local_ports: vec![22],
            ..OnceFilter::default()
        };
        assert!(sport.keep(&listen) && !sport.keep(&est));
        let v6 = OnceFilter {
            ipv6: true,
            ..OnceFilter::default()
        };
        assert!(!v6.keep(&est));
        let mut owned = est.clone();
        owned.set().pid(Some(7));
        owned.set().command(Some("sshd".into()));
        let by_cmd = OnceFilter {
            commands: vec!["sshd".into()],
            pids: vec![7, 8],
            ..OnceFilter::default()
        };
        assert!(by_cmd.keep(&owned) && !by_cmd.keep(&est));
    }

    #[test]
    fn a_config_filter_applies_as_well() {
        let f = OnceFilter::default().with_config(&FilterConfig {
            exclude_states: vec![TcpState::Listen],
            ..FilterConfig::default()
        });
        assert!(!f.keep(&rec("0.0.0.0:22", "0.0.0.0:0", TcpState::Listen)));
        assert!(f.keep(&rec("127.0.0.1:1", "127.0.0.1:2", TcpState::Established)));
    }
}
