//! Linux: NETLINK_SOCK_DIAG socket dumps, /proc process attribution and
//! /proc/net counters.
//!
//! - `netlink`: FFI for the dump (socket, send, recv into one reused buffer).
//! - `allocator`: FFI (`mallopt`) keeping glibc's heap near what is live.
//! - `huge_pages`: FFI advice (`madvise`) for the large socket table.
//! - `sock_diag`: request builder and pure parser, kernel bytes → records.
//! - `procfs`: socket inode → owning process from `/proc/<pid>/fd`.
//! - `snmp`: `/proc/net/snmp` and `/proc/net/netstat` → `TcpCounters`.

#[cfg(target_env = "gnu")]
pub mod allocator;
mod huge_pages;
mod netlink;
pub mod procfs;
pub mod snmp;
pub mod sock_diag;

use std::path::PathBuf;

use tracing::{debug, warn};

use super::{ProcessMap, ScanStats, Source, SourceError};
use crate::record::{SocketRecord, TcpCounters};
use netlink::DiagSocket;
use sock_diag::Progress;

pub struct LinuxSource {
    /// `None` after a failed dump: the next scan opens a fresh socket so
    /// replies left over from the failed dump cannot mix in.
    diag: Option<DiagSocket>,
    seq: u32,
    procs: procfs::ProcScanner,
    net_dir: PathBuf,
    /// Sockets seen by the last scan, to size the output once (records
    /// are large; regrowing a 40,000-record vector copies tens of MiB).
    last_count: usize,
    /// Whether this kernel serves the both-families dump; `None` until the
    /// first scan finds out.
    both_families: Option<bool>,
}

/// Which dump to ask the kernel for.
#[derive(Clone, Copy)]
enum Dump {
    /// IPv4 and IPv6 in one walk of the kernel's socket tables.
    BothFamilies,
    /// One address family (`AF_INET` or `AF_INET6`).
    Family(u8),
}

impl LinuxSource {
    pub fn open() -> Result<LinuxSource, SourceError> {
        let diag = DiagSocket::open().map_err(|e| {
            SourceError::io(
                "opening a NETLINK_SOCK_DIAG socket (needs a Linux kernel with sock_diag; \
                 check `ss -t` works)",
                e,
            )
        })?;
        Ok(LinuxSource {
            diag: Some(diag),
            seq: 0,
            procs: procfs::ProcScanner::new("/proc"),
            net_dir: PathBuf::from("/proc/net"),
            last_count: 0,
            both_families: None,
        })
    }

    /// One complete dump into `out`; `each` sees `out` after every
    /// datagram (and may empty it).
    fn dump(
        &mut self,
        which: Dump,
        ts: u64,
        out: &mut Vec<SocketRecord>,
        stats: &mut ScanStats,
        each: &mut dyn FnMut(&mut Vec<SocketRecord>),
    ) -> Result<(), SourceError> {
        let diag = match &mut self.diag {
            Some(d) => d,
            None => self.diag.insert(
                DiagSocket::open().map_err(|e| SourceError::io("reopening sock_diag socket", e))?,
            ),
        };
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        match which {
            Dump::BothFamilies => diag.send(&sock_diag::both_families_request(seq)),
            Dump::Family(family) => diag.send(&sock_diag::dump_request(family, seq)),
        }
        .map_err(|e| SourceError::io("sending a sock_diag dump request", e))?;
        loop {
            let buf = diag
                .recv()
                .map_err(|e| SourceError::io("receiving the sock_diag dump", e))?;
            let progress = sock_diag::parse_datagram(buf, seq, ts, out, stats)?;
            each(out);
            if progress == Progress::Done {
                return Ok(());
            }
        }
    }
}

