//! Process attribution from `/proc`: every `/proc/<pid>/fd/<n>` that is a
//! socket, keyed by the socket's inode (the `idiag_inode` of the dump).
//!
//! This is the expensive half of `ss -p`, so it is kept lean: one
//! directory walk per process, one `fstatat` per descriptor (no path
//! strings, no `readlink` text to parse: a socket's `st_ino` is the inode),
//! and relative lookups from already-open directories. A process with
//! hundreds of descriptors numbered densely is not even listed: its
//! descriptors are asked for by number (`probe_dense`). Command names are
//! read only for processes that own sockets, and the shared `Arc<str>` is
//! reused while the name stays the same, so a steady host allocates
//! nothing per scan for names.
//!
//! The cache is keyed by pid and checked against the freshly read name
//! rather than trusted by pid + start time: `execve` changes the name
//! without changing either.
//!
//! Processes and descriptors vanish while we walk: that is normal and
//! silent. Anything else odd (unreadable directories, entries that are not
//! numbers, stat failures) is skipped and counted in `ProcScanStats`.

use std::collections::HashMap;
use std::ffi::CStr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, SFlag, fstat, fstatat};

use crate::platform::{ProcessInfo, ProcessMap, SourceError};

/// What the last process scan met.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcScanStats {
    /// Processes that held at least one socket.
    pub processes: u64,
    /// Socket descriptors found.
    pub sockets: u64,
    /// Entries skipped because they could not be read for a reason other
    /// than the process or descriptor going away.
    pub skipped: u64,
    /// Processes whose descriptors were found by number instead of by
    /// listing their fd directory (see `probe_dense`).
    pub probed: u64,
    /// Processes left out because the agent itself had no descriptor free
    /// (EMFILE/ENFILE): attribution is then incomplete, not just racy.
    pub out_of_descriptors: u64,
}

impl ProcScanStats {
    /// Count a failure to open something of a process: descriptor
    /// exhaustion separately, since it hides processes that exist.
    fn skip(&mut self, e: Errno) {
        self.skipped += 1;
        if matches!(e, Errno::EMFILE | Errno::ENFILE) {
            self.out_of_descriptors += 1;
        }
    }
}

/// Walks a procfs tree (normally `/proc`) and remembers command names
/// between scans.
pub struct ProcScanner {
    root: PathBuf,
    commands: HashMap<u32, Arc<str>>,
    last: ProcScanStats,
}

