//! The replay source: the same parsers over dumps captured on a FreeBSD
//! host with `sysctl -b NAME > FILE` (or `cat /dev/tcpstats > FILE`), so a
//! host can be analysed offline. Every error names the file and the byte
//! offset.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::io::Read;

use tracing::warn;

use super::layout::{TCP_NSTATES, TCPSTAT_SIZE, XIG_COUNT, XINPGEN_SIZE, XTCPCB_SIZE};

use super::{kern_file, kinfo_proc, pcblist, tcp_states, tcpstat, tcpstats_dev};
use crate::platform::{ProcessMap, ScanStats, Source, SourceError};
use crate::record::{SocketRecord, StateCounts, TcpCounters};

/// Where the socket table was captured from.
#[derive(Clone, Debug)]
pub enum SocketsDump {
    /// `sysctl -b net.inet.tcp.pcblist`
    Pcblist(PathBuf),
    /// `cat /dev/tcpstats` (the tcpstats kernel module)
    TcpstatsDev(PathBuf),
}

/// Which dumps to read. Only the socket table is required.
#[derive(Clone, Debug)]
pub struct ReplayInputs {
    pub sockets: SocketsDump,
    /// `sysctl -b kern.file`
    pub kern_file: Option<PathBuf>,
    /// `sysctl -b kern.proc.all`
    pub kern_proc: Option<PathBuf>,
    /// `sysctl -b net.inet.tcp.stats`
    pub tcp_stats: Option<PathBuf>,
    /// `sysctl -b net.inet.tcp.states`
    pub tcp_states: Option<PathBuf>,
}

/// A dump read into memory.
struct Dump {
    path: PathBuf,
    bytes: Vec<u8>,
}

/// Largest dump read from a regular file: a pcblist of a host with a
/// million sockets is about 750 MB.
pub const MAX_DUMP_BYTES: u64 = 1 << 30;
/// Largest dump read from a pipe or device whose header declares no size.
pub const MAX_UNDECLARED_STREAM_BYTES: u64 = 64 << 20;
/// Bytes read from a pipe or device to find its declared size.
const HEAD_BYTES: u64 = 4096;

/// The size a dump's own header declares, from its first bytes; `None`
/// when the format declares none or the bytes are not such a header.
type Declared = fn(&[u8]) -> Option<u64>;
/// Where a dump read from a stream really ends, when the declared size is
/// only an upper bound.
type End = fn(&[u8]) -> Option<usize>;

/// Whether a regular file of `len` bytes may be read whole: its own
/// function so that the edge is tested without a 1 GiB file.
fn file_within_limit(len: u64) -> bool {
    len <= MAX_DUMP_BYTES
}

/// Formats whose header gives the exact size need no end finder.
fn exact(_: &[u8]) -> Option<usize> {
    None
}

/// Read a dump whose format declares no total size (the macOS replay's
/// pcblist_n and tcpstat dumps), with the same bounds as every dump here.
pub(crate) fn read_undeclared_dump(path: &Path) -> Result<Vec<u8>, SourceError> {
    Dump::read(path, |_| None, exact).map(|d| d.bytes)
}