impl LinuxSource {
    /// Every socket through `out`, one walk of the kernel's tables where
    /// the kernel serves that. `each` runs after every datagram.
    fn walk(
        &mut self,
        ts: u64,
        out: &mut Vec<SocketRecord>,
        each: &mut dyn FnMut(&mut Vec<SocketRecord>),
    ) -> Result<ScanStats, SourceError> {
        let mut stats = ScanStats::default();
        let start = out.len();
        // One walk of the kernel's hash tables instead of one per family:
        // the walk touches every socket on the host, so the second one
        // costs about as much as the first, even with no IPv6 socket.
        if self.both_families != Some(false) {
            match self.dump(Dump::BothFamilies, ts, out, &mut stats, each) {
                Ok(()) => {
                    self.both_families = Some(true);
                    return Ok(stats);
                }
                Err(e) => {
                    self.diag = None;
                    if self.both_families.is_some() || !is_refused(&e) {
                        return Err(e);
                    }
                    // A refusal is the first reply: nothing was handed on.
                    tracing::info!(error = %e, "sock_diag: this kernel refused the both-families dump; dumping each address family from now on");
                    out.truncate(start);
                    stats = ScanStats::default();
                    self.both_families = Some(false);
                }
            }
        }
        for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
            if let Err(e) = self.dump(Dump::Family(family), ts, out, &mut stats, each) {
                self.diag = None;
                // A kernel without IPv6 has no AF_INET6 diag handler.
                if family == libc::AF_INET6 as u8 && is_no_handler(&e) {
                    continue;
                }
                return Err(e);
            }
        }
        Ok(stats)
    }
}

impl Source for LinuxSource {
    fn name(&self) -> &'static str {
        "linux"
    }

    fn sockets(&mut self, ts: u64, out: &mut Vec<SocketRecord>) -> Result<ScanStats, SourceError> {
        // An empty namespace (an idle host, a container between jobs): the
        // kernel's counters say so for two small reads, where a dump walks
        // the kernel's host-wide hash tables, every bucket of them.
        let counts = snmp::sockstat(&self.net_dir);
        if counts.and_then(|c| c.no_tcp_sockets(&self.net_dir)) == Some(true) {
            self.last_count = 0;
            return Ok(ScanStats::default());
        }
        let expected = match self.last_count {
            0 => counts.map_or(0, |c| c.estimate()),
            n => n,
        };
        let capacity = out.capacity();
        out.reserve(expected + expected / 16 + 64);
        if out.capacity() != capacity {
            huge_pages::advise(out);
        }
        let start = out.len();
        let stats = self.walk(ts, out, &mut |_| {})?;
        self.last_count = out.len() - start;
        Ok(stats)
    }

    fn sockets_in_parts(
        &mut self,
        ts: u64,
        each: &mut dyn FnMut(&mut Vec<SocketRecord>),
    ) -> Result<ScanStats, SourceError> {
        let counts = snmp::sockstat(&self.net_dir);
        if counts.and_then(|c| c.no_tcp_sockets(&self.net_dir)) == Some(true) {
            return Ok(ScanStats::default());
        }
        // One datagram's sockets at a time: a few hundred records, however
        // large the host's table.
        let mut part = Vec::new();
        self.walk(ts, &mut part, &mut |p| {
            if !p.is_empty() {
                each(p);
                p.clear();
            }
        })
    }

    fn processes(&mut self) -> Result<ProcessMap, SourceError> {
        let map = self.procs.scan()?;
        let st = self.procs.last_stats();
        debug!(
            processes = st.processes,
            sockets = st.sockets,
            skipped = st.skipped,
            probed = st.probed,
            "process scan"
        );
        if st.out_of_descriptors > 0 {
            warn!(
                skipped = st.out_of_descriptors,
                "process attribution is incomplete: out of file descriptors (RLIMIT_NOFILE) while scanning processes; raise `ulimit -n`"
            );
        }
        Ok(map)
    }

    fn counters(&mut self) -> Result<TcpCounters, SourceError> {
        snmp::read(&self.net_dir)
    }
}

