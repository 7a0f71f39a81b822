//! System TCP counters from `/proc/net/snmp` (`Tcp:`) and
//! `/proc/net/netstat` (`TcpExt:`), under FreeBSD's `tcpstat` names.
//!
//! Both files hold pairs of lines, `Prefix: Name1 Name2 ...` then
//! `Prefix: value1 value2 ...`. A counter is mapped only where the Linux
//! counter means the same thing as FreeBSD's; the rest stay absent.
//!
//! | netpulse (FreeBSD `tcps_`) | Linux | note |
//! |---|---|---|
//! | `connattempt` | `Tcp: ActiveOpens` | connections initiated (CLOSED → SYN_SENT) |
//! | `accepts` | `Tcp: PassiveOpens` | connections accepted (Linux counts when the child socket is created) |
//! | `sndtotal` | `Tcp: OutSegs` | segments sent; Linux's count includes retransmissions, as FreeBSD's does |
//! | `sndrexmitpack` | `Tcp: RetransSegs` | segments retransmitted |
//! | `rcvtotal` | `Tcp: InSegs` | segments received, including bad ones |
//! | `rcvbadsum` | `Tcp: InCsumErrors` | segments with a bad checksum |
//! | `rcvduppack` | `TcpExt: DelayedACKLost` | data segments entirely below `rcv_nxt` (completely duplicate); Linux counts them under this name because a duplicate means our ACK was lost |
//! | `connects` | — | Linux has no count of connections that reached ESTABLISHED |
//! | `drops` | — | no Linux counter with FreeBSD's meaning (`EstabResets` counts only resets) |
//! | `sndbyte`, `sndrexmitbyte`, `rcvbyte` | — | Linux keeps no system-wide byte counts |
//! | `listen_overflows` | `TcpExt: ListenOverflows` | a connection attempt refused because its listener's accept queue was full |
//! | `listen_drops` | `TcpExt: ListenDrops` | SYNs and handshake ACKs a listener dropped for any reason, overflows included |
//! | `resets_sent` | `Tcp: OutRsts` | segments sent with RST set |
//! | `retransmit_timeouts` | `TcpExt: TCPTimeouts` | retransmission timer expiries (SYN and data) |

use std::path::Path;

use crate::platform::SourceError;
use crate::record::TcpCounters;

/// `(file prefix, Linux name, netpulse name)`.
pub const MAPPING: &[(&str, &str, &str)] = &[
    ("Tcp", "ActiveOpens", "connattempt"),
    ("Tcp", "PassiveOpens", "accepts"),
    ("Tcp", "OutSegs", "sndtotal"),
    ("Tcp", "RetransSegs", "sndrexmitpack"),
    ("Tcp", "InSegs", "rcvtotal"),
    ("Tcp", "InCsumErrors", "rcvbadsum"),
    ("TcpExt", "DelayedACKLost", "rcvduppack"),
    ("TcpExt", "ListenOverflows", "listen_overflows"),
    ("TcpExt", "ListenDrops", "listen_drops"),
    ("Tcp", "OutRsts", "resets_sent"),
    ("TcpExt", "TCPTimeouts", "retransmit_timeouts"),
];

/// Set every mapped counter found under `prefix` in `text` (the contents of
/// `file`, named in errors). Header and value lines must pair up with the
/// same number of fields; values that are not unsigned integers (`Tcp:
/// MaxConn` is `-1`) are not counters and are ignored.
pub fn apply(
    text: &str,
    prefix: &str,
    file: &str,
    counters: &mut TcpCounters,
) -> Result<(), SourceError> {
    let mut header: Option<(usize, &str)> = None;
    let mut found = false;
    for (lineno, line) in text.lines().enumerate() {
        let Some(rest) = line.strip_prefix(prefix).and_then(|r| r.strip_prefix(':')) else {
            continue;
        };
        let Some((_, names)) = header.take() else {
            header = Some((lineno, rest));
            continue;
        };
        found = true;
        let n_names = names.split_ascii_whitespace().count();
        let n_values = rest.split_ascii_whitespace().count();
        if n_names != n_values {
            return Err(SourceError::malformed(
                file.to_string(),
                lineno + 1,
                format!(
                    "line {}: `{prefix}:` header has {n_names} names but the values line has \
                     {n_values}; is {file} a procfs snmp file?",
                    lineno + 1
                ),
            ));
        }
        for (name, value) in names
            .split_ascii_whitespace()
            .zip(rest.split_ascii_whitespace())
        {
            let Some(&(_, _, ours)) = MAPPING
                .iter()
                .find(|(p, linux, _)| *p == prefix && *linux == name)
            else {
                continue;
            };
            if let Ok(v) = value.parse::<u64>() {
                counters.set(ours, v);
            }
        }
    }
    if let Some((lineno, _)) = header {
        return Err(SourceError::malformed(
            file.to_string(),
            lineno + 1,
            format!(
                "line {}: `{prefix}:` header without a values line; the file looks truncated",
                lineno + 1
            ),
        ));
    }
    if !found {
        return Err(SourceError::malformed(
            file.to_string(),
            0,
            format!("no `{prefix}:` lines; is {file} a procfs snmp file?"),
        ));
    }
    Ok(())
}