impl Dump {
    /// Read a dump without trusting it to end: a regular file by its size
    /// (at most `MAX_DUMP_BYTES`); a pipe or device (which may never end,
    /// like `/dev/zero`) up to the size its header declares, or
    /// `MAX_UNDECLARED_STREAM_BYTES` when it declares none.
    fn read(path: &Path, declared: Declared, end: End) -> Result<Dump, SourceError> {
        let fail = |e: SourceError| SourceError::File {
            path: path.to_path_buf(),
            cause: Box::new(e),
        };
        let io = |e: std::io::Error| fail(SourceError::io("reading the dump", e));
        let too_large = |limit: u64, why: &str| {
            fail(SourceError::io(
                "reading the dump",
                std::io::Error::other(format!(
                    "it is larger than {limit} bytes ({why}); pass a captured dump file"
                )),
            ))
        };
        let file = crate::bounded_read::open_nonblocking(path).map_err(io)?;
        let md = file.metadata().map_err(io)?;
        let mut bytes = Vec::new();
        if md.is_file() {
            if !file_within_limit(md.len()) {
                return Err(too_large(MAX_DUMP_BYTES, &format!("{} bytes", md.len())));
            }
            file.take(md.len()).read_to_end(&mut bytes).map_err(io)?;
        } else {
            let mut file = file;
            (&mut file)
                .take(HEAD_BYTES)
                .read_to_end(&mut bytes)
                .map_err(io)?;
            match declared(&bytes).filter(|&n| n <= MAX_DUMP_BYTES) {
                Some(n) => {
                    let rest = n.saturating_sub(bytes.len() as u64);
                    file.take(rest).read_to_end(&mut bytes).map_err(io)?;
                    bytes.truncate(n as usize);
                    if let Some(end) = end(&bytes) {
                        bytes.truncate(end);
                    }
                }
                None => {
                    let rest = MAX_UNDECLARED_STREAM_BYTES + 1 - bytes.len() as u64;
                    file.take(rest).read_to_end(&mut bytes).map_err(io)?;
                    if bytes.len() as u64 > MAX_UNDECLARED_STREAM_BYTES {
                        return Err(too_large(
                            MAX_UNDECLARED_STREAM_BYTES,
                            "a pipe or device with no size in its header",
                        ));
                    }
                }
            }
        }
        Ok(Dump {
            path: path.to_path_buf(),
            bytes,
        })
    }

    /// Put the file name in front of a parser error.
    fn err(&self, e: SourceError) -> SourceError {
        SourceError::File {
            path: self.path.clone(),
            cause: Box::new(e),
        }
    }
}

/// A tcpstats stream: its header, then `record_count` records.
fn tcpstats_declared(head: &[u8]) -> Option<u64> {
    match tcpstats_dev::parse_header(head) {
        Ok(h) => Some(h.header_size as u64 + h.record_count as u64 * h.record_size as u64),
        Err(tcpstats_dev::TcpstatsError::CountOverrun { need, .. }) => Some(need),
        Err(_) => None,
    }
}

/// A pcblist: header, `xig_count` records (plus the slack the kernel
/// leaves for sockets opened during the walk), trailer.
fn pcblist_declared(head: &[u8]) -> Option<u64> {
    if head.len() < XINPGEN_SIZE || u64_at(head, 0) != XINPGEN_SIZE as u64 {
        return None;
    }
    let count: [u8; 4] = head
        .get(XIG_COUNT.offset..XIG_COUNT.end())?
        .try_into()
        .ok()?;
    let count = u32::from_le_bytes(count);
    let records = count as u64 + count as u64 / 8 + 16;
    Some(2 * XINPGEN_SIZE as u64 + records * XTCPCB_SIZE as u64)
}