fn is_no_handler(e: &SourceError) -> bool {
    errno_of(e) == Some(libc::ENOENT)
}

/// The kernel does not serve the request type (no compatibility handler:
/// `EOPNOTSUPP`; unknown type: `EINVAL`; no diag module: `ENOENT`).
fn is_refused(e: &SourceError) -> bool {
    matches!(
        errno_of(e),
        Some(libc::EOPNOTSUPP | libc::EINVAL | libc::ENOENT)
    )
}

fn errno_of(e: &SourceError) -> Option<i32> {
    match e {
        SourceError::Io { cause: source, .. } => source.raw_os_error(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::net::{SocketAddr, TcpListener, TcpStream};

    use super::*;
    use crate::record::TcpState;

    /// Listener, client and accepted socket on `ip`; the listener's address.
    fn trio(ip: &str) -> (SocketAddr, Vec<TcpStream>, TcpListener) {
        let l = TcpListener::bind((ip, 0)).unwrap();
        let at = l.local_addr().unwrap();
        let c = TcpStream::connect(at).unwrap();
        let (a, _) = l.accept().unwrap();
        (at, vec![c, a], l)
    }

    /// (local, remote) → (id, inode, state).
    type Seen = HashMap<(SocketAddr, SocketAddr), (Option<u64>, Option<u64>, TcpState)>;

    /// This test's sockets as one scan saw them.
    fn ours(src: &mut LinuxSource, ports: &[u16]) -> Seen {
        let mut out = Vec::new();
        src.sockets(1, &mut out).unwrap();
        let mut seen = HashMap::new();
        for r in out {
            if ports.contains(&r.local.port()) || ports.contains(&r.remote.port()) {
                let dup = seen.insert((r.local, r.remote), (r.sock_id(), r.inode(), r.state));
                assert!(dup.is_none(), "{} -> {} reported twice", r.local, r.remote);
            }
        }
        seen
    }

    /// Real sockets of both families: the one-walk dump reports exactly
    /// what one dump per family reports, and this kernel serves it.
    #[test]
    fn one_walk_matches_a_dump_per_family() {
        let (v4, _c4, _l4) = trio("127.0.0.1");
        // A machine without IPv6 loopback still checks the IPv4 half.
        let v6 = TcpListener::bind("[::1]:0").ok().map(|_| trio("::1"));
        let mut ports = vec![v4.port()];
        ports.extend(v6.as_ref().map(|(at, _, _)| at.port()));

        let mut one = LinuxSource::open().unwrap();
        let mut per = LinuxSource::open().unwrap();
        per.both_families = Some(false);
        let a = ours(&mut one, &ports);
        assert_eq!(one.both_families, Some(true));
        let b = ours(&mut per, &ports);
        assert_eq!(a, b);
        // Listener, client and accepted socket for each family.
        assert_eq!(a.len(), 3 * ports.len(), "{a:?}");
        assert!(a.keys().any(|(l, _)| l.is_ipv4()));
        if v6.is_some() {
            assert!(a.keys().any(|(l, _)| l.is_ipv6()));
        }
    }

    /// A kernel without the both-families request answers the way this
    /// kernel answers a request type it does not know, and that answer is
    /// what sends the source to one dump per family.
    #[test]
    fn an_unknown_request_type_counts_as_refused() {
        let mut req = sock_diag::both_families_request(5);
        req[4..6].copy_from_slice(&17u16.to_ne_bytes());
        let mut diag = DiagSocket::open().unwrap();
        diag.send(&req).unwrap();
        let mut out = Vec::new();
        let err = sock_diag::parse_datagram(
            diag.recv().unwrap(),
            5,
            1,
            &mut out,
            &mut ScanStats::default(),
        )
        .unwrap_err();
        assert!(is_refused(&err), "{err}");
        assert!(out.is_empty());
    }

    /// In a network namespace of its own with no TCP socket, a scan is
    /// answered from the kernel's counters, without a dump; once there is
    /// a socket, the dump runs and finds it.
    #[test]
    fn an_empty_namespace_is_scanned_without_a_dump() {
        std::thread::spawn(|| {
            // Only this thread moves; its own /proc view is thread-self.
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
                .expect("unshare(CLONE_NEWNET): the tests run as root");
            let net = std::path::Path::new("/proc/thread-self/net");
            let mut src = LinuxSource::open().unwrap();
            src.net_dir = net.to_path_buf();
            let mut out = Vec::new();
            src.sockets(1, &mut out).unwrap();
            assert!(out.is_empty());
            assert_eq!(src.seq, 0, "no dump was sent");

            let l = TcpListener::bind("0.0.0.0:0").unwrap();
            assert_eq!(snmp::no_tcp_sockets(net), Some(false));
            src.sockets(2, &mut out).unwrap();
            assert_eq!(src.seq, 1, "one dump for both families");
            let port = l.local_addr().unwrap().port();
            assert_eq!(out.len(), 1, "{out:?}");
            assert_eq!(out[0].local.port(), port);
            assert_eq!(out[0].state, TcpState::Listen);

            // A connection closed from this side leaves a TIME_WAIT socket
            // and nothing else: still a dump, and it is in it.
            let up = std::process::Command::new("ip")
                .args(["link", "set", "lo", "up"])
                .status()
                .expect("running ip(8)");
            assert!(up.success());
            let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let (a, _) = l.accept().unwrap();
            drop(c);
            let mut buf = [0u8; 1];
            assert_eq!(std::io::Read::read(&mut &a, &mut buf).unwrap(), 0);
            drop(a);
            drop(l);
            assert_eq!(snmp::no_tcp_sockets(net), Some(false));
            out.clear();
            src.sockets(3, &mut out).unwrap();
            assert!(out.iter().any(|r| r.state == TcpState::TimeWait), "{out:?}");
        })
        .join()
        .unwrap();
    }

    /// The counting tiers' dump: the same sockets as a whole-table scan,
    /// handed on in parts far smaller than the table.
    #[test]
    fn parts_hold_every_socket_a_datagram_at_a_time() {
        std::thread::spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
                .expect("unshare(CLONE_NEWNET): the tests run as root");
            let up = std::process::Command::new("ip")
                .args(["link", "set", "lo", "up"])
                .status()
                .expect("running ip(8)");
            assert!(up.success());
            // 1,500 connections: 3,001 sockets, several datagrams' worth.
            let (soft, hard) =
                nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
            if soft < 8192 {
                nix::sys::resource::setrlimit(
                    nix::sys::resource::Resource::RLIMIT_NOFILE,
                    8192.min(hard).max(soft),
                    hard,
                )
                .unwrap();
            }
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let at = l.local_addr().unwrap();
            let mut held = Vec::new();
            for _ in 0..1500 {
                let c = TcpStream::connect(at).unwrap();
                let (a, _) = l.accept().unwrap();
                held.push((c, a));
            }
            let mut src = LinuxSource::open().unwrap();
            src.net_dir = std::path::PathBuf::from("/proc/thread-self/net");
            let mut whole = Vec::new();
            src.sockets(1, &mut whole).unwrap();
            assert_eq!(whole.len(), 3001);
            let mut seen = Vec::new();
            let mut largest = 0;
            src.sockets_in_parts(1, &mut |part| {
                largest = largest.max(part.len());
                seen.extend(part.iter().map(|r| (r.local, r.remote, r.state)));
            })
            .unwrap();
            let mut expected: Vec<_> = whole.iter().map(|r| (r.local, r.remote, r.state)).collect();
            expected.sort();
            seen.sort();
            assert_eq!(seen, expected);
            assert!(
                largest < whole.len() / 2,
                "a part held {largest} of {} sockets",
                whole.len()
            );
        })
        .join()
        .unwrap();
    }
}