/// Read both files under `net_dir` (normally `/proc/net`).
pub fn read(net_dir: &std::path::Path) -> Result<TcpCounters, SourceError> {
    let mut counters = TcpCounters::default();
    for (file, prefix) in [("snmp", "Tcp"), ("netstat", "TcpExt")] {
        let path = net_dir.join(file);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            SourceError::io(
                format!("reading {} (is procfs mounted?)", path.display()),
                e,
            )
        })?;
        apply(&text, prefix, &path.display().to_string(), &mut counters)?;
    }
    Ok(counters)
}

/// The `TCP:` line of `/proc/net/sockstat`, read once per scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockStat {
    /// Hashed IPv4 sockets of this namespace, listeners and orphans included.
    pub inuse: u64,
    /// TIME_WAIT sockets of this namespace, both families.
    pub tw: u64,
    /// Allocated TCP sockets, both families.
    pub alloc: u64,
}

/// `/proc/net/sockstat`'s TCP counts; `None` when the file is unreadable or
/// odd (then a scan sizes its table from nothing and dumps as usual).
pub fn sockstat(net_dir: &Path) -> Option<SockStat> {
    let text = std::fs::read_to_string(net_dir.join("sockstat")).ok()?;
    Some(SockStat {
        inuse: sockstat_field(&text, "TCP:", "inuse")?,
        tw: sockstat_field(&text, "TCP:", "tw")?,
        alloc: sockstat_field(&text, "TCP:", "alloc")?,
    })
}

impl SockStat {
    /// How many TCP sockets exist right now (`alloc` plus `tw`), to size a
    /// scan's output up front: only a hint.
    pub fn estimate(&self) -> usize {
        usize::try_from(self.alloc.saturating_add(self.tw)).unwrap_or(usize::MAX)
    }

    /// Whether this network namespace has no TCP socket in the kernel's
    /// tables: `inuse` and `tw` at 0 here and `TCP6: inuse 0` in
    /// `net_dir/sockstat6` (absent without IPv6), which is read only when
    /// the first two are 0. `inuse` counts every hashed socket, listeners
    /// and orphans included; a request socket needs a listener, so with
    /// these at 0 a dump finds nothing, though it would still walk the
    /// kernel's host-wide tables to find it. `None` when `sockstat6` is
    /// unreadable or odd: then dump as usual.
    pub fn no_tcp_sockets(&self, net_dir: &Path) -> Option<bool> {
        if self.inuse != 0 || self.tw != 0 {
            return Some(false);
        }
        let inuse6 = match std::fs::read_to_string(net_dir.join("sockstat6")) {
            Ok(v6) => sockstat_field(&v6, "TCP6:", "inuse")?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(_) => return None,
        };
        Some(inuse6 == 0)
    }
}

/// [`sockstat`], then [`SockStat::no_tcp_sockets`] (the tests' way in).
#[cfg(test)]
pub fn no_tcp_sockets(net_dir: &Path) -> Option<bool> {
    sockstat(net_dir)?.no_tcp_sockets(net_dir)
}

