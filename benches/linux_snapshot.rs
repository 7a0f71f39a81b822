//! The snapshot benchmark: one full socket snapshot serialized as JSON, against
//! `ss -tin` (without process attribution) and `ss -tinp` (with it), on the
//! same ≥ 40,000 loopback sockets, alternating runs; plus the snapshot's
//! peak RSS. Run it with `benches/linux_snapshot.sh [--own-netns]` (see
//! README, Performance). Modes of this one binary:
//!
//! - `run [--conns N] [--holders H] [--runs R]` (default; what `cargo bench`
//!   runs): start H holder processes with N/H connections each, then
//!   alternate the four measured commands R times and print medians.
//! - `hold N SRC DST`: open N connections from SRC to a listener on DST
//!   (both ends held here), print `ready`, hold until stdin closes.
//! - `snapshot [--no-processes]`: one snapshot through the agent's own code
//!   (`collect_all` + the JSON encoder the file sinks use) to stdout;
//!   peak RSS (VmHWM) to stderr.

#[cfg(target_os = "linux")]
fn main() {
    if let Err(e) = linux::main() {
        eprintln!("linux_snapshot: {e:#}");
        std::process::exit(1);
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("linux_snapshot: this benchmark measures the Linux source; run it on Linux");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
    use std::os::fd::AsRawFd;
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    use anyhow::{Context, bail};
    use netpulse::output::Encoder;
    use netpulse::output::json::JsonEncoder;
    use netpulse::pipeline::snapshot::collect_all;
    use netpulse::platform::linux::LinuxSource;
    use netpulse::platform::{ProcessMap, ScanStats, Source, SourceError};
    use netpulse::record::{SocketRecord, TcpCounters};
    use nix::sys::resource::{UsageWho, getrusage};
    use nix::sys::socket::{
        AddressFamily, SockFlag, SockType, SockaddrIn, bind, connect, setsockopt, socket, sockopt,
    };

    pub fn main() -> anyhow::Result<()> {
        let args: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| a != "--bench")
            .collect();
        match args.first().map(String::as_str) {
            None | Some("run") => run(args.get(1..).unwrap_or(&[])),
            Some("hold") => hold(&args[1..]),
            Some("snapshot") => snapshot(args.iter().any(|a| a == "--no-processes")),
            Some(other) => bail!("unknown mode `{other}`: use run, hold or snapshot"),
        }
    }

    /// The live Linux source with process attribution switched off; every
    /// other call goes to the real source. Lets `collect_all` run the same
    /// code path as `netpulse once` minus the /proc scan.
    struct WithoutProcesses(LinuxSource);

    impl Source for WithoutProcesses {
        fn name(&self) -> &'static str {
            "linux-without-processes"
        }
        fn sockets(
            &mut self,
            ts: u64,
            out: &mut Vec<SocketRecord>,
        ) -> Result<ScanStats, SourceError> {
            self.0.sockets(ts, out)
        }
        fn processes(&mut self) -> Result<ProcessMap, SourceError> {
            Ok(ProcessMap::new())
        }
        fn counters(&mut self) -> Result<TcpCounters, SourceError> {
            self.0.counters()
        }
    }

    fn snapshot(no_processes: bool) -> anyhow::Result<()> {
        let linux = LinuxSource::open()?;
        let mut source: Box<dyn Source> = if no_processes {
            Box::new(WithoutProcesses(linux))
        } else {
            Box::new(linux)
        };
        let (batch, _) = collect_all(source.as_mut())?;
        // The file sinks' path: one encoded line at a time into a buffered
        // writer, never the whole snapshot in one buffer.
        let stdout = std::io::stdout().lock();
        let mut w = std::io::BufWriter::with_capacity(256 * 1024, stdout);
        let mut enc = JsonEncoder::new("sockets.jsonl");
        let mut err = None;
        enc.encode(&batch, &mut |_, line| {
            if err.is_none() {
                err = w.write_all(line).err();
            }
        });
        if let Some(e) = err {
            return Err(e).context("writing the snapshot");
        }
        w.flush().context("writing the snapshot")?;
        let status = std::fs::read_to_string("/proc/self/status")?;
        let hwm = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .context("VmHWM missing from /proc/self/status")?;
        eprintln!("peak_rss_kib {hwm} sockets {}", batch.sockets.len());
        Ok(())
    }

    fn hold(args: &[String]) -> anyhow::Result<()> {
        let [n, src, dst] = args else {
            bail!("usage: hold N SRC_IPV4 DST_IPV4");
        };
        let n: usize = n.parse()?;
        let src: Ipv4Addr = src.parse()?;
        let dst: Ipv4Addr = dst.parse()?;
        let listener = TcpListener::bind((dst, 0)).context("binding the listener")?;
        let std::net::SocketAddr::V4(target) = listener.local_addr()? else {
            bail!("IPv4 listener expected");
        };
        let mut held = Vec::with_capacity(2 * n);
        let mut buf = [0u8; 5];
        for i in 0..n {
            let fd = socket(
                AddressFamily::Inet,
                SockType::Stream,
                SockFlag::SOCK_CLOEXEC,
                None,
            )?;
            // A source address per holder gives each its own port space.
            bind(fd.as_raw_fd(), &SockaddrIn::from(SocketAddrV4::new(src, 0)))
                .with_context(|| format!("bind {src}, connection {i}"))?;
            connect(fd.as_raw_fd(), &SockaddrIn::from(target))
                .with_context(|| format!("connect {target}, connection {i}"))?;
            // Reset instead of FIN at exit: no 40,000 TIME_WAIT sockets left
            // behind to skew the next run.
            let abort = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            setsockopt(&fd, sockopt::Linger, &abort)?;
            let mut c = TcpStream::from(fd);
            let (mut s, _) = listener.accept()?;
            setsockopt(&s, sockopt::Linger, &abort)?;
            // A few bytes each way, so tcp_info has RTT and counters.
            c.write_all(b"hello")?;
            s.read_exact(&mut buf)?;
            s.write_all(b"world")?;
            c.read_exact(&mut buf)?;
            held.push(c);
            held.push(s);
        }
        println!("ready {}", held.len());
        std::io::stdout().flush()?;
        let mut sink = Vec::new();
        std::io::stdin().read_to_end(&mut sink)?; // until the runner exits
        drop(held);
        Ok(())
    }

    /// CPU seconds (user + system) of children reaped so far.
    fn children_cpu() -> f64 {
        let Ok(u) = getrusage(UsageWho::RUSAGE_CHILDREN) else {
            return f64::NAN;
        };
        let t = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
        t(u.user_time()) + t(u.system_time())
    }

    /// Run one command with stdout to /dev/null; its CPU seconds and stderr.
    fn measure(cmd: &mut Command) -> anyhow::Result<(f64, String)> {
        let before = children_cpu();
        let out = cmd
            .stdout(Stdio::from(std::fs::File::create("/dev/null")?))
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("running {cmd:?}"))?;
        let cpu = children_cpu() - before;
        if !out.status.success() {
            bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok((cpu, String::from_utf8_lossy(&out.stderr).into_owned()))
    }

    fn median(v: &mut [f64]) -> f64 {
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        if n == 0 {
            f64::NAN
        } else if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    }

    fn flag(args: &[String], name: &str, default: usize) -> anyhow::Result<usize> {
        match args.iter().position(|a| a == name) {
            Some(i) => Ok(args
                .get(i + 1)
                .with_context(|| format!("{name} needs a value"))?
                .parse()?),
            None => Ok(default),
        }
    }

    fn run(args: &[String]) -> anyhow::Result<()> {
        let conns = flag(args, "--conns", 20_000)?;
        let holders = flag(args, "--holders", 4)?.max(1);
        let runs = flag(args, "--runs", 7)?.max(1);
        let me = std::env::current_exe()?;

        // Hold the load: 2 descriptors per connection per holder must stay
        // under the 20,000 per-process limit.
        let per = conns.div_ceil(holders);
        if 2 * per + 64 > 20_000 {
            bail!("{per} connections per holder exceed the fd limit; use more --holders");
        }
        eprintln!("starting {holders} holders with {per} connections each");
        let mut children: Vec<Child> = Vec::new();
        for h in 0..holders {
            let child = Command::new(&me)
                .args([
                    "hold",
                    &per.to_string(),
                    &format!("127.0.1.{}", 100 + h),
                    &format!("127.0.1.{}", 10 + h),
                ])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()?;
            children.push(child);
        }
        for c in &mut children {
            let out = c.stdout.take().context("holder stdout")?;
            let mut line = String::new();
            BufReader::new(out).read_line(&mut line)?;
            if !line.starts_with("ready") {
                bail!("a holder failed to open its connections (see its error above)");
            }
        }
        std::thread::sleep(Duration::from_millis(500));

        let mut agent = [Vec::new(), Vec::new()];
        let mut ss = [Vec::new(), Vec::new()];
        // Not a target: `ss -tinm` also fetches socket memory, as the agent
        // does, so it is the like-for-like reference for (a).
        let mut ss_mem = Vec::new();
        let mut rss_kib = Vec::new();
        let mut sockets = 0usize;
        for r in 0..runs {
            for (i, procs) in [false, true].into_iter().enumerate() {
                let mut snap = Command::new(&me);
                snap.arg("snapshot");
                if !procs {
                    snap.arg("--no-processes");
                }
                let (cpu, err) = measure(&mut snap)?;
                agent[i].push(cpu);
                for w in err.split_whitespace().collect::<Vec<_>>().windows(2) {
                    match w[0] {
                        "peak_rss_kib" => rss_kib.push(w[1].parse::<f64>()?),
                        "sockets" => sockets = w[1].parse()?,
                        _ => {}
                    }
                }
                let flags = if procs { "-tinp" } else { "-tin" };
                let (cpu, _) = measure(Command::new("ss").arg(flags))?;
                ss[i].push(cpu);
            }
            ss_mem.push(measure(Command::new("ss").arg("-tinm"))?.0);
            eprintln!(
                "run {}: agent {:.3}s / ss -tin {:.3}s; agent+proc {:.3}s / ss -tinp {:.3}s",
                r + 1,
                agent[0][r],
                ss[0][r],
                agent[1][r],
                ss[1][r]
            );
        }
        for c in &mut children {
            drop(c.stdin.take());
        }
        for mut c in children {
            let _ = c.wait();
        }

        let ratios =
            |a: &[f64], b: &[f64]| -> Vec<f64> { a.iter().zip(b).map(|(x, y)| x / y).collect() };
        let mut r0 = ratios(&agent[0], &ss[0]);
        let mut r1 = ratios(&agent[1], &ss[1]);
        let peak = rss_kib.iter().copied().fold(0.0, f64::max) / 1024.0;
        println!("sockets in snapshot: {sockets}; runs: {runs} (alternating)");
        println!(
            "(a) snapshot -> JSON, no processes: median {:.3}s CPU vs ss -tin {:.3}s: ratio {:.3} (target <= 0.5)",
            median(&mut agent[0].clone()),
            median(&mut ss[0].clone()),
            median(&mut r0)
        );
        println!(
            "(b) snapshot -> JSON, with processes: median {:.3}s CPU vs ss -tinp {:.3}s: ratio {:.3} (target <= 0.25)",
            median(&mut agent[1].clone()),
            median(&mut ss[1].clone()),
            median(&mut r1)
        );
        let mut rm = ratios(&agent[0], &ss_mem);
        println!(
            "    like-for-like: ss -tinm (with socket memory) median {:.3}s: ratio {:.3}",
            median(&mut ss_mem.clone()),
            median(&mut rm)
        );
        println!("(c) peak RSS of a snapshot: {peak:.1} MiB (target <= 64 MiB)");
        Ok(())
    }
}