impl ProcScanner {
    pub fn new(root: impl Into<PathBuf>) -> ProcScanner {
        ProcScanner {
            root: root.into(),
            commands: HashMap::new(),
            last: ProcScanStats::default(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn last_stats(&self) -> ProcScanStats {
        self.last
    }

    /// One full scan: socket inode → owning process.
    pub fn scan(&mut self) -> Result<ProcessMap, SourceError> {
        let mut proc_dir = Dir::open(
            self.root.as_path(),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| {
            SourceError::io(
                format!(
                    "opening {} (process attribution needs procfs mounted there)",
                    self.root.display()
                ),
                e.into(),
            )
        })?;
        let proc_fd: OwnedFd = proc_dir
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| SourceError::io(format!("duplicating {}", self.root.display()), e))?;

        let mut map = ProcessMap::new();
        let mut stats = ProcScanStats::default();
        let mut seen: Vec<u32> = Vec::with_capacity(self.commands.len());
        let mut sockets: Vec<(u64, i32)> = Vec::new();

        for entry in proc_dir.iter() {
            let Ok(entry) = entry else {
                stats.skipped += 1;
                continue;
            };
            let name = entry.file_name();
            let Some(pid) = parse_decimal(name.to_bytes()).and_then(|p| u32::try_from(p).ok())
            else {
                continue; // not a process directory (self, net, sys, ...)
            };
            sockets.clear();
            let uid = match scan_process(&proc_fd, name, &mut sockets, &mut stats) {
                Ok(Some(uid)) => uid,
                Ok(None) => continue,
                Err(Gone) => continue,
            };
            if sockets.is_empty() {
                continue;
            }
            let Some(command) = self.command(&proc_fd, name, pid, &mut stats) else {
                continue; // exited between listing its fds and reading its name
            };
            seen.push(pid);
            stats.processes += 1;
            stats.sockets += sockets.len() as u64;
            for &(inode, fd) in &sockets {
                map.insert(
                    inode,
                    ProcessInfo {
                        pid,
                        fd,
                        uid: Some(uid),
                        command: Arc::clone(&command),
                    },
                );
            }
        }
        // Forget processes that no longer hold sockets, bounding the cache
        // by the live process count.
        seen.sort_unstable();
        self.commands
            .retain(|pid, _| seen.binary_search(pid).is_ok());
        self.last = stats;
        Ok(map)
    }

    /// The process's command name, reusing the cached `Arc` when unchanged.
    fn command(
        &mut self,
        proc_fd: &OwnedFd,
        pid_name: &CStr,
        pid: u32,
        stats: &mut ProcScanStats,
    ) -> Option<Arc<str>> {
        let mut buf = [0u8; 64];
        let n = match read_comm(proc_fd, pid_name, &mut buf) {
            Ok(n) => n,
            Err(Errno::ENOENT | Errno::ESRCH) => return None,
            Err(e) => {
                stats.skip(e);
                return None;
            }
        };
        let raw = buf.get(..n).unwrap_or(&[]);
        let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
        let name = String::from_utf8_lossy(raw);
        match self.commands.get(&pid) {
            Some(c) if **c == *name => Some(Arc::clone(c)),
            _ => {
                let c: Arc<str> = Arc::from(name.as_ref());
                self.commands.insert(pid, Arc::clone(&c));
                Some(c)
            }
        }
    }
}

/// The process went away while we looked at it.
struct Gone;

/// Collect `(inode, fd)` for every socket descriptor of one process and
/// return the process's uid (owner of `/proc/<pid>`). `Ok(None)` means the
/// process could not be read for another reason (counted).
fn scan_process(
    proc_fd: &OwnedFd,
    pid_name: &CStr,
    sockets: &mut Vec<(u64, i32)>,
    stats: &mut ProcScanStats,
) -> Result<Option<u32>, Gone> {
    let dir_flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let pid_dir = match openat(proc_fd, pid_name, dir_flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT | Errno::ESRCH) => return Err(Gone),
        Err(e) => {
            stats.skip(e);
            return Ok(None);
        }
    };
    let uid = match fstat(&pid_dir) {
        Ok(st) => st.st_uid,
        Err(_) => return Err(Gone),
    };
    let mut fd_dir = match Dir::openat(&pid_dir, c"fd", dir_flags, Mode::empty()) {
        Ok(d) => d,
        // Kernel threads have an fd directory too; a zombie has none.
        Err(Errno::ENOENT | Errno::ESRCH) => return Err(Gone),
        Err(e) => {
            stats.skip(e);
            return Ok(None);
        }
    };
    let fd_dir_fd = match fd_dir.as_fd().try_clone_to_owned() {
        Ok(fd) => fd,
        Err(e) => {
            stats.skip(Errno::from_raw(e.raw_os_error().unwrap_or(0)));
            return Ok(None);
        }
    };
    // Linux 6.2+ gives the number of open descriptors as the directory's
    // size (older kernels: 0). A process with many of them usually numbers
    // them densely from 0, so asking for 0, 1, 2, ... directly skips the
    // directory listing, about a fifth of the scan's cost.
    if let Ok(st) = fstat(&fd_dir_fd) {
        let open = u64::try_from(st.st_size).unwrap_or(0);
        if open >= PROBE_MIN_OPEN && probe_dense(&fd_dir_fd, open, sockets, stats)? {
            stats.probed += 1;
            return Ok(Some(uid));
        }
    }
    for entry in fd_dir.iter() {
        let Ok(entry) = entry else {
            // The process exited while its fd directory was read.
            return Err(Gone);
        };
        let name = entry.file_name();
        let bytes = name.to_bytes();
        if bytes == b"." || bytes == b".." {
            continue;
        }
        let Some(fd) = parse_decimal(bytes).and_then(|f| i32::try_from(f).ok()) else {
            stats.skipped += 1;
            continue;
        };
        // stat follows the magic link to the open file itself: for a socket
        // that is the sockfs inode, the same number sock_diag reports.
        match fstatat(&fd_dir_fd, name, AtFlags::empty()) {
            Ok(st) => {
                if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFSOCK {
                    sockets.push((st.st_ino, fd));
                }
            }
            Err(Errno::ENOENT | Errno::ESRCH) => {} // closed meanwhile
            Err(_) => stats.skipped += 1,
        }
    }
    Ok(Some(uid))
}

/// Processes with fewer open descriptors are listed, not probed: the
/// listing is cheap for them and their numbering is often sparse.
const PROBE_MIN_OPEN: u64 = 256;

/// Look up descriptors 0, 1, 2, ... until `open` have been found. Gives up
/// (returns `false`, nothing added) once the misses show the numbering is
/// sparse, so the caller lists the directory instead; a descriptor closed
/// while probing has the same effect, so nothing is ever left out.
fn probe_dense(
    fd_dir: &OwnedFd,
    open: u64,
    sockets: &mut Vec<(u64, i32)>,
    stats: &mut ProcScanStats,
) -> Result<bool, Gone> {
    let start = sockets.len();
    let budget = open / 8 + 64;
    let (mut found, mut misses) = (0u64, 0u64);
    let mut fd: i32 = 0;
    let mut digits = itoa::Buffer::new();
    let mut name = [0u8; 16];
    while found < open {
        let text = digits.format(fd).as_bytes();
        name[..text.len()].copy_from_slice(text);
        name[text.len()] = 0;
        let Ok(cname) = CStr::from_bytes_with_nul(&name[..=text.len()]) else {
            break;
        };
        match fstatat(fd_dir, cname, AtFlags::empty()) {
            Ok(st) => {
                found += 1;
                if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFSOCK {
                    sockets.push((st.st_ino, fd));
                }
            }
            Err(Errno::ENOENT) => misses += 1,
            Err(Errno::ESRCH) => return Err(Gone),
            Err(_) => {
                found += 1;
                stats.skipped += 1;
            }
        }
        if misses > budget || fd == i32::MAX {
            sockets.truncate(start);
            return Ok(false);
        }
        fd += 1;
    }
    Ok(found >= open)
}

/// Read `/proc/<pid>/comm` into `buf`.
fn read_comm(proc_fd: &OwnedFd, pid_name: &CStr, buf: &mut [u8]) -> Result<usize, Errno> {
    // "<pid>/comm" as a C string on the stack (pids have at most 10 digits).
    let mut path = [0u8; 32];
    let digits = pid_name.to_bytes();
    let tail = b"/comm\0";
    let total = digits.len() + tail.len();
    let dst = path.get_mut(..total).ok_or(Errno::ENAMETOOLONG)?;
    dst[..digits.len()].copy_from_slice(digits);
    dst[digits.len()..].copy_from_slice(tail);
    let path = CStr::from_bytes_with_nul(dst).map_err(|_| Errno::EINVAL)?;
    let fd = openat(
        proc_fd,
        path,
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    nix::unistd::read(&fd, buf)
}

/// A non-empty run of ASCII digits as a number; anything else is `None`.
pub fn parse_decimal(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(c - b'0');
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::symlink;

    #[test]
    fn finds_this_process_sockets_in_real_proc() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let ino = fstat(&listener).unwrap().st_ino;
        let mut scanner = ProcScanner::new("/proc");
        let map = scanner.scan().unwrap();
        let info = map.get(ino).expect("own listener attributed");
        assert_eq!(info.pid, std::process::id());
        assert_eq!(info.fd, listener.as_raw_fd());
        let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
        assert_eq!(&*info.command, comm.trim_end_matches('\n'));
        assert!(scanner.last_stats().sockets >= 1);
        // The second scan reuses the cached name.
        let again = scanner.scan().unwrap();
        assert!(Arc::ptr_eq(&again.get(ino).unwrap().command, &info.command));
    }

    /// A test double of /proc in a temporary directory: links point at a
    /// real Unix socket file, so `fstatat` sees S_IFSOCK as it would.
    #[test]
    fn odd_proc_contents_are_skipped_and_counted() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let sock_path = root.join("real.sock");
        let _l = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
        let sock_ino = std::fs::metadata(&sock_path).map(|m| {
            use std::os::unix::fs::MetadataExt;
            m.ino()
        });
        let mk = |p: &str| std::fs::create_dir_all(root.join(p)).unwrap();
        mk("self");
        mk("123"); // no fd dir: treated as gone
        mk("456/fd");
        std::fs::write(root.join("456/comm"), "fake, \"cmd\"\n").unwrap();
        symlink(&sock_path, root.join("456/fd/7")).unwrap();
        symlink("socket:[99]", root.join("456/fd/8")).unwrap(); // dangling: closed
        std::fs::write(root.join("456/fd/notanfd"), "").unwrap();
        mk("789");
        std::fs::write(root.join("789/fd"), "not a directory").unwrap();
        mk("99999999999999999999"); // not a valid pid

        let mut scanner = ProcScanner::new(root);
        let map = scanner.scan().unwrap();
        let info = map.get(sock_ino.unwrap()).expect("socket attributed");
        assert_eq!((info.pid, info.fd), (456, 7));
        assert_eq!(&*info.command, "fake, \"cmd\"");
        assert_eq!(map.len(), 1);
        let st = scanner.last_stats();
        assert_eq!((st.processes, st.sockets), (1, 1));
        assert_eq!(st.skipped, 2, "non-numeric fd name and fd that is a file");

        // A missing root is a clear error, not a panic.
        let e = ProcScanner::new(root.join("nope")).scan().unwrap_err();
        assert!(e.to_string().contains("procfs"), "{e}");
    }