/// The number after `key` on the line that starts with `prefix`
/// (`TCP: inuse 3 orphan 0 tw 1 ...`).
fn sockstat_field(text: &str, prefix: &str, key: &str) -> Option<u64> {
    let line = text.lines().find_map(|l| l.strip_prefix(prefix))?;
    let mut words = line.split_ascii_whitespace();
    while let (Some(k), Some(v)) = (words.next(), words.next()) {
        if k == key {
            return v.parse().ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNMP: &str = "Ip: Forwarding DefaultTTL\nIp: 1 64\n\
        Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors\n\
        Tcp: 1 200 120000 -1 47 6 0 1 3 14338 8318 5 0 2 9\n\
        Udp: InDatagrams\nUdp: 0\n";

    #[test]
    fn maps_tcp_line_pairs() {
        let mut c = TcpCounters::default();
        apply(SNMP, "Tcp", "/proc/net/snmp", &mut c).unwrap();
        assert_eq!(c.connattempt, Some(47));
        assert_eq!(c.accepts, Some(6));
        assert_eq!(c.rcvtotal, Some(14338));
        assert_eq!(c.sndtotal, Some(8318));
        assert_eq!(c.sndrexmitpack, Some(5));
        assert_eq!(c.rcvbadsum, Some(9));
        assert_eq!(c.resets_sent, Some(2));
        // No honest Linux equivalent: absent, not zero.
        assert_eq!((c.connects, c.drops, c.sndbyte), (None, None, None));
        let mut c = TcpCounters::default();
        apply(
            "TcpExt: SyncookiesSent DelayedACKLost ListenOverflows ListenDrops TCPTimeouts\n\
             TcpExt: 0 12 3 4 5\n",
            "TcpExt",
            "netstat",
            &mut c,
        )
        .unwrap();
        assert_eq!(c.rcvduppack, Some(12));
        assert_eq!(c.listen_overflows, Some(3));
        assert_eq!(c.listen_drops, Some(4));
        assert_eq!(c.retransmit_timeouts, Some(5));
    }

    #[test]
    fn odd_files_give_errors_naming_the_file() {
        let mut c = TcpCounters::default();
        let e = apply("Tcp: A B C\nTcp: 1 2\n", "Tcp", "/proc/net/snmp", &mut c).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("/proc/net/snmp") && msg.contains("3 names"),
            "{msg}"
        );
        let e = apply("Tcp: A B\n", "Tcp", "/x/snmp", &mut c).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        let e = apply("Udp: A\nUdp: 1\n", "Tcp", "/x/snmp", &mut c).unwrap_err();
        assert!(e.to_string().contains("no `Tcp:` lines"), "{e}");
        // Non-numeric values are not counters; the rest still parse.
        let mut c = TcpCounters::default();
        apply("Tcp: ActiveOpens InSegs\nTcp: x 5\n", "Tcp", "f", &mut c).unwrap();
        assert_eq!((c.connattempt, c.rcvtotal), (None, Some(5)));
    }

    #[test]
    fn sockstat_counts_this_hosts_sockets() {
        let _l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let n = sockstat(Path::new("/proc/net")).unwrap().estimate();
        assert!(n >= 1);
        assert_eq!(sockstat(Path::new("/nonexistent")), None);
    }

    /// Test doubles of the two files, to check the reading of each field.
    #[test]
    fn no_tcp_sockets_reads_every_count() {
        let dir = std::env::temp_dir().join(format!("np-sockstat-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let v4 = |inuse: u32, tw: u32| {
            format!(
                "sockets: used 5\nTCP: inuse {inuse} orphan 0 tw {tw} alloc 9 mem 1\nUDP: inuse 2 mem 0\n"
            )
        };
        let v6 = |inuse: u32| format!("TCP6: inuse {inuse}\nUDP6: inuse 4\n");
        let check = |a: String, b: Option<String>| {
            std::fs::write(dir.join("sockstat"), a).unwrap();
            match b {
                Some(b) => std::fs::write(dir.join("sockstat6"), b).unwrap(),
                None => {
                    let _ = std::fs::remove_file(dir.join("sockstat6"));
                }
            }
            no_tcp_sockets(&dir)
        };
        assert_eq!(check(v4(0, 0), Some(v6(0))), Some(true));
        assert_eq!(check(v4(0, 0), None), Some(true), "a kernel without IPv6");
        assert_eq!(check(v4(1, 0), Some(v6(0))), Some(false));
        assert_eq!(check(v4(0, 7), Some(v6(0))), Some(false));
        assert_eq!(check(v4(0, 0), Some(v6(3))), Some(false));
        assert_eq!(check("TCP: inuse x tw 0\n".into(), None), None);
        assert_eq!(check("UDP: inuse 0\n".into(), None), None);
        assert_eq!(sockstat(&dir), None);
        std::fs::write(dir.join("sockstat"), v4(1, 7)).unwrap();
        let counts = sockstat(&dir).unwrap();
        assert_eq!(
            counts,
            SockStat {
                inuse: 1,
                tw: 7,
                alloc: 9
            }
        );
        assert_eq!(counts.estimate(), 16);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(no_tcp_sockets(&dir), None);
    }

    #[test]
    fn this_hosts_files_parse() {
        let c = read(std::path::Path::new("/proc/net")).unwrap();
        assert!(c.rcvtotal.is_some() && c.sndtotal.is_some() && c.rcvduppack.is_some());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        #[test]
        fn odd_text_never_panics(text in "((Tcp|TcpExt|Udp|Tc)(:|) ?([A-Za-z0-9 -]|\\n){0,40}\\n?){0,6}") {
            let mut c = TcpCounters::default();
            let _ = apply(&text, "Tcp", "f", &mut c);
            let _ = apply(&text, "TcpExt", "f", &mut c);
        }
    }
}