/// Just past the trailer: records are walked by their own lengths until
/// one has the trailer's (an xinpgen's) length.
fn pcblist_end(bytes: &[u8]) -> Option<usize> {
    let mut off = XINPGEN_SIZE;
    loop {
        let len = usize::try_from(u64_at(bytes, off)).ok()?;
        if len == XINPGEN_SIZE {
            return Some(off + len).filter(|&end| end <= bytes.len());
        }
        if len == 0 {
            return None;
        }
        off = off.checked_add(len)?;
    }
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

pub struct ReplaySource {
    sockets: Dump,
    tcpstats_dev: bool,
    kern_file: Option<Dump>,
    kern_proc: Option<Dump>,
    tcp_stats: Option<Dump>,
    tcp_states: Option<Dump>,
    /// The socket table's TCP generation once it has been read; the
    /// process map joins no socket newer than it.
    generation: Option<u64>,
}

impl ReplaySource {
    /// Read every given file now, so a missing file fails before any output.
    pub fn open(inputs: &ReplayInputs) -> Result<ReplaySource, SourceError> {
        let opt = |p: &Option<PathBuf>, declared: Declared| {
            p.as_deref()
                .map(|p| Dump::read(p, declared, exact))
                .transpose()
        };
        let (sockets, tcpstats_dev) = match &inputs.sockets {
            SocketsDump::Pcblist(p) => (Dump::read(p, pcblist_declared, pcblist_end)?, false),
            SocketsDump::TcpstatsDev(p) => (Dump::read(p, tcpstats_declared, exact)?, true),
        };
        Ok(ReplaySource {
            sockets,
            tcpstats_dev,
            kern_file: opt(&inputs.kern_file, |_| None)?,
            kern_proc: opt(&inputs.kern_proc, |_| None)?,
            tcp_stats: opt(&inputs.tcp_stats, |_| Some(TCPSTAT_SIZE as u64))?,
            tcp_states: opt(&inputs.tcp_states, |_| Some(TCP_NSTATES * 8))?,
            generation: None,
        })
    }
}

impl Source for ReplaySource {
    fn name(&self) -> &'static str {
        "replay"
    }

    fn sockets(&mut self, ts: u64, out: &mut Vec<SocketRecord>) -> Result<ScanStats, SourceError> {
        let d = &self.sockets;
        if self.tcpstats_dev {
            let what = d.path.display().to_string();
            let s =
                tcpstats_dev::parse(&d.bytes, ts, out).map_err(|e| e.into_source_error(&what))?;
            if let Err(e) = s.header.require_complete() {
                warn!("{what}: {e}");
            }
            self.generation = Some(s.header.generation);
            return Ok(tcpstats_dev::scan_stats(&s));
        }
        let s = pcblist::parse(&d.bytes, pcblist::SYSCTL, ts, out).map_err(|e| d.err(e))?;
        self.generation = Some(s.header_gen);
        let inconsistent = !s.consistent();
        if inconsistent {
            warn!(
                "{}: the socket table changed while it was captured (generation {} at the \
                 start, {} at the end; {} sockets announced, {} read); it may mix two moments",
                d.path.display(),
                s.header_gen,
                s.trailer_gen,
                s.header_count,
                s.records
            );
        }
        Ok(ScanStats {
            skipped: s.skipped,
            inconsistent,
        })
    }

    fn processes(&mut self) -> Result<ProcessMap, SourceError> {
        let Some(files) = &self.kern_file else {
            return Ok(ProcessMap::new());
        };
        let owners = kern_file::parse(&files.bytes, kern_file::SYSCTL).map_err(|e| files.err(e))?;
        let mut names: HashMap<u32, Arc<str>> = HashMap::new();
        if let Some(procs) = &self.kern_proc {
            let parsed =
                kinfo_proc::parse(&procs.bytes, kinfo_proc::SYSCTL).map_err(|e| procs.err(e))?;
            names.extend(parsed);
        }
        Ok(kern_file::process_map(&owners, self.generation, |pid| {
            names.get(&pid).cloned()
        }))
    }

    fn counters(&mut self) -> Result<TcpCounters, SourceError> {
        match &self.tcp_stats {
            Some(d) => tcpstat::parse(&d.bytes, tcpstat::SYSCTL).map_err(|e| d.err(e)),
            None => Ok(TcpCounters::default()),
        }
    }

    fn state_counts(&mut self) -> Result<Option<StateCounts>, SourceError> {
        self.tcp_states
            .as_ref()
            .map(|d| tcp_states::parse(&d.bytes, tcp_states::SYSCTL).map_err(|e| d.err(e)))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::mpsc::{self, RecvTimeoutError};
    use std::time::Duration;

    fn dump(rel: &str) -> Vec<u8> {
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
    }

    /// A tcpstats stream declares its header and its records, no more and
    /// no less: a pipe is read to exactly the dump's end.
    #[test]
    fn a_file_of_exactly_the_ceiling_may_be_read() {
        assert!(file_within_limit(MAX_DUMP_BYTES));
        assert!(!file_within_limit(MAX_DUMP_BYTES + 1));
    }

    #[test]
    fn a_tcpstats_stream_declares_exactly_its_own_length() {
        let d = dump("tests/freebsd/tcpstats/normal.bin");
        let h = tcpstats_dev::parse_header(&d).unwrap();
        assert!(h.record_count > 1 && h.header_size > 1 && h.record_size > 1);
        assert_eq!(tcpstats_declared(&d), Some(d.len() as u64));
    }

    /// A pcblist read from a pipe may hold more records than its header
    /// counted (sockets opened during the walk): it is read up to room for
    /// an eighth more and 16 spare records, between its header and trailer.
    #[test]
    fn a_pcblist_declares_room_for_records_added_during_the_walk() {
        let d = dump("tests/freebsd/fixtures/pcblist.bin");
        let head = |count: u32| {
            let mut h = d[..XINPGEN_SIZE].to_vec();
            h[XIG_COUNT.offset..XIG_COUNT.end()].copy_from_slice(&count.to_le_bytes());
            h
        };
        let room = |records: u64| Some(2 * XINPGEN_SIZE as u64 + records * XTCPCB_SIZE as u64);
        assert_eq!(pcblist_declared(&head(0)), room(16));
        assert_eq!(pcblist_declared(&head(1000)), room(1000 + 125 + 16));
        // The header alone is enough; a byte less is no header.
        assert_eq!(pcblist_declared(&head(7)[..XINPGEN_SIZE - 1]), None);
        assert!(XIG_COUNT.end() < XINPGEN_SIZE);
    }

    /// A regular file is judged by its size before a byte of it is read:
    /// one byte past the ceiling is refused, and the error gives the size
    /// found (a sparse file: nothing is written to disk).
    #[test]
    fn a_file_one_byte_past_the_ceiling_is_refused_by_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("huge.bin");
        let f = std::fs::File::create(&p).unwrap();
        f.set_len(MAX_DUMP_BYTES + 1).unwrap();
        drop(f);
        let e = match Dump::read(&p, |_| None, exact) {
            Ok(d) => panic!("a file of {} bytes was read", d.bytes.len()),
            Err(e) => e.to_string(),
        };
        let size = format!(
            "larger than {MAX_DUMP_BYTES} bytes ({} bytes)",
            MAX_DUMP_BYTES + 1
        );
        assert!(e.contains(&size) && e.contains("huge.bin"), "{e}");
    }

    /// Run `read` on its own thread and wait for it at most a minute: a
    /// reader left waiting on a FIFO fails the test instead of hanging it.
    fn within_a_minute<T: Send + 'static>(read: impl FnOnce() -> T + Send + 'static) -> T {
        let limit = Duration::from_secs(60);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(read());
        });
        match rx.recv_timeout(limit) {
            Ok(v) => v,
            Err(RecvTimeoutError::Timeout) => {
                panic!("the read through the FIFO did not end within {limit:?}")
            }
            Err(RecvTimeoutError::Disconnected) => panic!("the reading thread panicked"),
        }
    }

    /// A FIFO that yields `bytes` once and then ends, as a capture piped in
    /// does. A read end is held open (without blocking) before the writer
    /// opens, so the writer's open returns at once and the FIFO already has
    /// a writer when the reader under test opens it: that reader waits for
    /// the bytes instead of seeing an end at once. The writer is a thread
    /// because a pipe holds only 64 KiB until someone reads.
    struct Feeder {
        held: std::fs::File,
        writer: std::thread::JoinHandle<std::io::Result<()>>,
    }

    impl Feeder {
        fn start(path: &Path, bytes: Vec<u8>) -> Feeder {
            use std::os::unix::fs::OpenOptionsExt;
            nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
            let held = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(path)
                .unwrap();
            // A reader is there: this open does not wait.
            let mut w = std::fs::OpenOptions::new().write(true).open(path).unwrap();
            let writer = std::thread::spawn(move || w.write_all(&bytes));
            Feeder { held, writer }
        }

        /// Let go of the held read end (so a writer still blocked on a full
        /// pipe gets EPIPE) and return whether every byte was written.
        fn finish(self) -> std::io::Result<()> {
            drop(self.held);
            self.writer.join().expect("the writer thread panicked")
        }
    }

    fn fixture_path(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
    }

    /// The replay of the pcblist fixture with the given optional dumps.
    fn inputs(kern_file: Option<PathBuf>, tcp_states: Option<PathBuf>) -> ReplayInputs {
        ReplayInputs {
            sockets: SocketsDump::Pcblist(fixture_path("tests/freebsd/fixtures/pcblist.bin")),
            kern_file,
            kern_proc: None,
            tcp_stats: None,
            tcp_states,
        }
    }

    /// A dump with no size in its header (`kern.file`) piped in is read to
    /// its end, well past the first 4 KiB read to look for a declared size.
    #[test]
    fn a_kern_file_dump_from_a_pipe_comes_through_whole() {
        let one = dump("tests/freebsd/fixtures/kern_file.bin");
        let whole: Vec<u8> = one.iter().copied().cycle().take(one.len() * 40).collect();
        assert!(whole.len() > 40 << 10);
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("kern_file.fifo");
        let feeder = Feeder::start(&fifo, whole.clone());
        let ins = inputs(Some(fifo), None);
        let mut src = within_a_minute(move || ReplaySource::open(&ins)).unwrap();
        let got = &src.kern_file.as_ref().unwrap().bytes;
        assert!(got == &whole, "{} of {} bytes read", got.len(), whole.len());
        feeder.finish().expect("every byte written");
        src.processes().expect("the repeated records parse");
    }

    /// An empty pipe (a capture that failed before writing anything) is an
    /// empty dump, read without a fuss: here an empty `kern.file`, which
    /// names no process.
    #[test]
    fn an_empty_pipe_is_an_empty_dump() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("kern_file.fifo");
        let feeder = Feeder::start(&fifo, Vec::new());
        let ins = inputs(Some(fifo), None);
        let mut src = within_a_minute(move || ReplaySource::open(&ins)).unwrap();
        feeder.finish().expect("nothing to write");
        assert!(src.kern_file.as_ref().unwrap().bytes.is_empty());
        assert!(src.processes().unwrap().is_empty());
    }

    /// A `tcp_states` dump piped in, followed by something else, is read
    /// to exactly its size (one 8-byte counter per state), no less.
    #[test]
    fn a_tcp_states_dump_from_a_pipe_is_read_to_its_size() {
        let states = dump("tests/freebsd/fixtures/tcp_states.bin");
        assert_eq!(states.len() as u64, TCP_NSTATES * 8);
        let mut piped = states.clone();
        piped.extend_from_slice(&[0xa5; 100]);
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("tcp_states.fifo");
        let feeder = Feeder::start(&fifo, piped);
        let ins = inputs(None, Some(fifo));
        let mut src = within_a_minute(move || ReplaySource::open(&ins)).unwrap();
        feeder.finish().expect("every byte written");
        assert_eq!(src.tcp_states.as_ref().unwrap().bytes, states);
        let from_file = ReplaySource::open(&inputs(
            None,
            Some(fixture_path("tests/freebsd/fixtures/tcp_states.bin")),
        ))
        .unwrap()
        .state_counts()
        .unwrap();
        assert!(from_file.is_some());
        assert_eq!(src.state_counts().unwrap(), from_file);
    }

    /// The ceiling for a pipe with no size in its header is inclusive: a
    /// stream of exactly `MAX_UNDECLARED_STREAM_BYTES` is read whole (one
    /// byte more is refused: `dev_zero_as_a_dump_is_refused_with_a_clear_error`).
    #[test]
    fn a_pipe_of_exactly_the_ceiling_is_read_whole() {
        let n = MAX_UNDECLARED_STREAM_BYTES as usize;
        let mut bytes = vec![0u8; n];
        bytes[n - 1] = 0x5a;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("big.fifo");
        let feeder = Feeder::start(&fifo, bytes);
        let path = fifo.clone();
        let got = within_a_minute(move || read_undeclared_dump(&path));
        feeder.finish().expect("every byte written");
        let got = got.expect("a pipe of exactly the ceiling is read");
        assert_eq!(got.len(), n);
        assert_eq!(got[n - 1], 0x5a);
    }

    /// Every source names itself (the agent puts the name in its
    /// build-info metric); a replay calls itself `replay`, a name no live
    /// source kind takes, so numbers from dumps are never labelled as a
    /// live host's.
    #[test]
    fn a_replay_source_is_named_replay() {
        let src = ReplaySource::open(&inputs(None, None)).unwrap();
        assert_eq!(src.name(), "replay");
        assert_eq!(crate::platform::SourceKind::from_name(src.name()), None);
    }
}