    /// A child with hundreds of descriptors, numbered densely or with a
    /// wide gap: its socket is found at both of its descriptor numbers
    /// either way, by number in the dense case and by listing (after the
    /// probe gives up) in the sparse one.
    #[test]
    fn many_descriptors_dense_or_sparse() {
        use std::io::{BufRead, BufReader, Write};
        use std::process::{Command, Stdio};
        let dense = "for i in $(seq 10 299); do eval \"exec $i</dev/null\"; done";
        let sparse = "for i in $(seq 10 99) $(seq 300 560); do eval \"exec $i</dev/null\"; done";
        for (opens, sock_fd, want_probed) in [(dense, 5, 1), (sparse, 900, 0)] {
            let (mine, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
            let ino = fstat(&theirs).unwrap().st_ino;
            // The socket is the child's stdin (fd 0) and a copy of it.
            let mut child = Command::new("bash")
                .arg("-c")
                // Descriptor 900 needs a soft limit above the common 256.
                .arg(format!(
                    "ulimit -Sn 1024 2>/dev/null; {opens}; exec {sock_fd}<&0; echo ready; read x"
                ))
                .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            assert_eq!(line, "ready\n");

            let proc_dir =
                Dir::open("/proc", OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
            let proc_fd = proc_dir.as_fd().try_clone_to_owned().unwrap();
            let pid = std::ffi::CString::new(child.id().to_string()).unwrap();
            let (mut sockets, mut stats) = (Vec::new(), ProcScanStats::default());
            let scanned = scan_process(&proc_fd, &pid, &mut sockets, &mut stats);
            (&mine).write_all(b"go\n").unwrap();
            child.wait().unwrap();

            assert!(matches!(scanned, Ok(Some(_))));
            assert_eq!(stats.probed, want_probed, "{opens}");
            let mut fds: Vec<i32> = sockets
                .iter()
                .filter(|&&(i, _)| i == ino)
                .map(|&(_, fd)| fd)
                .collect();
            fds.sort_unstable();
            assert_eq!(fds, [0, sock_fd], "{opens}");
        }
    }

    #[test]
    fn decimal_names() {
        assert_eq!(parse_decimal(b"1234"), Some(1234));
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b"12a"), None);
        assert_eq!(parse_decimal(b"99999999999999999999"), None);
    }
}
